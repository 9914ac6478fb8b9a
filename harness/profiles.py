"""The profiles, in one place: `smoke` (minutes, CI), `cpu` (Fashion-MNIST mini benchmarks on a
laptop) and `paper` (the published recipes, for a GPU).

PROFILES    run-config overrides per profile and space (the trainer applies them)
SETTINGS    what the experiments run under each profile: seeds, benchmarks, sampler options
SPACE_SAMPLER_OPTIONS, TABLE3_CPU_SEEDS, TABLE3_EXTRA_ARMS, TABLE5_SEEDS, TABLE6_LENGTH,
            TABLE6_FIGURE_SEEDS: per-experiment sizing

Plain data: the trainer (`harness.train.config`) and the experiments (`harness.experiments.spec`)
read it; it imports nothing of the harness.
"""

from __future__ import annotations

NAMES = ("smoke", "cpu", "paper")

# Profiles: named overrides per space. `paper` is the published recipe (for a GPU), `cpu` the
# Fashion-MNIST mini benchmark (about an hour a table on 2 cores), `smoke` a few minutes for CI.
_FMNIST = {"dataset": "fashion-mnist", "download": False}
PROFILES: dict[str, dict[str, dict]] = {
    "smoke": {
        "*": {**_FMNIST, "subset": 3000, "epochs": 4, "warmup_epochs": 2, "batch_size": 128,
              "lr": 0.05, "width_mult": 0.25, "eval_batch_size": 500},
        "pooling": {"benchmark": "pooling-fmnist"},
        "nb-macro": {"benchmark": "nb-macro-fmnist"},
        "nb201": {"benchmark": "nb201-fmnist"},
        "mobilenet": {"resize": 32, "width_mult": 0.25, "net_options": {"stem_stride": 1}},
    },
    # cpu: long enough for sampling to matter. Pooling: 5,000 supernet-train images at batch 64
    # = 78 steps an epoch, 66 epochs = 5,148 steps (143 draws per architecture), a sixth of it
    # (11 epochs) uniform warm-up as in the paper (50 of 300). NB-Macro: 4,000 images, 62 steps
    # an epoch, 48 epochs = 2,976 steps, 8 warm-up epochs.
    # One torch thread a run: CPU results depend (in the last digits) on the thread count, and
    # reports/cpu was trained this way, so a rerun from an empty cache gives its numbers; two
    # runs side by side then fill two cores. `--threads` overrides (outside the config hash).
    "cpu": {
        "*": {**_FMNIST, "num_threads": 1, "subset": 10000, "epochs": 66, "warmup_epochs": 11,
              "batch_size": 64, "lr": 0.05, "width_mult": 0.5, "eval_batch_size": 1000, "eval_images": 2000},
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
    "paper": {
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
}


# Per-profile settings of the experiments: seeds, benchmarks, and sampler options that make the
# cpu / smoke budgets hold (e.g. NAS-Bench-Macro densities on a subset of networks on a CPU).
SETTINGS = {
    "smoke": {"seeds": (0, 1, 2), "benchmarks": {"pooling": "pooling-fmnist"},
              "epochs": None},
    "cpu": {"seeds": (0, 1, 2),
            "benchmarks": {"pooling": "pooling-fmnist", "nb-macro": "nb-macro-fmnist"},
            "epochs": None},
    "paper": {"seeds": (0, 1, 2), "benchmarks": {"pooling": "pooling", "nb-macro": "nb-macro"},
              "epochs": None},
}
# Space-specific sampler options per profile. The paper profile computes NAS-Bench-Macro
# densities on all 3,969 networks (no imputation); the CPU profiles compute a seeded subset and
# give the other networks their nearest computed network's density (`max_archs`).
# Recompute periods keep the paper's recomputes per optimizer step, since a recompute is a fixed
# 512-image forward + backward per network while a cpu step is only 64 images:
# - paper NB-Macro: a full recompute (3,969 networks) is about as much as the whole 70-epoch
#   training (`nas-harness bench --only density-overhead`), so every 25 epochs (end of warm-up and
#   epoch 45), about 2x.
# - cpu pooling: the paper recomputes every 10 of its 49-step epochs (one per 490 steps); every
#   6 of 78-step epochs is one per 468 steps, 9 recomputes after warm-up. Measured: a recompute
#   (36 networks) takes 12 s, 0.05 s a step, so about +40% on a debiased run (auto, every 2
#   epochs, would be +150%).
# - cpu NB-Macro: 256 networks, every 20 of 62-step epochs (end of warm-up and epoch 28, as the
#   paper's 2); a recompute takes 118 s against 0.09 s a step, about +90% on a debiased run
#   (every 2 epochs was +860%).
SPACE_SAMPLER_OPTIONS = {
    ("paper", "nb-macro"): {"recompute_every": 25},
    ("cpu", "pooling"): {"recompute_every": 6},
    ("cpu", "nb-macro"): {"max_archs": 256, "recompute_every": 20},
    ("smoke", "nb-macro"): {"max_archs": 64, "recompute_every": 1},
    # NB-201 (6,466 distinct cells): a seeded subset on CPU, as NB-Macro.
    ("cpu", "nb201"): {"max_archs": 256, "recompute_every": 20},
    ("smoke", "nb201"): {"max_archs": 32, "recompute_every": 1},
}

TABLE3_CPU_SEEDS = {"pooling": 8, "nb-macro": 3}
# Extra Table 3 arms: {(profile, space): {arm name: sampler options}}. The cpu pilot's audit showed
# that at the paper's tau 7 the debiased sampler draws the mini pooling benchmark almost uniformly
# (P max/min 1.1, KL 3e-4), so that arm cannot test debiasing. A tilted arm at tau 0.5 (P max/min
# 17.5, KL 0.35 in the sampler audit) asks whether tilting the draws changes the ranking, with the
# same paired seeds as the paper's arm.
TABLE3_EXTRA_ARMS = {("cpu", "pooling"): {"debiased-tau0.5": {"sampler": "debiased",
                                                              "tau": 0.5}}}
# Table 5 seeds per temperature where a profile departs from "every temperature x the profile's
# seeds". cpu: the paper's gap at tau 0.5 (0.74 -> 0.67) is a paired test against tau 7 with 3
# seeds (MDE about 0.04 at Table 3's NB-Macro spread of 0.011), where 2 seeds could detect only
# about 0.13; tau 0.1 did not fit the budget, and tau 50 (flatter than tau 7, which already draws
# NB-Macro uniformly) keeps its 2 seeds as a no-power row.
TABLE5_SEEDS = {"cpu": {50.0: 2, 7.0: 3, 0.5: 3}}
TABLE6_LENGTH = {"smoke": 3, "cpu": 66, "paper": 300}
# Figure 2's distances cost a gradient per network and batch (about 75 s an epoch on cpu, 15x a
# training epoch). Where set, only the first N Table 6 seeds record them, and only at the tracked
# epochs and the end; elsewhere every seed records them every epoch. Figure 2 reads the first.
TABLE6_FIGURE_SEEDS = {"cpu": 1}
