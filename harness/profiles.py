"""The profiles, as registered data: `smoke` (minutes, CI), `cpu` (Fashion-MNIST mini benchmarks
on a laptop) and `paper` (the published recipes, for a GPU).

A `Profile` is a frozen dataclass holding everything that varies by profile: the run-config
overrides per space, the seeds and benchmarks of each table, the density options that make a
budget hold, search budgets and the thread count. `register_profile` adds one to `PROFILES`
(a plug-in may add its own); the trainer, the experiments, the CLI's choices and `perf` read
these fields, and no code branches on a profile's name.

Foundation data: it imports nothing of the harness but the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from harness.registry import Registry

# The paper's Table 5 temperatures (its Table 5 reports every one of them).
PAPER_TABLE5_TEMPERATURES = (50.0, 7.0, 0.5, 0.1)


def _frozen(mapping: Mapping | None) -> Mapping:
    """A read-only view (nested mappings too), so a registered profile cannot drift."""
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v
                             for k, v in (mapping or {}).items()})


def _thawed(value):
    """A plain dict copy of a frozen mapping (configs and options are built from plain dicts)."""
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Profile:
    """One named budget: how every run is configured and how many runs each table takes."""

    name: str
    description: str
    overrides: Mapping  # {space or "*": {RunConfig field: value}}; a space's entries win
    benchmarks: Mapping  # Table 3's spaces -> the benchmark each is scored against
    seeds: tuple[int, ...] = (0, 1, 2)
    num_threads: int | None = None  # torch threads a run (outside the config hash); None: torch's
    # Options the profile gives a sampler: {sampler: {space or "*": options}} (a space's entries
    # win), e.g. the density recompute period and the networks computed on a CPU budget.
    sampler_defaults: Mapping = field(default_factory=dict)
    # Table 3: the baselines beyond uniform and debiased, paired seeds per space (default: the
    # profile's seeds), seeds of the extra baselines (default: the paired seeds), and extra
    # arms {space: {arm: {"sampler": name, **options}}} paired with uniform.
    table3_baselines: tuple[str, ...] = ("debiased-online", "fairnas")
    table3_seeds: Mapping = field(default_factory=dict)
    table3_baseline_seeds: int | None = None
    table3_extra_arms: Mapping = field(default_factory=dict)
    # Table 5: seeds per temperature; None: every paper temperature x the profile's seeds.
    table5_seeds: Mapping | None = None
    # Table 6: the run length its warm-up axis is a fraction of, its seeds (None: all), and how
    # many of them record Figure 2's distances (None: every seed, every epoch).
    table6_length: int = 300
    table6_seeds: int | None = None
    table6_figure_seeds: int | None = None
    # The NB-201 experiment: {benchmark: dataset} and its seeds (None: all).
    nb201_benchmarks: Mapping = field(default_factory=dict)
    nb201_seeds: int | None = None
    # The search table: distinct full evaluations for random / evolutionary, one-batch
    # evaluations for BSE; and the evolutionary search's options.
    search_budgets: Mapping = field(default_factory=dict)
    evolution_options: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("overrides", "benchmarks", "sampler_defaults",
                     "table3_seeds", "table3_extra_arms", "table5_seeds", "nb201_benchmarks",
                     "search_budgets", "evolution_options"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _frozen(value))

    def run_overrides(self, space: str) -> dict:
        """The run-config overrides for one space: "*" merged with the space's own (nested
        dicts merged key by key), plus the thread count."""
        merged = _thawed(self.overrides.get("*", {}))
        if self.num_threads is not None:
            merged["num_threads"] = self.num_threads
        for key, value in _thawed(self.overrides.get(space, {})).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    def paired_seeds(self, space: str) -> tuple[int, ...]:
        """Seeds of Table 3's paired arms (uniform, debiased, extra and user arms) on `space`."""
        n = self.table3_seeds.get(space)
        return tuple(range(n)) if n is not None else tuple(self.seeds)

    def sampler_options(self, sampler: str, space: str) -> dict:
        """The options this profile gives a sampler on a space (beside the sampler's defaults)."""
        given = self.sampler_defaults.get(sampler, {})
        return {**_thawed(given.get("*", {})), **_thawed(given.get(space, {}))}

    def first_seeds(self, n: int | None) -> tuple[int, ...]:
        return tuple(self.seeds) if n is None else tuple(self.seeds)[:n]

    @property
    def dataset(self) -> str:
        """The dataset every space trains on unless it says otherwise."""
        return self.overrides.get("*", {}).get("dataset", "")

    @property
    def device(self) -> str | None:
        return self.overrides.get("*", {}).get("device")


PROFILES: Registry[Profile] = Registry("profile")


