"""A figure is the same bytes every time it is drawn from the same results (committed reports
rebuild byte for byte), and drawing it leaves numpy's global generator as it was."""

from __future__ import annotations

import numpy as np

from harness.experiments import figures


def _results() -> list[dict]:
    rng = np.random.default_rng(3)
    return [{"benchmark": "pooling-fmnist", "label": f"pooling/{sampler}", "sampler": sampler,
             "seed": seed, "metrics": {"kendall_tau": {"value": float(rng.uniform(0.1, 0.5))}}}
            for sampler in ("uniform", "debiased") for seed in range(6)]


def test_the_paired_seeds_figure_is_the_same_bytes_each_time(tmp_path):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = figures.paired_seeds(_results(), tmp_path / "a.png").read_bytes()
    np.random.seed(456)  # another global state: the figure must not depend on it
    second = figures.paired_seeds(_results(), tmp_path / "b.png").read_bytes()
    assert first == second
    np.random.seed(123)
    figures.paired_seeds(_results(), tmp_path / "c.png")
    assert np.array_equal(np.random.get_state()[1], before)  # the caller's state is restored
