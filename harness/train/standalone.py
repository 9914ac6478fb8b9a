"""Ground truth by stand-alone training: one architecture at a time, resumable, in the GT schema.

`<out>/<name>.runs.jsonl` holds one line per finished (architecture, seed); a killed job skips them
when restarted. `<out>/<name>.csv` (the table) and `<out>/<name>.json` (recipe, exact command,
package version, git commit) are rewritten atomically after every architecture.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from harness.benchmarks.base import make_frame
from harness.benchmarks.generated import table_statistics
from harness.data import DataConfig, load_split, make_loader
from harness.errors import HarnessError
from harness.io import atomic_write_csv, atomic_write_json, dumps_strict, sha256_of
from harness.nets import NetConfig, build_standalone
from harness.progress import Progress
from harness.spaces import Arch, SearchSpace, get_space
from harness.train.config import provenance


@dataclass(frozen=True)
class StandaloneRecipe:
    """How each stand-alone network is trained and measured (final-epoch test accuracy)."""

    dataset: str = "fashion-mnist"
    data_root: str | None = None
    subset: int | None = 10000
    test_subset: int | None = None
    resize: int | None = None
    width_mult: float = 0.5
    net_options: dict = field(default_factory=dict)
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    augment: bool = False
    threads: int | None = None


def stratified_archs(space: SearchSpace, n: int, seed: int) -> list[Arch]:
    """n distinct networks spread evenly over strata of 'how many positions are not choice 0'.

    Choice 0 is identity / none / no-pool, so the strata run from the smallest to the largest
    networks; each stratum contributes about n / n_strata networks, drawn with the seed.
    """
    rng = np.random.default_rng([seed, 0x57A7])
    strata: dict[int, list[Arch]] = {}
    for arch in space.distinct():
        strata.setdefault(sum(1 for a in arch if a != 0), []).append(arch)
    levels = sorted(strata)
    picked: list[Arch] = []
    remaining = n
    for i, level in enumerate(levels):
        share = int(np.ceil(remaining / (len(levels) - i)))
        pool = strata[level]
        take = min(share, len(pool))
        picked += [pool[j] for j in sorted(rng.choice(len(pool), size=take, replace=False))]
        remaining -= take
    return picked


def train_one(space_name: str, arch: Arch, seed: int, recipe: StandaloneRecipe, ncfg: NetConfig,
              train_set, test_set) -> dict:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_standalone(space_name, arch, ncfg)
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        model.train()
        generator = torch.Generator().manual_seed(hash((seed, epoch)) & 0x7FFF_FFFF)
        for x, y in make_loader(train_set, recipe.batch_size, shuffle=True, generator=generator,
                                drop_last=True):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            if not torch.isfinite(loss):
                raise HarnessError(f"stand-alone training of {get_space(space_name).key(arch)} "
                                   f"diverged (seed {seed}); lower the learning rate")
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for x, y in make_loader(test_set, 1000, shuffle=False, generator=torch.Generator()):
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
    return {"accuracy": 100.0 * correct / seen, "params": n_params,
            "seconds": round(time.perf_counter() - started, 2)}


def read_runs(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    runs = []
    for line in path.read_text().splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # cut by a kill: that run is trained again
    return runs


def aggregate(runs: list[dict], recipe: StandaloneRecipe) -> pd.DataFrame:
    frame = pd.DataFrame(runs)
    grouped = frame.groupby("key", sort=True)
    table = make_frame(
        {
            "key": list(grouped.groups),
            "accuracy": grouped["accuracy"].mean().to_list(),
            "accuracy_std": grouped["accuracy"].std(ddof=1).fillna(0.0).to_list(),
            "n_seeds": grouped["accuracy"].count().to_list(),
            "params": grouped["params"].first().to_list(),
        },
        dataset=recipe.dataset,
        split="test",
        epochs=recipe.epochs,
    )
    return table


def gt_train(space_name: str, archs: list[Arch], seeds: list[int], recipe: StandaloneRecipe,
             out_dir: Path, name: str, command: str, progress: bool = True) -> pd.DataFrame:
    space = get_space(space_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_path = out_dir / f"{name}.runs.jsonl"
    recipe_path = out_dir / f"{name}.json"
    record = {"name": name, "space": space_name, "command": command,
              "recipe": dataclasses.asdict(recipe), "seeds": seeds,
              "archs": [space.key(a) for a in archs], **provenance()}
    if recipe_path.is_file():
        previous = json.loads(recipe_path.read_text())
        if previous.get("recipe") != record["recipe"]:
            raise HarnessError(f"{recipe_path}: holds runs of another recipe; use a new --out or name")
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    data = DataConfig(name=recipe.dataset, root=recipe.data_root, subset=recipe.subset,
                      test_subset=recipe.test_subset, resize=recipe.resize, augment=recipe.augment)
    channels, size, _ = data.input_shape
    ncfg = NetConfig(in_channels=channels, num_classes=data.num_classes, input_size=size,
                     width_mult=recipe.width_mult, **recipe.net_options)
    train_set = load_split(data, "train", 0)
    test_set = load_split(data, "test", 0)
    done = {(r["key"], r["seed"]) for r in read_runs(runs_path)}
    todo = [(a, s) for a in archs for s in seeds if (space.key(a), s) not in done]
    bar = Progress(len(archs) * len(seeds), f"gt train {name}", enabled=progress,
                   initial=len(archs) * len(seeds) - len(todo))

    def write_table(complete: bool) -> pd.DataFrame:
        # The table, then its record (row count, sha256, reliability so far): a table read at
        # any moment of a long job is consistent with its record.
        runs = read_runs(runs_path)
        if not runs:
            raise HarnessError(f"{runs_path}: no finished runs")
        table = aggregate(runs, recipe)
        atomic_write_csv(out_dir / f"{name}.csv", table)
        stats = table_statistics(runs_path)
        atomic_write_json(recipe_path, {**record, "complete": complete, "n_rows": int(len(table)),
                                        "csv_sha256": sha256_of(out_dir / f"{name}.csv"),
                                        "statistics": stats})
        return table

    if read_runs(runs_path):
        write_table(complete=not todo)  # the new command and seeds, still a loadable table
    else:
        atomic_write_json(recipe_path, record)
    for index, (arch, seed) in enumerate(todo):
        result = train_one(space_name, arch, seed, recipe, ncfg, train_set, test_set)
        line = {"key": space.key(arch), "seed": seed, **result}
        with open(runs_path, "a") as handle:
            handle.write(dumps_strict(line, indent=None) + "\n")
        write_table(complete=index == len(todo) - 1)
        bar.update(1, key=line["key"], acc=f"{result['accuracy']:.2f}")
    bar.close()
    table = write_table(complete=True)
    return table
