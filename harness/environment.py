"""The environment a number was computed in: what decides its last bits.

Two runs of the same config on the same fingerprint are bit-identical (the runner is
deterministic); on another fingerprint only the distribution over seeds reproduces. `check`
reads the fingerprint to choose between an exact comparison and a statistical one.

Plain data and the standard library, plus numpy and torch for their versions; it imports nothing
of the harness.
"""

from __future__ import annotations

import hashlib
import json
import platform
from functools import lru_cache

# The fields that decide floating-point results; anything else (hostname, paths) is left out so
# that two machines of one kind share a fingerprint.
FIELDS = ("torch", "numpy", "blas", "cpu_model", "cpu_flags", "threads", "device")


@lru_cache(maxsize=1)
def _cpu() -> tuple[str, str]:
    """(model name, sha256 of the sorted CPU flags) from /proc/cpuinfo, else platform's."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == (platform.processor() or platform.machine()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return model, hashlib.sha256(flags.encode()).hexdigest()[:16] if flags else ""


@lru_cache(maxsize=1)
def _blas() -> str:
    """torch's BLAS, LAPACK, MKL, oneDNN, OpenMP and CPU-capability lines
    (torch.__config__.show()), without the long compiler settings."""
    import re

    import torch

    text = torch.__config__.show()
    parts = [line.strip(" -") for line in text.splitlines()
             if re.search(r"MKL|OpenMP|CPU capability|OpenBLAS", line)
             and "Build settings" not in line]
    parts += re.findall(r"(?:BLAS_INFO|LAPACK_INFO)=[^,]*", text)
    return "; ".join(dict.fromkeys(p for p in parts if p))


def fingerprint(threads: int | None = None, device: str = "cpu") -> dict:
    """This process's fingerprint; `threads` defaults to torch's current intra-op threads."""
    import numpy
    import torch

    model, flags = _cpu()
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"cuda:{torch.cuda.get_device_name()}"
    return {"torch": torch.__version__, "numpy": numpy.__version__, "blas": _blas(),
            "cpu_model": model, "cpu_flags": flags,
            "threads": int(threads if threads is not None else torch.get_num_threads()),
            "device": device}


def fingerprint_id(record: dict | None) -> str | None:
    """A short id of a fingerprint (None for none, or one missing a field)."""
    if not record or any(k not in record for k in FIELDS):
        return None
    text = json.dumps({k: record[k] for k in FIELDS}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def differences(a: dict | None, b: dict | None) -> list[str]:
    """'field: a -> b' for every field in which two fingerprints differ."""
    a, b = a or {}, b or {}
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in FIELDS if a.get(k) != b.get(k)]


def absent_device(name: str | None) -> str | None:
    """A one-line refusal when `name` asks for a GPU this machine plainly has none of (no
    NVIDIA or ROCm device node), decided without importing torch, so a command refuses it at
    once; None otherwise (torch then has the last word, in the trainer's checks)."""
    import glob
    import os

    if not name or not name.startswith("cuda"):
        return None
    if glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd") \
            or os.path.exists("/proc/driver/nvidia/version"):
        return None
    return f"device '{name}' requested but CUDA is not available; pass --device cpu"
