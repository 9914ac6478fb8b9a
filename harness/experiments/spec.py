"""The paper's experiments as data: which runs each table or figure needs under each profile.

A `RunSpec` is one supernet run (a RunConfig) plus what to evaluate it against. Runs are cached
by config hash under `<runs_root>/<profile>/`: `reproduce` trains only what is missing and resumes
what was interrupted. Tables and figures are functions of the cached results (harness.experiments
.tables / .figures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.errors import HarnessError, did_you_mean
from harness.experiments import builders
from harness.experiments.arms import arm_of
from harness.experiments.paper import table6_epochs
from harness.profiles import NAMES as PROFILES
from harness.profiles import (
    SETTINGS,
    SPACE_SAMPLER_OPTIONS,
    TABLE3_CPU_SEEDS,
    TABLE3_EXTRA_ARMS,
    TABLE5_SEEDS,
    TABLE6_FIGURE_SEEDS,
    TABLE6_LENGTH,
)
from harness.train.config import RunConfig, profile_overrides, resolve_config


@dataclass(frozen=True)
class RunSpec:
    label: str  # "<space>/<arm>", e.g. "pooling/debiased" or "pooling/debiased-tau0.5"
    config: RunConfig

    @property
    def arm(self) -> str:
        return arm_of({"label": self.label, "sampler": self.config.sampler})

    @property
    def benchmark(self) -> str:
        return self.config.benchmark or ""

    @property
    def run_name(self) -> str:
        return f"{self.config.space}-{self.config.sampler}-s{self.config.seed}-{self.config.hash()}"


@dataclass(frozen=True)
class Experiment:
    """One table or figure, as complete data: the runs it needs under each profile and the
    function that builds it from their results (harness.experiments.builders)."""

    name: str
    title: str
    runs: dict = field(default_factory=dict)  # profile -> (profile -> list[RunSpec])
    uses: tuple = ()  # other experiments whose runs this one reads (e.g. topk reads table3)
    build: Callable | None = None  # (results, profile, report_dir, data_dir) -> table or None
    takes_arms: bool = False  # user arms (`reproduce --arm`) join its runs, paired by seed


def run(profile: str, space: str, sampler: str, seed: int, label: str, **options) -> RunSpec:
    settings = SETTINGS[profile]
    sampler_options = {}
    if sampler == "debiased":
        # Per-epoch figure tracking costs forward/backward passes; only the Table 6 / Figure 2
        # runs ask for it.
        sampler_options = {"figure_archs": 0,
                           "track_density_during_warmup": False,
                           **SPACE_SAMPLER_OPTIONS.get((profile, space), {})}
    elif sampler == "debiased-online":
        # Short runs: observe often enough that the prototypes (k=8, initialised from 32
        # observations) are ready after warm-up; each observation is one forward + backward of
        # 16 probe images (about 3% of a 128-image step at observe_every=4).
        sampler_options = {}  # its tau: the sampler's own default, declared once
        if profile != "paper":
            sampler_options.update({"observe_every": 4, "probe_images": 16, "refresh_every": 20})
    sampler_options.update(options.pop("sampler_options", {}))
    if sampler == "uniform":
        # Keep the warm-up checkpoint the paired density runs of this seed fork from.
        warmup = options.get("warmup_epochs") or profile_overrides(profile, space).get(
            "warmup_epochs", 0)
        if warmup >= 2:
            options.setdefault("keep_checkpoints", (warmup - 2,))
    benchmark = options.pop("benchmark", None) or settings["benchmarks"][space]
    config = resolve_config(space, profile, benchmark=benchmark, sampler=sampler,
                            sampler_options=sampler_options or None, seed=seed, **options)
    return RunSpec(label=label, config=config)


def _paired_seeds(profile: str, space: str) -> tuple[int, ...]:
    """Seeds of Table 3's paired arms (uniform, debiased, extra arms). cpu: TABLE3_CPU_SEEDS
    (from `nas-harness plan`: pooling needs about 8 pairs for a gap of 0.1)."""
    if profile == "cpu":
        return tuple(range(TABLE3_CPU_SEEDS[space]))
    return tuple(SETTINGS[profile]["seeds"])


def table3_runs(profile: str) -> list[RunSpec]:
    settings = SETTINGS[profile]
    specs = []
    for space in settings["benchmarks"]:
        samplers = ["uniform", "debiased"]
        if profile != "smoke":
            samplers.append("debiased-online")
            if space != "pooling":  # strict fairness needs an unconstrained product space
                samplers.append("fairnas")
        for sampler in samplers:
            # The extra baselines get two seeds on cpu: labelled with their MDE, not read.
            seeds = (_paired_seeds(profile, space) if sampler in ("uniform", "debiased")
                     or profile != "cpu" else settings["seeds"][:2])
            specs += [run(profile, space, sampler, seed, f"{space}/{sampler}") for seed in seeds]
        for arm, options in TABLE3_EXTRA_ARMS.get((profile, space), {}).items():
            options = dict(options)
            sampler = options.pop("sampler")
            specs += [run(profile, space, sampler, seed, f"{space}/{arm}", sampler_options=options)
                      for seed in _paired_seeds(profile, space)]
    return specs


def table4_runs(profile: str) -> list[RunSpec]:
    seeds = SETTINGS[profile]["seeds"]
    # The default estimator is inverse mean distance: its runs are Table 3's debiased runs.
    return [run(profile, "pooling", "debiased", seed, f"pooling/{estimator}",
                sampler_options={} if estimator == "inverse_mean_distance" else {"estimator": estimator})
            for estimator in ("inverse_mean_distance", "kde") for seed in seeds]


PAPER_TABLE5_TEMPERATURES = (50.0, 7.0, 0.5, 0.1)


def table5_runs(profile: str) -> list[RunSpec]:
    space = "nb-macro" if "nb-macro" in SETTINGS[profile]["benchmarks"] else "pooling"
    design = TABLE5_SEEDS.get(profile) or {tau: len(SETTINGS[profile]["seeds"])
                                          for tau in PAPER_TABLE5_TEMPERATURES}
    return [run(profile, space, "debiased", seed, f"{space}/tau={tau:g}", sampler_options={"tau": tau})
            for tau, n_seeds in design.items()
            for seed in SETTINGS[profile]["seeds"][:n_seeds]]  # tau=7 reuses Table 3's runs


# Table 6 on a fraction-of-training axis: the paper's warm-up epochs (of its 300) map to the
# same fractions of the profile's run length. Training is uniform throughout at a constant
# learning rate (so the density does not settle because the rate reaches 0), densities are
# tracked at those epochs, and "convergence" is the density at the end of a run a third longer
# than the profile's (never one of the tracked rows, so no row is 1 by construction).
# (harness.experiments.paper.table6_epochs maps the paper's epochs to the profile's.)


def table6_runs(profile: str) -> list[RunSpec]:
    length = TABLE6_LENGTH[profile]
    total = length + max(1, length // 3)
    tracked = sorted(set(table6_epochs(profile).values()))
    seeds = SETTINGS[profile]["seeds"][:1] if profile == "smoke" else SETTINGS[profile]["seeds"]
    figure_seeds = TABLE6_FIGURE_SEEDS.get(profile)
    specs = []
    for i, seed in enumerate(seeds):
        options = {"track_density_during_warmup": True, "figure_archs": 64,
                   "track_epochs": tracked}
        if figure_seeds is not None:
            options.update({"figure_epochs": sorted(set(tracked) | {total})} if i < figure_seeds
                           else {"figure_archs": 0})
        specs.append(run(profile, "pooling", "debiased", seed, "pooling/warmup-tracking",
                         epochs=total, warmup_epochs=total, lr_schedule="constant",
                         sampler_options=options))
    return specs


# The NB-201 experiment (the main paper's NB-201 table, PA&DA's home ground): every sampler on
# the NB-201 supernet, scored against each dataset's ground truth. The paper profile trains one
# supernet per dataset, as PA&DA does (CIFAR-10 scored against its test accuracy, as PA&DA's
# rank_func does); the cpu and smoke profiles train on Fashion-MNIST against nb201-fmnist.
NB201_SAMPLERS = ("uniform", "fairnas", "pada", "debiased", "debiased-online")
NB201_BENCHMARKS = {"smoke": {"nb201-fmnist": "fashion-mnist"},
                    "cpu": {"nb201-fmnist": "fashion-mnist"},
                    "paper": {"nb201-cifar10": "cifar10", "nb201-cifar100": "cifar100",
                              "nb201-imagenet16": "imagenet16-120"}}


def nb201_runs(profile: str) -> list[RunSpec]:
    seeds = SETTINGS[profile]["seeds"][:1] if profile == "smoke" else SETTINGS[profile]["seeds"]
    return [run(profile, "nb201", sampler, seed, f"nb201/{benchmark}/{sampler}",
                benchmark=benchmark, dataset=dataset)
            for benchmark, dataset in NB201_BENCHMARKS[profile].items()
            for sampler in NB201_SAMPLERS for seed in seeds]


EXPERIMENTS: dict[str, Experiment] = {}


def _add(name: str, title: str, runs, build, uses: tuple = (), takes_arms: bool = False) -> None:
    EXPERIMENTS[name] = Experiment(name, title, {p: runs for p in PROFILES}, uses, build,
                                   takes_arms)


def parse_arm(text: str) -> tuple[str, str, dict]:
    """`NAME[:opt=val,...]` -> (arm name, sampler, options): a user's arm for Table 3's design,
    its sampler and options checked the way `train` checks them (typed, with "did you mean")."""
    import json

    from harness.samplers import SAMPLERS, resolve_sampler_options

    sampler, _, rest = text.partition(":")
    sampler = sampler.strip()
    SAMPLERS.get(sampler)
    options: dict = {}
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = pair.partition("=")
        if not sep:
            raise HarnessError(f"--arm {text!r}: expected NAME[:opt=val,...], e.g. "
                               "least-drawn:strength=4")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    resolve_sampler_options(sampler, options)
    return text.strip(), sampler, options


def user_arm_runs(profile: str, arms: list[tuple[str, str, dict]]) -> list[RunSpec]:
    """Table 3's runs of user arms: every benchmark of the profile, the seeds uniform is paired
    on, so each arm is compared with uniform seed by seed like the paper's arms."""
    specs = []
    for space in SETTINGS[profile]["benchmarks"]:
        for name, sampler, options in arms:
            specs += [run(profile, space, sampler, seed, f"{space}/{name}",
                          sampler_options=dict(options))
                      for seed in _paired_seeds(profile, space)]
    return specs


