"""A small name -> factory registry filled by decorators, as timm does for models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from harness.errors import UnknownNameError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (factories, classes or values); `kind` names what it holds in errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    @contextmanager
    def swapped(self, name: str, obj: T) -> Iterator[T]:
        """Within the block, `name` holds `obj` (a test's stand-in); the old entry comes back."""
        missing = object()
        previous = self._items.get(name, missing)
        self._items[name] = obj
        try:
            yield obj
        finally:
            if previous is missing:
                del self._items[name]
            else:
                self._items[name] = previous

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}; known: {known}"
            ) from None

    def names(self, sort: bool = True) -> list[str]:
        """Registered names, sorted, or in registration order (`sort=False`)."""
        return sorted(self._items) if sort else list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
