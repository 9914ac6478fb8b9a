"""Atomic checkpoints holding everything a resumed run needs to equal an uninterrupted one."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from harness.errors import DataFileError
from harness.io import atomic_torch_save


def _numpy_state_plain() -> dict:
    # Plain lists and ints so that checkpoints load with weights_only=True.
    state = np.random.get_state(legacy=False)
    return {**state, "state": {"key": state["state"]["key"].tolist(), "pos": int(state["state"]["pos"])}}


def rng_states() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_plain(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_states(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {"key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32),
                            "pos": numpy_state["state"]["pos"]}
    np.random.set_state(numpy_state)
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, **payload) -> Path:
    payload["rng"] = rng_states()
    return atomic_torch_save(path, payload)


def _not_a_checkpoint(path: Path, why: str) -> DataFileError:
    # torch's own messages are long and advise weights_only=False, which would unpickle (and so
    # run) whatever the file holds: never repeated here.
    return DataFileError(f"{path}: not a harness checkpoint ({why}); delete it and retrain the run "
                         "(nas-harness train ... without --resume, or --resume after deleting it)")


def load_checkpoint(path: Path) -> dict:
    """The checkpoint's payload, loaded with weights_only=True (plain tensors and Python values).

    A file that torch cannot read, or whose pickle holds anything beyond tensors and plain values,
    is refused in one line: it is not a checkpoint the harness wrote.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no checkpoint; train the run first (nas-harness train ...)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            why = "it holds Python objects beyond tensors and plain values, which are not loaded"
        else:
            why = "unreadable: not a torch file"
        raise _not_a_checkpoint(path, why) from None
    except MemoryError:
        raise
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the checkpoint "
                            f"({exc.strerror or exc.__class__.__name__}); check the file and its "
                            "permissions, or delete it and retrain the run") from None
    except Exception as exc:  # noqa: BLE001 - any other failure of torch.load: a damaged file
        raise _not_a_checkpoint(path, f"unreadable: {exc.__class__.__name__}") from None
    if not isinstance(state, dict) or "rng" not in state:
        found = type(state).__name__ if not isinstance(state, dict) else "a dict without 'rng'"
        raise _not_a_checkpoint(path, f"it holds {found}")
    return state
