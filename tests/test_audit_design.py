"""The density sampler's audit against hand-built designs: the binned test orders bins by the
designed probability (a tilt scattered over indices is found), and the time-averaged design is
the draw-weighted mean of every P that was in force."""

from __future__ import annotations

import numpy as np
import pytest

from harness.samplers import build_sampler, resolve_sampler_options
from harness.samplers.audit import distribution_summary
from harness.spaces import get_space


def debiased(space_name: str):
    space = get_space(space_name)
    options = resolve_sampler_options("debiased", {"figure_archs": 0})
    return build_sampler("debiased", space, 0, warmup_epochs=0, **options)


def draw(sampler, n: int, start: int = 0) -> None:
    for step in range(start, start + n):
        sampler.record([sampler.sample(step)])


def test_a_tilt_scattered_over_indices_is_found_by_bins_ordered_by_design():
    """300 draws over NAS-Bench-Macro's 3,969 networks, a tenth of them 20x as likely, those
    chosen at random positions. Bins in index order each hold a tenth of the favoured networks
    and see no tilt; bins in order of designed probability separate them."""
    sampler = debiased("nb-macro")
    n = len(sampler.sizes)
    weights = np.ones(n)
    weights[np.random.default_rng(0).choice(n, n // 10, replace=False)] = 20.0
    sampler._set_probs(weights / weights.sum())
    draw(sampler, 300)
    audit = sampler.audit()
    test = audit["tests"]["vs_uniform"]
    assert test["test"].endswith("by designed probability")
    assert test["p_value"] < 1e-20 and audit["tests_debiasing"] is True
    # the draws agree with their own design
    assert audit["tests"]["vs_design"]["p_value"] > 1e-3


def test_time_averaged_design_weights_each_distribution_by_its_draws():
    sampler = debiased("pooling")
    n = len(sampler.sizes)
    rng = np.random.default_rng(1)
    first, second = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n) * 0.3)
    sampler._set_probs(first)
    draw(sampler, 200)
    sampler._set_probs(second)
    draw(sampler, 100, start=200)
    audit = sampler.audit()
    designed = (200 * first + 100 * second) / 300
    expected = distribution_summary(designed)
    got = audit["time_averaged_distribution"]
    for key in ("kl_from_uniform_nats", "effective_n", "p_max", "p_min"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key
