"""Where a run's Kendall tau moves, and what cutting each part costs: `nas-harness noise`.

The study trains the profile's uniform run of a benchmark for several seeds, and beside each one
a rerun whose initial weights differ by one unit in the last place (what another machine's
rounding does to a run). Every checkpoint is scored once per image of the whole
supernet-validation split, under each evaluation option, so any set of images can be read off
afterwards. From these:

- evaluation noise: one checkpoint scored on disjoint sets of evaluation images;
- trajectory noise: the same seed retrained after a last-bit perturbation;
- seed noise: the rest of the spread between seeds;

as variance components of a balanced nested design (harness.analysis.variance), each with a
95% interval, and for each evaluation option the CPU hours a paired comparison needs to detect a
difference of 0.05 with 80% power.

Runs are cached and resumable like `reproduce`'s: the base runs are Table 3's uniform runs (same
config hash), so they are shared with it. The study's own files live under `<runs_root>/<profile>/`
(run directories) and its per-image scores in each run's `eval/` folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.benchmarks.base import BENCHMARKS
from harness.errors import HarnessError
from harness.experiments.noise_options import EVAL_OPTIONS
from harness.experiments.runs import run_dir_for
from harness.experiments.spec import RunSpec, run
from harness.profiles import get_profile
from harness.rundir import RunDir, RunDirLocked
from harness.train.config import profile_overrides

# Evaluation options measured on every checkpoint of the full-length runs (noise_options);
# "average" averages the last AVERAGE_EPOCHS epochs.
AVERAGE_EPOCHS = 8


@dataclass(frozen=True)
class NoiseDesign:
    """A balanced nested design: seeds x perturbations (0 = the run itself) x image sets."""

    benchmark: str
    profile: str
    space: str
    seeds: tuple[int, ...]
    perturbations: tuple[int, ...] = (0, 1)
    short_fraction: float | None = 0.5  # also train runs this fraction as long (None: no)
    options: tuple[str, ...] = EVAL_OPTIONS

    def specs(self, short: bool = False) -> list[RunSpec]:
        base = profile_overrides(self.profile, self.space)
        epochs, warmup = int(base["epochs"]), int(base.get("warmup_epochs", 0))
        overrides: dict = {}
        if short:
            if not self.short_fraction:
                return []
            epochs = max(2, int(round(epochs * self.short_fraction)))
            warmup = int(round(warmup * self.short_fraction))
            overrides = {"epochs": epochs, "warmup_epochs": warmup}
            if base.get("eval_average_epochs"):  # average as many of the shorter run's epochs
                overrides["eval_average_epochs"] = average_epochs(short)
        keep = tuple(sorted({*([warmup - 2] if warmup >= 2 else []),
                             *range(max(0, epochs - average_epochs(short)), epochs)}))
        out = []
        for seed in self.seeds:
            for k in self.perturbations:
                options = {**overrides, "keep_checkpoints": keep}
                if k:
                    options["init_perturbation"] = k
                out.append(run(self.profile, self.space, "uniform", seed,
                               f"{self.space}/uniform", **options))
        return out

    def all_specs(self) -> list[RunSpec]:
        return self.specs() + self.specs(short=True)


def average_epochs(short: bool) -> int:
    return AVERAGE_EPOCHS // 2 if short else AVERAGE_EPOCHS


def design_for(benchmark: str, profile: str, seeds: tuple[int, ...] | None = None,
               short_fraction: float | None = 0.5,
               options: tuple[str, ...] = EVAL_OPTIONS) -> NoiseDesign:
    """The study of `benchmark` under `profile` (its space from the benchmark registry)."""
    spec = BENCHMARKS.get(benchmark)
    paired = get_profile(profile).paired_seeds(spec.space)
    if seeds is None:  # Table 3's paired seeds (its uniform runs are the base runs), at least 4
        seeds = tuple(range(max(4, len(paired))))
    if len(seeds) < 2:
        raise HarnessError("--seeds: the seed part of the noise needs at least 2 seeds")
    return NoiseDesign(benchmark, profile, spec.space, tuple(seeds),
                       short_fraction=short_fraction, options=tuple(options))


@dataclass
class TrainLedger:
    """What training the design's runs cost in this process (seconds of wall and CPU time)."""

    trained: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0


