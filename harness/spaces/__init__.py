"""Search spaces: every module here registers its space in `SPACES` (loaded on first lookup)."""

from harness.spaces.base import SPACES, Arch, SearchSpace, get_space, register_space

__all__ = ["SPACES", "Arch", "SearchSpace", "get_space", "register_space"]
