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

from harness.errors import ArchKeyError, HarnessError
from harness.io import atomic_write_csv, sha256_of
from harness.nets.batchnorm import BN_MODES, bn_mode, recalibrate_bn  # noqa: F401  (re-exported)
from harness.spaces import Arch, SearchSpace, get_space


def resolve_archs(space: SearchSpace, spec: str, seed: int = 0) -> list[Arch]:
    """'all' | 'distinct' | 'sample:N' (N distinct, seeded) | a file of keys (CSV 'key' column or lines)."""
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
    text = path.read_text()
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"key": str})
        if "key" not in frame.columns:
            raise HarnessError(f"{path}: needs a 'key' column")
        keys = frame["key"].tolist()
    else:
        keys = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not keys:
        raise HarnessError(f"{path}: no architecture keys in the file")
    archs = []
    for key in keys:
        try:
            archs.append(space.parse(str(key)))
        except ArchKeyError as exc:
            raise ArchKeyError(f"{path}: {exc}") from None
    return archs


@torch.no_grad()
def evaluate_archs(model, archs: list[Arch], batches: list, bn_eval: str = "batch",
                   recal_batches: list | None = None, device="cpu", progress: bool = False,
                   on_result=None) -> list[dict]:
    """Accuracy (%) and mean loss of each architecture over `batches` (a fixed list of (x, y))."""
    results = []
    iterator = archs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(archs, desc="evaluate", leave=False, disable=None)
    for arch in iterator:
        if bn_eval == "recalibrate":
            state = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
            recalibrate_bn(model, arch, recal_batches or [], device)
        correct, loss_sum, seen = 0, 0.0, 0
        with bn_mode(model, "running" if bn_eval == "recalibrate" else bn_eval):
            for x, y in batches:
                x, y = x.to(device), y.to(device)
                logits = model(x, arch).float()
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
        if bn_eval == "recalibrate":
            model.load_state_dict(state, strict=False)
        row = {"arch": arch, "supernet_accuracy": 100.0 * correct / seen, "loss": loss_sum / seen}
        results.append(row)
        if on_result is not None:
            on_result(row)
    return results


def evaluate_run(run_dir: str | Path, archs: str | list[Arch] = "distinct", out: str | Path | None = None,
                 bn_eval: str | None = None, split: str | None = None, seed: int = 0,
                 progress: bool = True) -> pd.DataFrame:
    """Score architectures with the run's last checkpoint; cached per (checkpoint, eval config)."""
    from harness.train.runner import read_config

    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    if not (run_dir / "done.json").is_file():
        raise HarnessError(f"{run_dir}: the run has not finished; resume it with nas-harness train "
                           "--resume before evaluating")
    space = get_space(cfg.space)
    wanted = resolve_archs(space, archs, seed) if isinstance(archs, str) else list(archs)
    bn_eval = bn_eval or cfg.bn_eval
    split = split or cfg.eval_split
    ckpt = run_dir / "checkpoints" / "last.pt"
    eval_id = hashlib.sha256(json.dumps(
        {"ckpt": sha256_of(ckpt), "bn": bn_eval, "split": split,
         "recal": cfg.bn_recalibration_batches, "batch": cfg.eval_batch_size,
         "images": cfg.eval_images}, sort_keys=True,
    ).encode()).hexdigest()[:12]
    cache_path = run_dir / "eval" / f"{eval_id}.jsonl"
    cache = read_cache(cache_path)

    distinct = list(dict.fromkeys(space.canonical(a) for a in wanted))
    todo = [a for a in distinct if space.key(a) not in cache]
    if todo:
        model, batches, recal, device = load_for_evaluation(run_dir, split, bn_eval)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with open(cache_path, "a") as handle:
            def store(row):
                record = {"key": space.key(row["arch"]), "supernet_accuracy": row["supernet_accuracy"],
                          "loss": row["loss"]}
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                cache[record["key"]] = record

            evaluate_archs(model, todo, batches, bn_eval, recal, device, progress, store)
    rows = []
    for arch in wanted:
        record = cache[space.key(space.canonical(arch))]
        rows.append({"key": space.key(arch), "supernet_accuracy": record["supernet_accuracy"],
                     "loss": record["loss"]})
    frame = pd.DataFrame(rows).drop_duplicates("key")
    if out is not None:
        atomic_write_csv(out, frame)
    return frame


def load_for_evaluation(run_dir: Path, split: str | None = None, bn_eval: str | None = None):
    """(supernet with the last checkpoint, fixed evaluation batches, recalibration batches, device)."""
    from harness.data import load_split, make_loader
    from harness.train.checkpoint import load_checkpoint
    from harness.train.runner import read_config
    from harness.train.setup import data_config, init_supernet, net_config, resolve_device

    cfg = read_config(run_dir)
    split = split or cfg.eval_split
    device = resolve_device(cfg.device)
    data = data_config(cfg)
    model = init_supernet(cfg.space, net_config(cfg, data), cfg.seed).to(device)
    model.load_state_dict(load_checkpoint(Path(run_dir) / "checkpoints" / "last.pt")["model"])
    eval_set = load_split(data, split, cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    batches = list(make_loader(eval_set, cfg.eval_batch_size, shuffle=False, generator=generator))
    if cfg.eval_images is not None:
        batches, budget = [], cfg.eval_images
        for x, y in make_loader(eval_set, cfg.eval_batch_size, shuffle=False, generator=generator):
            if budget <= 0:
                break
            batches.append((x[:budget], y[:budget]))
            budget -= len(y)
    recal = None
    if (bn_eval or cfg.bn_eval) == "recalibrate":
        train_set = load_split(data, "supernet-train", cfg.seed)
        loader = make_loader(train_set, cfg.batch_size, shuffle=True, generator=generator)
        recal = [b for _, b in zip(range(cfg.bn_recalibration_batches), loader)]
    return model, batches, recal, device


def read_cache(path: Path) -> dict[str, dict]:
    cache: dict[str, dict] = {}
    if not path.is_file():
        return cache
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: evaluated again
        cache[record["key"]] = record
    return cache