def train_specs(specs: list[RunSpec], runs_root: Path, progress: bool = False, log=print,
                poll_seconds: float = 10.0) -> TrainLedger:
    """Train (or resume) every run that is not done. A run locked by another process (a second
    `noise` or `reproduce` side by side) is come back to later."""
    from harness.train.runner import train_run

    ledger = TrainLedger()
    queue = list(specs)
    total = len(queue)
    while queue:
        waiting = []
        for spec in queue:
            run_dir = run_dir_for(spec, runs_root)
            rd = RunDir(run_dir)
            if rd.is_done():
                continue
            try:
                wall, cpu = time.perf_counter(), time.process_time()
                log(f"noise: train {spec.label} seed {spec.config.seed} perturbation "
                    f"{spec.config.init_perturbation} epochs {spec.config.epochs} "
                    f"({total - len(queue) + len(waiting) + 1} of {total}) -> {run_dir}")
                train_run(spec.config, run_dir, resume=rd.has_config(), progress=progress)
                ledger.trained.append(str(run_dir))
                ledger.wall_seconds += time.perf_counter() - wall
                ledger.cpu_seconds += time.process_time() - cpu
            except RunDirLocked as exc:
                log(f"noise: {run_dir.name} locked by pid {exc.pid}; coming back to it later")
                waiting.append(spec)
        if waiting and len(waiting) == len(queue):
            time.sleep(poll_seconds)
        queue = waiting
    return ledger


# ---------------------------------------------------------------- scoring every image


def _option_eval_id(trained, option: str, average_over: int) -> str:
    import hashlib
    import json

    from harness.io import sha256_of

    cfg = trained.cfg
    return hashlib.sha256(json.dumps(
        {"ckpt": sha256_of(trained.checkpoint_path), "option": option, "split": cfg.eval_split,
         "recal": cfg.bn_recalibration_batches, "batch": cfg.eval_batch_size,
         "average": average_over if option == "average" else None}, sort_keys=True,
    ).encode()).hexdigest()[:12]


def _tracks_running_stats(model) -> bool:
    from harness.nets.batchnorm import batchnorms

    return all(m.running_mean is not None for m in batchnorms(model))


def _with_running_stats(trained):
    """The run's supernet with BatchNorm layers that hold running statistics (to be
    recalibrated per architecture): training is the same with or without them, since train-mode
    BatchNorm normalises by the batch either way."""
    from harness.train.setup import data_config, init_supernet, net_config

    cfg = trained.cfg.replace(net_options={**trained.cfg.net_options,
                                           "bn_track_running_stats": True})
    model = init_supernet(cfg.space, net_config(cfg, data_config(cfg)), cfg.seed)
    missing, unexpected = model.load_state_dict(trained.state["model"], strict=False)
    if unexpected or any("running" not in k and "num_batches" not in k for k in missing):
        raise HarnessError(f"{trained.rundir.path}: its weights do not fit a supernet with running "
                           "BatchNorm statistics")
    return model.to(trained.device())


def score_images(run_dir: Path, archs: list, option: str, average_over: int = AVERAGE_EPOCHS,
                 progress: bool = False) -> tuple:
    """(correct [architecture, image] over the whole evaluation split, keys, seconds), cached in
    the run directory: each checkpoint is scored once per option."""
    from harness.evaluate.supernet_eval import correct_per_image
    from harness.spaces import get_space
    from harness.train.trained import TrainedRun

    rd = RunDir(run_dir)
    with rd.lock():
        trained = TrainedRun.open(rd)
        eval_id = _option_eval_id(trained, option, average_over)
        cached = rd.read_image_scores(eval_id)
        if cached is not None:
            return cached
        space = get_space(trained.cfg.space)
        started = time.process_time()
        bn_eval = "batch" if option == "average" else option
        model = trained.supernet()
        if bn_eval in ("recalibrate", "running") and not _tracks_running_stats(model):
            if bn_eval == "running":
                raise HarnessError(f"{rd.path}: its BatchNorm tracks no running statistics, so "
                                   "there is no 'running' mode to score")
            model = _with_running_stats(trained)
        if option == "average":
            model.load_state_dict(trained.averaged_state(average_over))
        cfg = trained.cfg
        batches = trained.batches(cfg.eval_split, cfg.eval_batch_size, None)
        recal = None
        if bn_eval == "recalibrate":
            recal = trained.batches("supernet-train", cfg.batch_size, None, shuffle=True,
                                max_batches=cfg.bn_recalibration_batches)
        correct = correct_per_image(model, archs, batches, bn_eval, recal, trained.device(),
                                    progress)
        seconds = time.process_time() - started
        keys = [space.key(a) for a in archs]
        rd.write_image_scores(eval_id, correct, keys, seconds)
        return correct, keys, seconds


