"""Atomic writes and checksums: every file the harness writes appears whole or not at all.

Each write goes to a temporary file in the target's folder, is flushed to disk, is given the mode
a new file gets under the process umask (``tempfile.mkstemp`` alone would leave 0600) and is then
renamed over the target. When a write fails, the temporary file is removed, and so is every folder
the write created, so a failed command leaves neither a half-written file nor an empty folder.
An OSError on the way (permission denied, a full disk, a file where a folder should be) becomes a
:class:`~harness.errors.WriteError` naming the path and what to do.

JSON written here is strict: NaN and infinities become null (:func:`json_safe`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from harness.errors import WriteError

# ---------------------------------------------------------------- strict JSON



def user_cache_dir() -> Path:
    """The harness's per-user cache (platformdirs: `$XDG_CACHE_HOME/nas-harness`, by default
    `~/.cache/nas-harness` on Linux, the platform's own place elsewhere)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("nas-harness", appauthor=False))

def json_safe(obj):
    """`obj` with every NaN or infinity replaced by None, so the JSON is strict.

    Recurses into dicts, lists and tuples; numpy floating scalars count as floats.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    numpy = sys.modules.get("numpy")  # never imported here just for this check
    if numpy is not None and isinstance(obj, numpy.floating) and not numpy.isfinite(obj):
        return None
    return obj


def dumps_strict(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """JSON text of `obj` without NaN or Infinity (null instead); unknown objects as str."""
    return json.dumps(json_safe(obj), indent=indent, sort_keys=sort_keys, default=str,
                      allow_nan=False)


# ---------------------------------------------------------------- umask and write errors

_UMASK_LOCK = threading.Lock()
_umask: int | None = None


def _read_umask() -> int:
    # Linux (>= 4.7) reports the umask without changing it; elsewhere it can only be read by
    # setting it, which is done once, under a lock, and restored at once.
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def current_umask() -> int:
    """The process umask, read once and cached."""
    global _umask
    if _umask is None:
        with _UMASK_LOCK:
            if _umask is None:
                _umask = _read_umask()
    return _umask


def new_file_mode() -> int:
    """The mode `open(path, 'w')` would give a new file: 0o666 less the umask."""
    return 0o666 & ~current_umask()


def write_error(path: str | os.PathLike, exc: OSError, what: str = "write") -> WriteError:
    """A one-line WriteError for an OSError met while writing `path`: what went wrong, what to do."""
    path = Path(path)
    reason = exc.strerror or exc.__class__.__name__
    where = ""
    if exc.filename and str(exc.filename) != str(path):
        shown = Path(os.fsdecode(exc.filename))
        # The temporary file's own name means nothing to the user: name its folder.
        where = f" ({shown.parent if shown.name.startswith('.' + path.name + '.') else shown})"
    code = exc.errno
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        fix = "choose a folder you can write to (e.g. --out in your home or working folder) or fix its permissions"
    elif code == errno.EROFS:
        fix = "the file system is read-only: choose another folder"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        fix = "the disk is full: free some space or choose another folder"
    elif isinstance(exc, IsADirectoryError):
        fix = "that path is a folder: name a file inside it instead"
    elif isinstance(exc, (NotADirectoryError, FileExistsError)):
        fix = "a file stands where a folder of that path should be: choose another path"
    elif code == errno.ENAMETOOLONG:
        fix = "the name is too long: choose a shorter path"
    else:
        fix = "check the path and that its folder can be written"
    return WriteError(f"cannot {what} {path}: {reason}{where}; {fix}")


def _missing_ancestors(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, deepest first."""
    missing = []
    current = folder
    while not current.exists() and not current.is_symlink():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty; stop at the first that is not."""
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            break


def make_folder(folder: str | os.PathLike) -> list[Path]:
    """Create `folder` (and its parents); return the folders created, deepest first.

    An OSError becomes a WriteError, and the folders made before it are removed again.
    """
    folder = Path(folder)
    created = _missing_ancestors(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_empty_folders(created)
        raise write_error(folder, exc, "create the folder") from None
    if not folder.is_dir():
        raise WriteError(f"cannot create the folder {folder}: a file of that name is in the way; "
                         "choose another path")
    return created


def check_writable(path: str | os.PathLike, is_folder: bool = False) -> None:
    """Refuse early a path that cannot be written: touches nothing.

    Looks at the nearest existing ancestor: it must be a folder the process may write into; the
    target itself, when it exists, must be a file (a folder when `is_folder`).
    """
    path = Path(path)
    if path.exists():
        if is_folder and not path.is_dir():
            raise WriteError(f"cannot write into {path}: it is a file, not a folder; choose another path")
        if not is_folder and path.is_dir():
            raise WriteError(f"cannot write {path}: it is a folder; name a file inside it instead")
        target_dir = path if is_folder else path.parent
    else:
        target_dir = path.parent
    existing = target_dir
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise WriteError(f"cannot write {path}: {existing} is a file, not a folder; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WriteError(f"cannot write {path}: {existing} is not writable; choose a folder you can "
                         "write to or fix its permissions")


# ---------------------------------------------------------------- atomic writes


def _atomic(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    path = Path(path)
    created = make_folder(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        remove_empty_folders(created)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise
    return path


def atomic_write_with(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Atomically write `path` with `write(handle)` (e.g. matplotlib's savefig)."""
    return _atomic(Path(path), write)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return _atomic(Path(path), lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Strict JSON (NaN and infinities as null), keys sorted, indented."""
    return atomic_write_text(path, dumps_strict(obj, indent=2, sort_keys=True) + "\n")


def atomic_write_csv(path: str | os.PathLike, frame) -> Path:
    """Write a pandas DataFrame as CSV, atomically."""
    return atomic_write_text(path, frame.to_csv(index=False))


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    return _atomic(Path(path), lambda handle: torch.save(obj, handle))


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