def register_profile(profile: Profile) -> Profile:
    """Add a profile to the registry (its name must be new)."""
    return PROFILES.add(profile.name, profile)


def get_profile(name: str) -> Profile:
    return PROFILES.get(name)


def profile_names() -> list[str]:
    """Registered profiles in the order they were registered (smoke, cpu, paper first)."""
    return PROFILES.names(sort=False)


_FMNIST = {"dataset": "fashion-mnist", "download": False}

register_profile(Profile(
    name="smoke",
    description="a few minutes for CI: 4 epochs on 3,000 Fashion-MNIST images, pooling only",
    overrides={
        "*": {**_FMNIST, "subset": 3000, "epochs": 4, "warmup_epochs": 2, "batch_size": 128,
              "lr": 0.05, "width_mult": 0.25, "eval_batch_size": 500},
        "pooling": {"benchmark": "pooling-fmnist"},
        "nb-macro": {"benchmark": "nb-macro-fmnist"},
        "nb201": {"benchmark": "nb201-fmnist"},
        "mobilenet": {"resize": 32, "width_mult": 0.25, "net_options": {"stem_stride": 1}},
    },
    benchmarks={"pooling": "pooling-fmnist"},
    sampler_defaults={
        "debiased": {"nb-macro": {"max_archs": 64, "recompute_every": 1},
                     "nb201": {"max_archs": 32, "recompute_every": 1}},
        # Short runs: observe often enough that the prototypes (k=8, initialised from 32
        # observations) are ready after warm-up; each observation is one forward + backward of
        # 16 probe images (about 3% of a 128-image step at observe_every=4).
        "debiased-online": {"*": {"observe_every": 4, "probe_images": 16, "refresh_every": 20}},
    },
    table3_baselines=(),
    table5_seeds={},  # no Table 5 in CI
    table6_length=3,
    table6_seeds=1,
    nb201_benchmarks={"nb201-fmnist": "fashion-mnist"},
    nb201_seeds=1,
    search_budgets={"random": 8, "evolutionary": 8, "bse": 24},
    evolution_options={"population_size": 4, "top_k": 2, "n_mutation": 2, "n_crossover": 2},
))

