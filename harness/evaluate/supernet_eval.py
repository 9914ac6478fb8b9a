"""Evaluate a trained supernet on many architectures: batched, cached per architecture, resumable.

Output CSV columns: key, supernet_accuracy (%), loss. Equivalent codes are the same network, so
each distinct network is evaluated once (its canonical code's path); with `--archs all` every code
gets its class's numbers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.io import atomic_write_csv, check_writable, dumps_strict, sha256_of
from harness.nets.batchnorm import BN_MODES, bn_mode, recalibrate_bn  # noqa: F401  (re-exported)
from harness.progress import Progress
from harness.rundir import RunDir
from harness.spaces import Arch, SearchSpace, get_space
from harness.spaces.formats import resolve_keys
from harness.tablefile import read_table
from harness.train.trained import TrainedRun


def resolve_archs(space: SearchSpace, spec: str, seed: int = 0,
                  key_format: str = "auto") -> list[Arch]:
    """'all' | 'distinct' | 'sample:N' (N distinct, seeded) | a file of keys (a table with a
    'key' column, or a .txt file of keys, one per line) read in `key_format`."""
    if spec in ("all", "distinct"):
        if not space.enumerable:
            raise HarnessError(f"space '{space.name}' is not enumerable; use --archs sample:N or a file")
        return list(space.enumerate()) if spec == "all" else list(space.distinct())
    if spec.startswith("sample:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise HarnessError(f"--archs {spec!r}: N in sample:N must be an integer") from None
        if n < 1:
            raise HarnessError(f"--archs {spec!r}: N must be at least 1")
        rng = np.random.default_rng([seed, 0xE7A1])
        picked: dict[Arch, None] = {}
        limit = space.n_distinct if space.enumerable else None
        if limit is not None and n > limit:
            raise HarnessError(f"--archs {spec!r}: the space has only {limit} distinct networks")
        while len(picked) < n:
            picked.setdefault(space.canonical(space.sample(rng)), None)
        return list(picked)
    path = Path(spec)
    if not path.is_file():
        raise HarnessError(f"--archs {spec!r}: not 'all', 'distinct', 'sample:N' or an existing file")
    what = ("a table with a 'key' column (CSV, TSV, JSON, JSON lines, gzip) or a .txt file of "
            "keys, one per line")
    if path.suffix in ("", ".txt"):
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
            if b"\0" in raw:
                raise UnicodeDecodeError("utf-8", raw[:1], 0, 1, "NUL byte")
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HarnessError(f"{path}: not a text file; --archs needs {what}") from None
        except OSError as exc:
            raise HarnessError(f"{path}: cannot read ({exc.strerror or exc}); --archs needs "
                               f"{what}") from None
        keys = [line.strip() for line in text.splitlines()
                if line.strip() and not line.startswith("#")]
    else:
        frame = read_table(path, "file of architecture keys")
        if "key" not in frame.columns:
            raise HarnessError(f"{path}: needs a 'key' column (found {list(frame.columns)[:8]}); "
                               f"--archs needs {what}")
        keys = frame["key"].dropna().tolist()
    if not keys:
        raise HarnessError(f"{path}: no architecture keys in the file")
    return resolve_keys(keys, space.name, key_format, str(path))


def _arch_outputs(model, arch: Arch, batches: list, bn_eval: str, recal_batches: list | None,
                  device):
    """(logits, labels) of one architecture on each batch, under the BN mode; the model's BN
    statistics are restored after a recalibration."""
    if bn_eval == "recalibrate":
        state = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
        recalibrate_bn(model, arch, recal_batches or [], device)
    try:
        with bn_mode(model, "running" if bn_eval == "recalibrate" else bn_eval):
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                yield model(x, arch).float(), y
    finally:
        if bn_eval == "recalibrate":
            model.load_state_dict(state, strict=False)


@torch.no_grad()
def evaluate_archs(model, archs: list[Arch], batches: list, bn_eval: str = "batch",
                   recal_batches: list | None = None, device="cpu", progress: bool = False,
                   on_result=None) -> list[dict]:
    """Accuracy (%) and mean loss of each architecture over `batches` (a fixed list of (x, y))."""
    results = []
    bar = Progress(len(archs), "evaluate", enabled=progress)
    for arch in archs:
        correct, loss_sum, seen = 0, 0.0, 0
        for logits, y in _arch_outputs(model, arch, batches, bn_eval, recal_batches, device):
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        row = {"arch": arch, "supernet_accuracy": 100.0 * correct / seen, "loss": loss_sum / seen}
        results.append(row)
        if on_result is not None:
            on_result(row)
        bar.update(1)
    bar.close()
    return results


@torch.no_grad()
def correct_per_image(model, archs: list[Arch], batches: list, bn_eval: str = "batch",
                      recal_batches: list | None = None, device="cpu",
                      progress: bool = False) -> np.ndarray:
    """Whether each architecture classifies each image right: bool [architecture, image], in the
    order of `batches`. Any set of images' accuracy is read off it (noise studies); over the
    same batches its row means equal `evaluate_archs`'s accuracies."""
    rows = []
    bar = Progress(len(archs), "score images", enabled=progress)
    for arch in archs:
        hits = [(logits.argmax(1) == y).cpu().numpy()
                for logits, y in _arch_outputs(model, arch, batches, bn_eval, recal_batches,
                                               device)]
        rows.append(np.concatenate(hits))
        bar.update(1)
    bar.close()
    return np.stack(rows).astype(bool)


