"""The run directory: the only code that knows its layout.

    config.json                resolved config, its hash, package version, git commit
    log.jsonl                  one JSON line per epoch (and per logged event)
    checkpoints/last.pt        atomic, written at the end of every epoch
    snapshots/epoch_XXXX.json  what the sampler recorded at an epoch boundary
    audit.json                 the sampler audit (realised draws against the design)
    done.json                  written when the last epoch finished
    eval/<id>.jsonl            the evaluation cache, one line per architecture
    pred.csv, result.json      a reproduction's predictions and scored result
    .lock                      held (flock) by the one process working on the run

Train, evaluate, audit, reports and `runs list` all go through `RunDir`; no other module spells a
file name inside a run. `RunDir` stores plain data (dicts, lists); what a config means is the
trainer's business.

Locking: `RunDir.lock()` takes an exclusive, non-blocking `fcntl.flock` on `.lock` and writes the
holder's pid into it. A second process gets `RunDirLocked` ("in use by pid N"). The OS drops the
lock when the holder exits or is killed, so a stale lock never needs cleaning up.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import DataFileError, HarnessError
from harness.io import atomic_write_bytes, atomic_write_json, dumps_strict

# Run directories whose lock this process holds (flock conflicts between two descriptors of one
# process, so nested users must not lock twice).
_HELD: set[str] = set()


class RunDirLocked(HarnessError):
    """Another process holds the run directory's lock."""

    def __init__(self, path: Path, pid: int | None):
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"run directory {path} is in use by {who}; wait for it to finish "
                         "or stop it, then rerun")