_add("table3", "Table 3: rank correlation, uniform vs debiased (and FairNAS, online)", table3_runs,
     builders.build_table3, takes_arms=True)
_add("table4", "Table 4: density estimator, inverse mean distance vs KDE", table4_runs,
     builders.build_table4)
_add("table5", "Table 5: sampling temperature", table5_runs, builders.build_table5)
_add("table6", "Table 6: warm-up epochs vs Spearman with the density at convergence", table6_runs,
     builders.build_table6)
_add("topk", "Top-K table: KD@top-K, KT@GT-top-K, P@top-K, BR@K at 5/10/20%", table3_runs,
     builders.build_topk, ("table3",), takes_arms=True)
_add("search", "Search: ground truth of the architecture each strategy picks", table3_runs,
     builders.build_search, ("table3",), takes_arms=True)
_add("fig1", "Figure 1: ground-truth rank vs supernet rank", table3_runs, builders.build_fig1,
     ("table3",), takes_arms=True)
_add("fig2", "Figure 2: per-tensor gradient cosine distance over training", table6_runs,
     builders.build_fig2, ("table6",))
_add("nb201", "NAS-Bench-201: rank correlation and search for uniform, FairNAS, PA&DA, debiased "
     "and debiased-online", nb201_runs, builders.build_nb201)

ORDER = ["table3", "table4", "table5", "table6", "topk", "search", "fig1", "fig2", "nb201"]


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise HarnessError(f"unknown table or figure '{name}'{did_you_mean(name, EXPERIMENTS)}; "
                           f"known: {', '.join(ORDER)} or all")
    return EXPERIMENTS[name]


def runs_for(name: str, profile: str) -> list[RunSpec]:
    if profile not in PROFILES:
        raise HarnessError(f"unknown profile '{profile}'{did_you_mean(profile, PROFILES)}")
    if profile == "smoke" and name in ("table5",):
        return []
    return get_experiment(name).runs[profile](profile)