def evaluate_run(run_dir: str | Path, archs: str | list[Arch] = "distinct", out: str | Path | None = None,
                 bn_eval: str | None = None, split: str | None = None, seed: int = 0,
                 progress: bool = True, allow_unfinished: bool = False,
                 key_format: str = "auto") -> pd.DataFrame:
    """Score architectures with the run's last checkpoint (or its averaged last epochs, as its
    config says); cached per (checkpoint, eval config). A file of `archs` is read in
    `key_format`.

    Holds the run directory's lock; refuses a run whose checkpoint does not belong to its config,
    or an unfinished run unless `allow_unfinished`."""
    rd = RunDir(run_dir)
    if out is not None:
        check_writable(out)  # before minutes of scoring
    with rd.lock():
        run = TrainedRun.open(rd, allow_unfinished=allow_unfinished)
        cfg = run.cfg
        space = get_space(cfg.space)
        wanted = resolve_archs(space, archs, seed, key_format) if isinstance(archs, str) \
            else list(archs)
        bn_eval = bn_eval or cfg.bn_eval
        if bn_eval not in BN_MODES:
            raise HarnessError(f"unknown BN evaluation mode '{bn_eval}'; use {', '.join(BN_MODES)}")
        split = split or cfg.eval_split
        cache_path, cache = eval_cache(run, bn_eval, split)

        distinct = list(dict.fromkeys(space.canonical(a) for a in wanted))
        todo = [a for a in distinct if space.key(a) not in cache]
        if todo:
            model, batches, recal, device = load_for_evaluation(run, split, bn_eval)
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(cache_path, "a") as handle:
                def store(row):
                    record = {"key": space.key(row["arch"]),
                              "supernet_accuracy": row["supernet_accuracy"], "loss": row["loss"]}
                    handle.write(dumps_strict(record, indent=None) + "\n")
                    handle.flush()
                    cache[record["key"]] = record

                evaluate_archs(model, todo, batches, bn_eval, recal, device, progress, store)
        rows = []
        for arch in wanted:
            record = cache[space.key(space.canonical(arch))]
            rows.append({"key": space.key(arch), "supernet_accuracy": record["supernet_accuracy"],
                         "loss": record["loss"]})
        frame = pd.DataFrame(rows).drop_duplicates("key")
        frame.attrs["finished"] = run.finished
        frame.attrs["epochs_done"] = run.epochs_done
        frame.attrs["epochs"] = cfg.epochs
        if out is not None:
            atomic_write_csv(out, frame)
        return frame


def load_for_evaluation(run: TrainedRun, split: str | None = None, bn_eval: str | None = None):
    """(supernet with the last checkpoint, fixed evaluation batches, recalibration batches, device)."""
    cfg = run.cfg
    split = split or cfg.eval_split
    device = run.device()
    model = run.scored_supernet(device)
    batches = run.batches(split, cfg.eval_batch_size, cfg.eval_images)
    recal = None
    if (bn_eval or cfg.bn_eval) == "recalibrate":
        recal = run.batches("supernet-train", cfg.batch_size, None, shuffle=True,
                            max_batches=cfg.bn_recalibration_batches)
    return model, batches, recal, device


def eval_cache(run: TrainedRun, bn_eval: str | None = None,
               split: str | None = None) -> tuple[Path, dict[str, dict]]:
    """The run's evaluation cache for its last checkpoint under this evaluation config:
    (its path, canonical key -> {"key", "supernet_accuracy", "loss"}); empty when none yet.

    The id covers everything the scores depend on (checkpoint hash, BN mode, split, batches), so a
    score read from it equals what `evaluate_archs` computes on `load_for_evaluation`'s batches."""
    cfg = run.cfg
    identity = {"ckpt": sha256_of(run.checkpoint_path), "bn": bn_eval or cfg.bn_eval,
                "split": split or cfg.eval_split, "recal": cfg.bn_recalibration_batches,
                "batch": cfg.eval_batch_size, "images": cfg.eval_images}
    if cfg.eval_average_epochs:  # only when set: earlier caches keep their names
        identity["average_epochs"] = cfg.eval_average_epochs
    eval_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    path = run.rundir.eval_cache_path(eval_id)
    return path, read_cache(path)


def read_cache(path: Path) -> dict[str, dict]:
    cache: dict[str, dict] = {}
    if not path.is_file():
        return cache
    fix = "delete it and the scores are computed again"
    try:
        lines = [line for line in path.read_bytes().decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: the evaluation cache is not text; {fix}") from None
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and line.lstrip().startswith("{"):
                continue  # the last line, cut by a kill: evaluated again
            record = None
        if not (isinstance(record, dict) and isinstance(record.get("key"), str)
                and isinstance(record.get("supernet_accuracy"), (int, float))):
            raise HarnessError(f"{path}: line {number} is not an evaluation record; the cache is "
                               f"corrupt: {fix}")
        cache[record["key"]] = record
    return cache
