"""The paper's experiments as data: which runs each table or figure needs under each profile.

A `RunSpec` is one supernet run (a RunConfig) plus what to evaluate it against. Runs are cached
by config hash under `<runs_root>/<profile>/`: `reproduce` trains only what is missing and resumes
what was interrupted. Tables and figures are functions of the cached results (harness.experiments
.tables / .figures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import HarnessError, did_you_mean
from harness.experiments import builders
from harness.experiments.arms import arm_of
from harness.experiments.paper import table6_epochs
from harness.profiles import PAPER_TABLE5_TEMPERATURES, PROFILES, Profile, get_profile
from harness.registry import Registry
from harness.train.config import RunConfig, resolve_config


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
    """One table or figure, as complete data: the runs it needs under a profile and the function
    that builds it from their results (harness.experiments.builders)."""

    name: str
    title: str
    runs: Callable[[Profile], list[RunSpec]]
    uses: tuple = ()  # other experiments whose runs this one reads (e.g. topk reads table3)
    build: Callable | None = None  # (results, profile, report_dir, data_dir) -> table or None
    takes_arms: bool = False  # user arms (`reproduce --arm`) join its runs, paired by seed


# Registration order is the order `reproduce all` builds them and `ls experiments` lists them.
EXPERIMENTS: Registry[Experiment] = Registry("table or figure")


def experiment(name: str, title: str, build: Callable, uses: tuple = (),
               takes_arms: bool = False) -> Callable:
    """Register the decorated `runs(profile) -> list[RunSpec]` as the experiment `name`."""
    def decorator(runs: Callable[[Profile], list[RunSpec]]):
        EXPERIMENTS.add(name, Experiment(name, title, runs, uses, build, takes_arms))
        return runs

    return decorator


# Options every table run of a sampler starts from: per-epoch figure tracking costs forward and
# backward passes, and only the Table 6 / Figure 2 runs ask for it.
TABLE_RUN_OPTIONS = {"debiased": {"figure_archs": 0, "track_density_during_warmup": False}}


def run(profile: Profile | str, space: str, sampler: str, seed: int, label: str,
        **options) -> RunSpec:
    """One run of `profile`: its overrides for `space`, its options for `sampler`, then
    `sampler_options` and `options` on top."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    sampler_options = {**TABLE_RUN_OPTIONS.get(sampler, {}),
                       **profile.sampler_options(sampler, space),
                       **options.pop("sampler_options", {})}
    if sampler == "uniform":
        # Keep the warm-up checkpoint the paired density runs of this seed fork from.
        warmup = options.get("warmup_epochs") or profile.run_overrides(space).get(
            "warmup_epochs", 0)
        if warmup >= 2:
            options.setdefault("keep_checkpoints", (warmup - 2,))
    benchmark = options.pop("benchmark", None) or profile.benchmarks[space]
    config = resolve_config(space, profile.name, benchmark=benchmark, sampler=sampler,
                            sampler_options=sampler_options or None, seed=seed, **options)
    return RunSpec(label=label, config=config)


def _strict_on(sampler: str, space: str) -> bool:
    from harness.samplers import SAMPLERS
    from harness.spaces import get_space

    return SAMPLERS.get(sampler).strict_on(get_space(space))


@experiment("table3", "Table 3: rank correlation, uniform vs debiased (and FairNAS, online)",
            builders.build_table3, takes_arms=True)
def table3_runs(profile: Profile) -> list[RunSpec]:
    specs = []
    for space in profile.benchmarks:
        paired = profile.paired_seeds(space)
        for sampler in ("uniform", "debiased"):
            specs += [run(profile, space, sampler, seed, f"{space}/{sampler}") for seed in paired]
        # Baselines run only where they run as published (FairNAS's strict fairness needs an
        # unconstrained product space); they may get fewer seeds, labelled with their MDE.
        baseline_seeds = paired[:profile.table3_baseline_seeds or len(paired)]
        for sampler in profile.table3_baselines:
            if _strict_on(sampler, space):
                specs += [run(profile, space, sampler, seed, f"{space}/{sampler}")
                          for seed in baseline_seeds]
        for arm, options in profile.table3_extra_arms.get(space, {}).items():
            options = dict(options)
            sampler = options.pop("sampler")
            specs += [run(profile, space, sampler, seed, f"{space}/{arm}", sampler_options=options)
                      for seed in paired]
    return specs


@experiment("table4", "Table 4: density estimator, inverse mean distance vs KDE",
            builders.build_table4)
def table4_runs(profile: Profile) -> list[RunSpec]:
    # The default estimator is inverse mean distance: its runs are Table 3's debiased runs.
    if "pooling" not in profile.benchmarks:  # a table of the pooling benchmark
        return []
    return [run(profile, "pooling", "debiased", seed, f"pooling/{estimator}",
                sampler_options={} if estimator == "inverse_mean_distance" else {"estimator": estimator})
            for estimator in ("inverse_mean_distance", "kde") for seed in profile.seeds]