# ---------------------------------------------------------------- the study

EFFECT = 0.05  # the figure of merit: CPU hours per detectable 0.05 Kendall


def train_cpu_seconds(run_dir: Path) -> float:
    """Seconds the run's epochs took (its log): wall time of a one-thread run, which is its CPU
    time only when it had a core to itself."""
    return float(sum(r.get("seconds") or 0.0 for r in RunDir(run_dir).read_log()))


def epoch_seconds(run_dirs: list[Path]) -> float:
    """CPU seconds of one epoch: the lower decile of the runs' epoch wall times times their
    threads, i.e. the cost of an epoch that had its cores to itself. Runs that shared the cores
    with more processes than cores have longer wall times, not more CPU time."""
    import numpy as np

    times = [r["seconds"] * _threads(d) for d in run_dirs for r in RunDir(d).read_log()
             if r.get("seconds")]
    return float(np.percentile(times, 10)) if times else float("nan")


def _threads(run_dir: Path) -> int:
    """The torch threads a run trained with (its environment record; 1 when unknown): a run on
    k threads holds k cores for its wall time."""
    record = RunDir(run_dir).read_config()
    return int((record.get("environment") or {}).get("threads")
               or record["config"].get("num_threads") or 1)


def _kendall(correct, keys: list[str], images: slice, truth) -> float:
    import pandas as pd

    from harness.analysis.correlate import correlate

    scores = pd.DataFrame({"key": keys, "score": 100.0 * correct[:, images].mean(axis=1)})
    result = correlate(scores, truth, networks="distinct", metrics=["kendall_tau"],
                       n_resamples=0)
    return float(result.metrics["kendall_tau"].value)


def figure_of_merit(within: dict, cost_hours: float, effect: float = EFFECT) -> dict:
    """Paired SD (two runs sharing a seed differ by trajectory and evaluation noise), the pairs
    that detect `effect` with 80% power (two-sided paired t at 0.05), and what they cost in CPU
    hours for both arms; each with the interval that the variance's interval gives."""
    import math

    from harness.analysis.power import seeds_needed

    out = {}
    for suffix, variance in (("", within["variance"]), ("_low", within["variance_low"]),
                             ("_high", within["variance_high"])):
        sd = math.sqrt(2.0 * variance) if variance is not None and variance > 0 else 0.0
        n = seeds_needed(effect, sd) if sd > 0 else 2
        out[f"paired_sd{suffix}"] = sd
        out[f"pairs{suffix}"] = n
        out[f"cpu_hours{suffix}"] = None if n is None else 2 * n * cost_hours
    return out


