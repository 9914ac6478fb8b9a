"""Search spaces: import registers them all."""

from harness.spaces import mobilenet, nb201, nb_macro, pooling  # noqa: F401
from harness.spaces.base import SPACES, Arch, SearchSpace, get_space, register_space

__all__ = ["SPACES", "Arch", "SearchSpace", "get_space", "register_space"]