@experiment("table5", "Table 5: sampling temperature", builders.build_table5)
def table5_runs(profile: Profile) -> list[RunSpec]:
    space = next((s for s in ("nb-macro", "pooling") if s in profile.benchmarks), None)
    if space is None:
        return []
    design = (profile.table5_seeds if profile.table5_seeds is not None
              else {tau: len(profile.seeds) for tau in PAPER_TABLE5_TEMPERATURES})
    return [run(profile, space, "debiased", seed, f"{space}/tau={tau:g}", sampler_options={"tau": tau})
            for tau, n_seeds in design.items()
            for seed in profile.seeds[:n_seeds]]  # tau=7 reuses Table 3's runs


# Table 6 on a fraction-of-training axis: the paper's warm-up epochs (of its 300) map to the
# same fractions of the profile's run length. Training is uniform throughout at a constant
# learning rate (so the density does not settle because the rate reaches 0), densities are
# tracked at those epochs, and "convergence" is the density at the end of a run a third longer
# than the profile's (never one of the tracked rows, so no row is 1 by construction).
# (harness.experiments.paper.table6_epochs maps the paper's epochs to the profile's.)


@experiment("table6", "Table 6: warm-up epochs vs Spearman with the density at convergence",
            builders.build_table6)
def table6_runs(profile: Profile) -> list[RunSpec]:
    if "pooling" not in profile.benchmarks:  # tracked on the pooling benchmark
        return []
    length = profile.table6_length
    total = length + max(1, length // 3)
    tracked = sorted(set(table6_epochs(profile.name).values()))
    figure_seeds = profile.table6_figure_seeds
    specs = []
    for i, seed in enumerate(profile.first_seeds(profile.table6_seeds)):
        options = {"track_density_during_warmup": True, "figure_archs": 64,
                   "track_epochs": tracked}
        if figure_seeds is not None:
            options.update({"figure_epochs": sorted(set(tracked) | {total})} if i < figure_seeds
                           else {"figure_archs": 0})
        specs.append(run(profile, "pooling", "debiased", seed, "pooling/warmup-tracking",
                         epochs=total, warmup_epochs=total, lr_schedule="constant",
                         sampler_options=options))
    return specs


experiment("topk", "Top-K table: KD@top-K, KT@GT-top-K, P@top-K, BR@K at 5/10/20%",
           builders.build_topk, ("table3",), takes_arms=True)(table3_runs)
experiment("search", "Search: ground truth of the architecture each strategy picks",
           builders.build_search, ("table3",), takes_arms=True)(table3_runs)
experiment("fig1", "Figure 1: ground-truth rank vs supernet rank", builders.build_fig1,
           ("table3",), takes_arms=True)(table3_runs)
experiment("fig2", "Figure 2: per-tensor gradient cosine distance over training",
           builders.build_fig2, ("table6",))(table6_runs)

# The NB-201 experiment (the main paper's NB-201 table, PA&DA's home ground): every sampler on
# the NB-201 supernet, scored against each dataset's ground truth (the profile's
# `nb201_benchmarks`: the paper profile trains one supernet per dataset, as PA&DA does; cpu and
# smoke train on Fashion-MNIST against nb201-fmnist).
NB201_SAMPLERS = ("uniform", "fairnas", "pada", "debiased", "debiased-online")


@experiment("nb201", "NAS-Bench-201: rank correlation and search for uniform, FairNAS, PA&DA, "
            "debiased and debiased-online", builders.build_nb201)
def nb201_runs(profile: Profile) -> list[RunSpec]:
    return [run(profile, "nb201", sampler, seed, f"nb201/{benchmark}/{sampler}",
                benchmark=benchmark, dataset=dataset)
            for benchmark, dataset in profile.nb201_benchmarks.items()
            for sampler in NB201_SAMPLERS for seed in profile.first_seeds(profile.nb201_seeds)]


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
    chosen = get_profile(profile)
    specs = []
    for space in chosen.benchmarks:
        for name, sampler, options in arms:
            specs += [run(chosen, space, sampler, seed, f"{space}/{name}",
                          sampler_options=dict(options))
                      for seed in chosen.paired_seeds(space)]
    return specs


def experiment_names() -> list[str]:
    """Every registered experiment, in registration order."""
    return EXPERIMENTS.names(sort=False)


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise HarnessError(f"unknown table or figure '{name}'"
                           f"{did_you_mean(name, experiment_names())}; known: "
                           f"{', '.join(experiment_names())} or all")
    return EXPERIMENTS.get(name)


def runs_for(name: str, profile: str) -> list[RunSpec]:
    if profile not in PROFILES:
        raise HarnessError(f"unknown profile '{profile}'{did_you_mean(profile, PROFILES)}")
    return get_experiment(name).runs(get_profile(profile))