def _text_lines(path: Path, what: str) -> list[str]:
    """The file's non-empty lines; one line of error when it is not UTF-8 text."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: the {what} is not text; the file is corrupt: delete the run "
                           "directory and retrain") from None
    return [line for line in text.splitlines() if line.strip()]


def _read_json(path: Path, what: str) -> Any:
    try:
        if path.suffix == ".gz":
            return json.loads(gzip.decompress(path.read_bytes()).decode())
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataFileError(f"{path}: no {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataFileError(f"{path}: unreadable {what} ({exc.__class__.__name__}); delete the "
                            "file or the run directory and rerun") from None


class RunDir:
    """One supernet run's folder. Paths, typed readers and writers, and the lock."""

    CONFIG = "config.json"
    LOG = "log.jsonl"
    CHECKPOINT = Path("checkpoints") / "last.pt"
    SNAPSHOTS = "snapshots"
    AUDIT = "audit.json"
    DONE = "done.json"
    EVAL = "eval"
    PREDICTIONS = "pred.csv"
    RESULT = "result.json"
    LOCK = ".lock"
    # The small files that say what a run did (archived beside reports; checkpoints are not).
    SMALL_FILES = (CONFIG, LOG, AUDIT, DONE, PREDICTIONS, RESULT)

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ paths

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def log_path(self) -> Path:
        return self.path / self.LOG

    @property
    def checkpoint_path(self) -> Path:
        return self.path / self.CHECKPOINT

    def epoch_checkpoint_path(self, epoch: int) -> Path:
        """A kept checkpoint of one epoch (RunConfig.keep_checkpoints)."""
        return self.checkpoint_path.parent / f"epoch_{epoch:04d}.pt"

    def kept_epochs(self) -> list[int]:
        """The epochs whose checkpoint is kept here, in order."""
        found = self.checkpoint_path.parent.glob("epoch_*.pt")
        return sorted(int(p.stem.removeprefix("epoch_")) for p in found)

    @property
    def snapshot_dir(self) -> Path:
        return self.path / self.SNAPSHOTS

    def snapshot_path(self, epoch: int) -> Path:
        """epoch -1 is the state before training (epoch_-001.json sorts first)."""
        return self.snapshot_dir / f"epoch_{epoch:04d}.json"

    @property
    def audit_path(self) -> Path:
        return self.path / self.AUDIT

    @property
    def done_path(self) -> Path:
        return self.path / self.DONE

    def eval_cache_path(self, eval_id: str) -> Path:
        return self.path / self.EVAL / f"{eval_id}.jsonl"

    def image_scores_path(self, eval_id: str) -> Path:
        """Per-image correctness of every architecture under one evaluation (noise studies)."""
        return self.path / self.EVAL / f"images-{eval_id}.npz"

    def write_image_scores(self, eval_id: str, correct, keys: list[str], seconds: float) -> None:
        import io as _io

        import numpy as np

        buffer = _io.BytesIO()
        np.savez_compressed(buffer, correct=np.packbits(correct, axis=1),
                            n_images=correct.shape[1], keys=np.asarray(keys), seconds=seconds)
        atomic_write_bytes(self.image_scores_path(eval_id), buffer.getvalue())

    def read_image_scores(self, eval_id: str) -> tuple | None:
        """(correct [architecture, image], keys, seconds it took), or None when not scored."""
        import numpy as np

        path = self.image_scores_path(eval_id)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            n = int(data["n_images"])
            correct = np.unpackbits(data["correct"], axis=1, count=n).astype(bool)
            return correct, [str(k) for k in data["keys"]], float(data["seconds"])

    @property
    def predictions_path(self) -> Path:
        return self.path / self.PREDICTIONS

    @property
    def result_path(self) -> Path:
        return self.path / self.RESULT

    # ------------------------------------------------------------------ state

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def is_done(self) -> bool:
        return self.done_path.is_file()

    def holder_pid(self) -> int | None:
        """The pid that holds the lock now, or None when the run is free."""
        path = self.path / self.LOCK
        if not path.is_file():
            return None
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                handle.seek(0)
                text = handle.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def state(self) -> str:
        """done | partial | empty | locked (a process is working on it now)."""
        if self.holder_pid() is not None:
            return "locked"
        if self.is_done():
            return "done"
        return "partial" if self.has_config() else "empty"

    # ------------------------------------------------------------------ lock

    @contextmanager
    def lock(self) -> Iterator[RunDir]:
        """Hold the run's exclusive lock for the block; RunDirLocked when another process has it.

        Re-entrant within the process (a nested block on the same directory, e.g. `reproduce`
        calling `train`, reuses the lock; the outermost block releases it)."""
        key = str(self.path.resolve())
        if key in _HELD:
            yield self
            return
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / self.LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            text = handle.read().strip()
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise RunDirLocked(self.path, int(text) if text.isdigit() else None) from None
            raise
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            _HELD.add(key)
            yield self
        finally:
            _HELD.discard(key)
            try:
                handle.seek(0)
                handle.truncate()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()

    # ------------------------------------------------------------------ browsing

    @classmethod
    def find(cls, root: str | os.PathLike) -> list[RunDir]:
        """Every run directory (a folder with config.json) under `root`, sorted by path."""
        root = Path(root)
        if not root.is_dir():
            raise HarnessError(f"{root}: no such runs folder; pass --runs-dir")
        return [cls(p.parent) for p in sorted(root.rglob(cls.CONFIG))
                if not any(part.startswith(".") for part in p.relative_to(root).parts)]

    def summary(self) -> dict:
        """What `runs list` shows: space, sampler, seed, state, epochs done, key metric."""
        try:
            record = self.read_config()
        except HarnessError as exc:
            return {"run": str(self.path), "state": "broken", "error": str(exc)}
        config = record["config"]
        epochs = [r["epoch"] for r in self.read_log() if "epoch" in r and "event" not in r]
        result = self.read_result() or {}
        metric = (result.get("metrics") or {}).get("kendall_tau") or {}
        audit = result.get("audit") or {}
        return {"run": str(self.path), "space": config.get("space"),
                "sampler": config.get("sampler"), "seed": config.get("seed"),
                "profile": config.get("profile"), "config_hash": record.get("config_hash"),
                "state": self.state(), "epoch": (max(epochs) + 1) if epochs else 0,
                "epochs": config.get("epochs"), "benchmark": result.get("benchmark"),
                "kendall_tau": metric.get("value"),
                "tests_debiasing": audit.get("tests_debiasing")}

    # ------------------------------------------------------------------ config

    def write_config(self, record: dict) -> None:
        atomic_write_json(self.config_path, record)

    def read_config(self) -> dict:
        """The config record ({"config": {...}, "config_hash": ..., provenance})."""
        if not self.has_config():
            raise HarnessError(f"{self.config_path}: not a run directory (no {self.CONFIG}); "
                               "train one with nas-harness train")
        record = _read_json(self.config_path, "run config")
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise DataFileError(f"{self.config_path}: malformed run config; delete the run "
                                "directory and retrain")
        return record

    # ------------------------------------------------------------------ log

    def append_log(self, record: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as handle:
            handle.write(dumps_strict(record, indent=None) + "\n")
            handle.flush()

    def read_log(self) -> list[dict]:
        if not self.log_path.is_file():
            return []
        out = []
        lines = _text_lines(self.log_path, "training log")
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines) and line.lstrip().startswith("{"):
                    continue  # the last line, cut by a kill
                record = None
            if not isinstance(record, dict):
                raise HarnessError(f"{self.log_path}: line {number} is not a log record; the log "
                                   "is corrupt: delete the run directory and retrain")
            out.append(record)
        return out

    def truncate_log(self, after_epoch: int | None) -> None:
        """Keep log lines of epochs <= after_epoch (None: drop every line)."""
        if not self.log_path.is_file():
            return
        kept = [] if after_epoch is None else [
            dumps_strict(r, indent=None) for r in self.read_log()
            if r.get("epoch", -1) <= after_epoch]
        atomic_write_bytes(self.log_path, "".join(line + "\n" for line in kept).encode())

    # ------------------------------------------------------------------ snapshots

    def write_snapshot(self, epoch: int, snapshot: dict) -> None:
        atomic_write_json(self.snapshot_path(epoch), snapshot)

    def snapshot_files(self) -> list[Path]:
        """Snapshot files in epoch order (plain or gzip-compressed archives)."""
        if not self.snapshot_dir.is_dir():
            return []
        files = list(self.snapshot_dir.glob("epoch_*.json")) + \
            list(self.snapshot_dir.glob("epoch_*.json.gz"))
        return sorted(files, key=lambda p: int(p.name.split(".")[0].split("_")[1]))

    def snapshots(self) -> list[dict]:
        return [_read_json(path, "snapshot") for path in self.snapshot_files()]

    def remove_snapshots_after(self, epoch: int | None) -> None:
        """Delete snapshots of epochs after `epoch` (None: all), e.g. on a restart."""
        for path in self.snapshot_files():
            number = int(path.name.split(".")[0].split("_")[1])
            if epoch is None or number > epoch:
                path.unlink()

    # ------------------------------------------------------------------ audit, done, result

    def write_audit(self, audit: dict) -> None:
        atomic_write_json(self.audit_path, audit)

    def read_audit(self) -> dict | None:
        return _read_json(self.audit_path, "audit") if self.audit_path.is_file() else None

    def write_done(self, record: dict) -> None:
        atomic_write_json(self.done_path, record)

    def read_done(self) -> dict | None:
        return _read_json(self.done_path, "done marker") if self.is_done() else None

    def clear_done(self) -> None:
        self.done_path.unlink(missing_ok=True)

    def read_predictions(self):
        """pred.csv as a DataFrame (keys as text); None when the run has not been evaluated."""
        import pandas as pd

        if not self.predictions_path.is_file():
            return None
        try:
            return pd.read_csv(self.predictions_path, dtype={"key": str})
        except (ValueError, UnicodeDecodeError, OSError) as exc:  # pandas' parser errors too
            raise DataFileError(f"{self.predictions_path}: unreadable predictions "
                                f"({exc.__class__.__name__}); evaluate the run again") from None

    def write_result(self, result: dict) -> None:
        atomic_write_json(self.result_path, result)

    def read_result(self) -> dict | None:
        """The scored result, or None when absent or unreadable (then it is scored again)."""
        if not self.result_path.is_file():
            return None
        try:
            return _read_json(self.result_path, "result")
        except DataFileError:
            return None


class FollowerRunDir(RunDir):
    """The run directory as a data-parallel rank other than 0 sees it: it reads the config and
    checkpoints, and every write is a no-op (rank 0 alone writes, through its RunDir)."""

    WRITES = ("write_config", "append_log", "truncate_log", "write_snapshot",
              "remove_snapshots_after", "write_audit", "write_done", "clear_done", "write_result")

    @contextmanager
    def lock(self) -> Iterator[RunDir]:  # rank 0 holds the lock for the job
        yield self


def _no_write(self, *args, **kwargs) -> None:
    return None


for _name in FollowerRunDir.WRITES:
    setattr(FollowerRunDir, _name, _no_write)
