"""Atomic checkpoints holding everything a resumed run needs to equal an uninterrupted one."""

from __future__ import annotations

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


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise DataFileError(f"{path}: no checkpoint; train the run first (nas-harness train ...)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise DataFileError(f"{path}: unreadable checkpoint ({exc.__class__.__name__}); "
                            "delete it to restart the run") from None