# cpu: long enough for sampling to matter. Pooling: 5,000 supernet-train images at batch 64 = 78
# steps an epoch, 66 epochs = 5,148 steps (143 draws per architecture), a sixth of it (11 epochs)
# uniform warm-up as in the paper (50 of 300). NB-Macro: 4,000 images, 62 steps an epoch, 48
# epochs = 2,976 steps, 8 warm-up epochs.
# One torch thread a run: CPU results depend (in the last digits) on the thread count, and
# reports/cpu was trained this way, so a rerun from an empty cache gives its numbers; two runs
# side by side then fill two cores. `--threads` overrides (outside the config hash).
register_profile(Profile(
    name="cpu",
    description="Fashion-MNIST mini benchmarks on a laptop's CPU (about an hour a table on 2 "
                "cores)",
    overrides={
        "*": {**_FMNIST, "subset": 10000, "epochs": 66, "warmup_epochs": 11, "batch_size": 64,
              "lr": 0.05, "width_mult": 0.5, "eval_batch_size": 1000, "eval_images": 2000},
        # Pooling scores the whole supernet-validation split (5,000 images) with the mean of the
        # last 8 epochs' checkpoints: `nas-harness noise` measured 2.1 CPU hours per detectable
        # 0.05 Kendall against 4.5 for the last checkpoint on 2,000 images (reports/cpu/README.md).
        # NB-Macro keeps 2,000 images: the whole split measured no better (0.60 against 0.59).
        "pooling": {"benchmark": "pooling-fmnist", "eval_images": None, "eval_average_epochs": 8},
        "nb-macro": {"benchmark": "nb-macro-fmnist", "subset": 8000, "epochs": 48,
                     "warmup_epochs": 8},
        # NB-201 on CPU: 8,000 images, 62 steps an epoch, 30 epochs (1,860 steps), 5 warm-up.
        "nb201": {"benchmark": "nb201-fmnist", "subset": 8000, "epochs": 30, "warmup_epochs": 5},
        "mobilenet": {"resize": 32, "width_mult": 0.25, "net_options": {"stem_stride": 1}},
    },
    benchmarks={"pooling": "pooling-fmnist", "nb-macro": "nb-macro-fmnist"},
    num_threads=1,
    # Recompute periods keep the paper's recomputes per optimizer step (a recompute is a fixed
    # 512-image forward + backward per network while a cpu step is only 64 images):
    # - pooling: the paper recomputes every 10 of its 49-step epochs (one per 490 steps); every
    #   6 of 78-step epochs is one per 468 steps, 9 recomputes after warm-up. Measured: a
    #   recompute (36 networks) takes 12 s, 0.05 s a step, so about +40% on a debiased run
    #   (auto, every 2 epochs, would be +150%).
    # - NB-Macro: densities of a seeded subset of 256 networks (the others get their nearest
    #   computed network's), every 20 of 62-step epochs (end of warm-up and epoch 28, as the
    #   paper's 2); a recompute takes 118 s against 0.09 s a step, about +90% on a debiased run
    #   (every 2 epochs was +860%).
    # - NB-201 (6,466 distinct cells): a seeded subset, as NB-Macro.
    sampler_defaults={
        "debiased": {"pooling": {"recompute_every": 6},
                     "nb-macro": {"max_archs": 256, "recompute_every": 20},
                     "nb201": {"max_archs": 256, "recompute_every": 20}},
        "debiased-online": {"*": {"observe_every": 4, "probe_images": 16, "refresh_every": 20}},
    },
    # From `nas-harness plan`: pooling needs about 8 pairs for a gap of 0.1. The extra baselines
    # get two seeds: labelled with their MDE, not read.
    table3_seeds={"pooling": 8, "nb-macro": 3},
    table3_baseline_seeds=2,
    # The cpu pilot's audit showed that at the paper's tau 7 the debiased sampler draws the mini
    # pooling benchmark almost uniformly (P max/min 1.1, KL 3e-4), so that arm cannot test
    # debiasing. A tilted arm at tau 0.5 (P max/min 17.5, KL 0.35 in the sampler audit) asks
    # whether tilting the draws changes the ranking, with the same paired seeds.
    table3_extra_arms={"pooling": {"debiased-tau0.5": {"sampler": "debiased", "tau": 0.5}}},
    # The paper's gap at tau 0.5 (0.74 -> 0.67) is a paired test against tau 7 with 3 seeds (MDE
    # about 0.04 at Table 3's NB-Macro spread of 0.011), where 2 seeds could detect only about
    # 0.13; tau 0.1 did not fit the budget, and tau 50 (flatter than tau 7, which already draws
    # NB-Macro uniformly) keeps its 2 seeds as a no-power row.
    table5_seeds={50.0: 2, 7.0: 3, 0.5: 3},
    table6_length=66,
    # Figure 2's distances cost a gradient per network and batch (about 75 s an epoch, 15x a
    # training epoch): only the first seed records them, at the tracked epochs and the end.
    table6_figure_seeds=1,
    nb201_benchmarks={"nb201-fmnist": "fashion-mnist"},
    search_budgets={"random": 12, "evolutionary": 12, "bse": 48},
    evolution_options={"population_size": 6, "top_k": 3, "n_mutation": 3, "n_crossover": 3},
))

# paper: the published recipes (paper_numbers.md), for a GPU. NB-Macro densities on all 3,969
# networks (no imputation), recomputed every 25 epochs (end of warm-up and epoch 45): a full
# recompute is about as much as the whole 70-epoch training (`nas-harness bench --only
# density-overhead`), so about 2x. NB-201: one supernet per dataset, as PA&DA does (CIFAR-10
# scored against its test accuracy, as PA&DA's rank_func does).
register_profile(Profile(
    name="paper",
    description="the published recipes on CIFAR-10/100, ImageNet16-120 and ImageNet (a GPU)",
    overrides={
        "*": {"dataset": "cifar10", "download": True, "augment": True, "device": "cuda",
              "amp": True, "channels_last": True},
        "pooling": {"benchmark": "pooling", "epochs": 300, "warmup_epochs": 50, "batch_size": 512,
                    "lr": 0.1, "weight_decay": 1e-3, "lr_schedule": "cosine"},
        "nb-macro": {"benchmark": "nb-macro", "epochs": 70, "warmup_epochs": 20, "batch_size": 512,
                     "lr": 0.1, "weight_decay": 5e-4, "lr_schedule": "cosine"},
        "nb201": {"benchmark": "nb201-cifar10", "epochs": 250, "warmup_epochs": 50,
                  "batch_size": 256, "lr": 0.05, "weight_decay": 5e-4},
        "mobilenet": {"dataset": "imagenet", "epochs": 120, "warmup_epochs": 20,
                      "batch_size": 512, "lr": 0.1, "weight_decay": 4e-5, "resize": 224},
    },
    benchmarks={"pooling": "pooling", "nb-macro": "nb-macro"},
    sampler_defaults={"debiased": {"nb-macro": {"recompute_every": 25}}},
    table6_length=300,
    nb201_benchmarks={"nb201-cifar10": "cifar10", "nb201-cifar100": "cifar100",
                      "nb201-imagenet16": "imagenet16-120"},
    search_budgets={"random": 1000, "evolutionary": 1000, "bse": 4000},
))
