"""Search spaces: import registers them all."""

from harness.spaces import (  # noqa: F401
    formats,  # noqa: F401  (after the spaces its formats read)
    mobilenet,
    nb201,
    nb_macro,
    pooling,
)
from harness.spaces.base import SPACES, Arch, SearchSpace, get_space, register_space

__all__ = ["SPACES", "Arch", "SearchSpace", "get_space", "register_space"]