def analyse(design: NoiseDesign, runs_root: Path, data_dir=None, progress: bool = False,
            log=print) -> dict:
    """Score every checkpoint of the design (cached) and decompose the noise of its Kendall."""
    import numpy as np

    from harness.analysis.scoring import benchmark_archs
    from harness.analysis.variance import nested_components
    from harness.benchmarks import load_benchmark
    from harness.spaces import get_space

    truth = load_benchmark(design.benchmark, data_dir)
    archs = benchmark_archs(truth, get_space(design.space))
    sections, runs, spent = [], [], {"train_seconds": 0.0, "score_seconds": 0.0,
                                     "train_wall_seconds": 0.0}
    skipped: list[dict] = []
    for short in (False, True):
        specs = design.specs(short)
        if not specs:
            continue
        grid = {(s.config.seed, s.config.init_perturbation): s for s in specs}
        cfg = specs[0].config
        # what the profile's runs are scored with: the section that says "default"
        default_option = "average" if cfg.eval_average_epochs else cfg.bn_eval
        if cfg.eval_average_epochs and cfg.eval_average_epochs != average_epochs(short):
            raise HarnessError(f"the profile averages {cfg.eval_average_epochs} epochs; the study "
                               f"measures {average_epochs(short)}")
        per_epoch = epoch_seconds([run_dir_for(s, runs_root) for s in specs])
        mean_train = per_epoch * cfg.epochs
        spent["train_seconds"] += mean_train * len(specs)
        spent["train_wall_seconds"] += sum(train_cpu_seconds(run_dir_for(s, runs_root))
                                           for s in specs)
        # The profile's own option is always scored: every other option is read against it.
        full_options = tuple(dict.fromkeys((*design.options, default_option)))
        for option in (full_options if not short else ("batch",)):
            scored = {}
            try:
                for key, spec in grid.items():
                    log(f"noise: score {spec.run_name} ({option})")
                    scored[key] = score_images(run_dir_for(spec, runs_root), archs, option,
                                               average_epochs(short), progress)
            except HarnessError as exc:  # e.g. no running statistics to score with
                skipped.append({"runs": "short" if short else "full", "option": option,
                                "reason": str(exc)})
                continue
            spent["score_seconds"] += sum(v[2] for v in scored.values())
            total_images = next(iter(scored.values()))[0].shape[1]
            keys = next(iter(scored.values()))[1]
            score_s = float(np.mean([v[2] for v in scored.values()]))
            set_size = min(cfg.eval_images or total_images, total_images)
            sizes = [set_size, total_images]
            if option == "batch" and set_size // 2 >= 1:
                sizes.insert(0, set_size // 2)  # how evaluation noise scales with images
            for images in dict.fromkeys(sizes):
                c = total_images // images
                y = np.array([[[_kendall(scored[(seed, k)][0], keys,
                                         slice(j * images, (j + 1) * images), truth)
                                for j in range(c)] for k in design.perturbations]
                              for seed in design.seeds])
                components = {name: comp.to_dict() for name, comp in
                              nested_components(y).items()}
                cost = (mean_train + score_s * images / total_images) / 3600.0
                sections.append({
                    "runs": "short" if short else "full", "epochs": cfg.epochs,
                    "option": option, "images": images, "image_sets": c,
                    "default": (not short and option == default_option
                                and images == set_size),
                    "kendall_mean": float(y.mean()),
                    "kendall": y.round(5).tolist(),
                    "components": components,
                    "cost_per_run_hours": cost,
                    "train_seconds_per_run": mean_train, "epoch_seconds": per_epoch,
                    "score_seconds_per_run": score_s * images / total_images,
                    **figure_of_merit(components["within_seed"], cost)})
        runs += [str(run_dir_for(s, runs_root)) for s in specs]
    return {"benchmark": design.benchmark, "profile": design.profile, "space": design.space,
            "effect": EFFECT, "seeds": list(design.seeds),
            "perturbations": list(design.perturbations),
            "short_fraction": design.short_fraction,
            "cpu_hours": {"train": spent["train_seconds"] / 3600,
                          "score": spent["score_seconds"] / 3600,
                          "total": (spent["train_seconds"] + spent["score_seconds"]) / 3600,
                          "train_wall_core_hours": spent["train_wall_seconds"] / 3600,
                          "how": "training: epochs x the lower decile of the runs' epoch wall "
                                 "times x their threads (an epoch with its cores to itself); "
                                 "scoring: process CPU time"},
            "sections": sections, "skipped": skipped, "runs": runs}


def write_reproduction(design: NoiseDesign, runs_root: Path, option: str, out_dir: Path,
                       data_dir=None) -> dict:
    """The study's unperturbed full-length runs (Table 3's uniform runs, trained here) scored
    under `option` on the profile's evaluation images, written as a reproduction folder
    (summary.json, runs.json, environment.json) that `nas-harness check` reads: e.g. the same
    runs under the wrong BatchNorm mode, to see the check fail."""
    import numpy as np

    from harness.analysis.scoring import benchmark_archs
    from harness.benchmarks import load_benchmark
    from harness.experiments.reproduce import write_results_folder
    from harness.spaces import get_space

    truth = load_benchmark(design.benchmark, data_dir)
    archs = benchmark_archs(truth, get_space(design.space))
    specs = [s for s in design.specs() if s.config.init_perturbation == 0]
    values, runs = [], []
    for spec in specs:
        run_dir = run_dir_for(spec, runs_root)
        correct, keys, _ = score_images(run_dir, archs, option)
        images = min(spec.config.eval_images or correct.shape[1], correct.shape[1])
        values.append(_kendall(correct, keys, slice(0, images), truth))
        runs.append({"label": spec.label, "seed": spec.config.seed, "profile": design.profile,
                     "run_dir": str(run_dir), "config_hash": spec.config.hash(),
                     "evaluation": option})
    key = f"table3/{design.benchmark}/uniform/kendall"
    summary = {key: {"value": float(np.mean(values)), "n_seeds": len(values),
                     "seeds": [s.config.seed for s in specs], "per_seed": values,
                     "higher_is_better": True, "evaluation": option}}
    write_results_folder(out_dir, summary, runs)
    return summary


# ---------------------------------------------------------------- the density's own noise


def density_reliability(design: NoiseDesign, runs_root: Path, ks: tuple[int, ...] = (1, 2, 4),
                        max_seeds: int | None = None, log=print) -> dict:
    """How reliable the debiased sampler's densities are at its first recompute, for probes of
    k batches: on each seed's checkpoint at the end of warm-up (its kept fork point), the
    densities of two disjoint k-batch probes, Spearman-correlated (the reliability of a k-batch
    probe, no correction needed), with the recompute's CPU seconds and its share of a debiased
    run's training time at the profile's recompute schedule."""
    import numpy as np
    import scipy.stats
    import torch
    import torch.nn.functional as F

    from harness.samplers import EpochContext, build_sampler
    from harness.spaces import get_space
    from harness.train.checkpoint import load_checkpoint
    from harness.train.trained import TrainedRun

    specs = [s for s in design.specs() if s.config.init_perturbation == 0]
    specs = specs[:max_seeds] if max_seeds else specs
    per_k: dict[int, list[float]] = {k: [] for k in ks}
    batch_seconds, recomputes, images = [], None, None
    # CPU seconds of a training epoch, from every base run's log (read once)
    per_epoch = epoch_seconds([run_dir_for(s, runs_root) for s in specs])
    train_seconds = []
    for spec in specs:
        run_dir = run_dir_for(spec, runs_root)
        with RunDir(run_dir).lock():
            trained = TrainedRun.open(run_dir)
        cfg = trained.cfg
        fork = cfg.warmup_epochs - 2
        model = trained.supernet()
        model.load_state_dict(load_checkpoint(trained.rundir.epoch_checkpoint_path(fork))["model"])
        debiased = run(design.profile, design.space, "debiased", cfg.seed, "density")
        sampler = build_sampler("debiased", get_space(design.space), cfg.seed,
                                warmup_epochs=cfg.warmup_epochs,
                                opts=debiased.config.sampler_options)
        batches = [b for b in trained.batches(cfg.eval_split, cfg.probe_size, None)
                   if len(b[1]) == cfg.probe_size]
        needed = min(2 * max(ks), len(batches))
        context = EpochContext(epoch=fork, epochs=cfg.epochs, supernet=model,
                               probe_batch=batches[0], train_batch=batches[0],
                               loss_fn=F.cross_entropy, device=torch.device("cpu"), run_dir=None)
        feats = []
        for j in range(needed):
            started = time.process_time()
            feats.append(sampler.batch_features(context, batches[j]))
            batch_seconds.append(time.process_time() - started)
        log(f"noise: density features of {len(sampler.computed)} networks on {needed} probe "
            f"batches, seed {cfg.seed}")
        for k in ks:
            if 2 * k > needed:
                continue
            halves = []
            for start in (0, k):
                total = feats[start]
                for f in feats[start + 1:start + k]:
                    total = {name: total[name] + f[name] for name in total}
                halves.append(sampler.density_of(total)[0])
            per_k[k].append(float(scipy.stats.spearmanr(*halves).statistic))
        train_seconds.append(per_epoch * cfg.epochs)
        every = sampler.recompute_every_for(cfg.epochs)
        recomputes = sum(1 for done in range(cfg.warmup_epochs, cfg.epochs)
                         if (done - cfg.warmup_epochs) % every == 0)
        images = cfg.probe_size
    seconds = float(np.mean(batch_seconds))
    rows = []
    for k, values in per_k.items():
        if not values:
            continue
        mean = float(np.mean(values))
        half = (float(scipy.stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1)
                      / np.sqrt(len(values))) if len(values) > 1 else float("nan"))
        recompute = seconds * k
        rows.append({"probe_batches": k, "probe_images": k * images, "reliability": mean,
                     "low": mean - half, "high": mean + half, "per_seed": values,
                     "recompute_seconds": recompute,
                     "overhead_of_training": recompute * recomputes / float(np.mean(train_seconds))})
    return {"checkpoint": "end of warm-up (the first recompute)", "recomputes": recomputes,
            "networks": len(sampler.computed), "seconds_per_batch": seconds,
            "seeds": [s.config.seed for s in specs], "rows": rows}
