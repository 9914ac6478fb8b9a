"""PA&DA: unbiased importance-weighted gradients with lower variance (synthetic problem), valid
probabilities under extreme norms, the schedule option, runs and bit-identical resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.rundir import RunDir
from harness.samplers import build_sampler
from harness.samplers.pada import TAU_CAP, mixture
from harness.spaces import get_space
from harness.train.checkpoint import load_checkpoint
from harness.train.config import resolve_config
from harness.train.runner import train_run

K, P, N = 5, 6, 40  # NB-201's choices and positions; N data items


def synthetic_problem(rng):
    """g(a, i) = s_i * prod_p u_p[a_p] (a 3-vector field): the gradient norm factorises over
    positions and items, so PA&DA's factorised q and p are the optimal importance distributions."""
    u = rng.lognormal(0, 0.8, size=(P, K, 3))
    s = rng.lognormal(0, 0.8, size=N)
    return u, s


def gradient(u, s, archs, items):
    prod = np.prod(u[np.arange(P)[None, :], archs], axis=1)  # (draws, 3)
    return s[items][:, None] * prod


def full_gradient(u, s):
    # Uniform average over all K^P paths and N items: the product of per-position means.
    return s.mean() * np.prod(u.mean(axis=1), axis=0)


def pada_draws(u, s, draws: int, seed: int):
    """Draw (path, item) pairs through the sampler's own code and weight them as training does."""
    sampler = build_sampler("pada", get_space("nb201"), seed, importance_weights=True,
                            max_weight=None)
    norms = np.linalg.norm(u, axis=2)
    sampler.q[:, :K] = np.stack([mixture(norms[p], TAU_CAP) for p in range(P)])
    sampler.epoch = 1  # past the (zero) warm-up
    sampler.item_score = np.abs(s)
    sampler.item_prob = mixture(np.abs(s), TAU_CAP)
    data = sampler.epoch_data(1, N)
    items = np.resize(data.order, draws) if len(data.order) < draws else data.order[:draws]
    while len(items) < draws:
        items = np.concatenate([items, sampler.epoch_data(1, N).order])
    items = items[:draws]
    archs = np.array([sampler.sample(i) for i in range(draws)])
    path_w = np.array([sampler.path_weight(tuple(a)) for a in archs])
    return gradient(u, s, archs, items) * (path_w * data.weights[items])[:, None]


def uniform_draws(u, s, draws: int, seed: int):
    rng = np.random.default_rng(seed)
    archs = rng.integers(0, K, size=(draws, P))
    items = rng.integers(0, N, size=draws)
    return gradient(u, s, archs, items)


def test_importance_weighted_gradient_is_unbiased_with_lower_variance():
    u, s = synthetic_problem(np.random.default_rng(0))
    truth = full_gradient(u, s)
    draws = 20000
    est = pada_draws(u, s, draws, seed=1)
    mean, sem = est.mean(axis=0), est.std(axis=0, ddof=1) / np.sqrt(draws)
    z = (mean - truth) / sem
    assert np.all(np.abs(z) < 4.0), (mean, truth, z)  # unbiased within Monte-Carlo error
    base = uniform_draws(u, s, draws, seed=2)
    assert np.all(np.abs(base.mean(axis=0) - truth) / (base.std(axis=0) / np.sqrt(draws)) < 4.0)
    # Lower total variance than uniform sampling of paths and items.
    assert est.var(axis=0).sum() < 0.5 * base.var(axis=0).sum()


def test_without_weights_the_estimate_is_biased():
    # The authors' code (importance_weights=false) draws from q and p but weights nothing.
    u, s = synthetic_problem(np.random.default_rng(0))
    truth = full_gradient(u, s)
    sampler = build_sampler("pada", get_space("nb201"), 0, importance_weights=False)
    assert sampler.path_weight((0,) * P) == 1.0
    norms = np.linalg.norm(u, axis=2)
    q = np.stack([mixture(norms[p], TAU_CAP) for p in range(P)])
    # Expected unweighted gradient under q (exact): the product of q-weighted per-position means.
    biased = (mixture(np.abs(s), TAU_CAP) @ s) * np.prod(np.einsum("pk,pkd->pd", q, u), axis=0)
    assert np.all(np.abs(biased - truth) / np.abs(truth) > 0.2)


@pytest.mark.parametrize("scores", [
    np.zeros(5), np.array([np.inf, 1.0, np.nan, 0.0, 2.0]), np.array([1e300, 1e-300, 0, 0, 0]),
    np.array([-3.0, 1.0, 1.0, 1.0, 1.0]), np.full(5, 1e-320), np.array([1e308, 1e308, 1e308, 0, 0]),
])
@pytest.mark.parametrize("tau", [0.0, 0.5, 0.99, 1.0, 7.0])
def test_probabilities_stay_valid_under_extreme_norms(scores, tau):
    q = mixture(scores, tau)
    assert np.all(np.isfinite(q)) and q.sum() == pytest.approx(1.0, abs=1e-12)
    assert q.min() >= (1 - TAU_CAP) / len(q) - 1e-15  # every weight 1 / (K q) stays finite
    assert np.all(np.isfinite(1.0 / (len(q) * q)))
    finite = np.where(np.isfinite(scores) & (scores > 0), scores, 0.0)
    if finite.max() > 0 and min(tau, TAU_CAP) > 0:  # the largest score gets the largest share
        assert np.argmax(q) == np.argmax(finite)


def test_schedule_option_works():
    space = get_space("nb201")
    linear = build_sampler("pada", space, 0, warmup_epochs=2, path_tau=0.8, data_tau=0.4)
    assert linear.taus(0, 10) == (0.0, 0.0) and linear.taus(1, 10) == (0.0, 0.0)  # warm-up
    assert linear.taus(5, 10) == pytest.approx((0.4, 0.2))
    constant = build_sampler("pada", space, 0, warmup_epochs=2, schedule="constant",
                             path_tau=0.8, data_tau=0.4)
    assert constant.taus(2, 10) == pytest.approx((0.8, 0.4))
    assert constant.taus(9, 10) == pytest.approx((0.8, 0.4))
    capped = build_sampler("pada", space, 0, schedule="constant", path_tau=5.0)
    assert capped.taus(0, 10)[0] == TAU_CAP


@pytest.fixture(scope="module")
def pada_run(tmp_path_factory):
    cfg = resolve_config("nb201", "smoke", benchmark=None, sampler="pada", seed=1, subset=400,
                         resize=16, width_mult=0.25, epochs=4, warmup_epochs=1, batch_size=25,
                         num_threads=1, net_options={"cells_per_stage": 1})
    run = train_run(cfg, tmp_path_factory.mktemp("pada") / "run", progress=False)
    return cfg, run


def test_pada_run_tilts_paths_and_data(pada_run):
    _, run = pada_run
    audit = RunDir(run).read_audit()
    q = np.array(audit["pada"]["q_final"])
    assert np.allclose(q.sum(axis=1), 1.0)
    # Parameter-free choices (none, skip, pool) keep only the uniform share.
    assert np.all(q[:, [0, 1, 4]] < 0.2) and np.all(q[:, [2, 3]].sum(axis=1) > 0.5)
    history = audit["pada"]["history"]
    assert [h["path_tau"] for h in history] == pytest.approx([0.225, 0.45, 0.675, 0.9])
    assert 0 < history[-1]["data_ess_fraction"] <= 1
    snap = json.loads(RunDir(run).snapshot_path(3).read_text())
    assert snap["sampler"] == "pada" and len(snap["q"]) == 6


def test_pada_resume_is_bit_identical(pada_run, tmp_path):
    cfg, run = pada_run
    other = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, other, progress=False, stop_after_steps=13)  # killed inside epoch 2
    train_run(cfg, other, resume=True, progress=False)
    a = load_checkpoint(RunDir(run).checkpoint_path)
    b = load_checkpoint(RunDir(other).checkpoint_path)
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert a["sampler"]["q"] == b["sampler"]["q"]
    assert a["sampler"]["item_prob"] == b["sampler"]["item_prob"]
    done = RunDir(run).read_done()
    assert done is not None and done == RunDir(other).read_done()


def test_positions_loader_draws_the_plain_loaders_batches():
    # PA&DA's epochs without a data plan must see exactly the uniform run's batches.
    from harness.data.loaders import PlannedBatchLoader, TensorImageDataset, make_loader

    images = torch.randint(0, 255, (50, 1, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 10, (50,))
    data = TensorImageDataset(images, labels, (0.5,), (0.25,), 10, augment=True, crop_padding=2)
    plain = list(make_loader(data, 8, shuffle=True, generator=torch.Generator().manual_seed(3),
                             drop_last=True))
    gen = torch.Generator().manual_seed(3)
    planned = list(PlannedBatchLoader(data, 8, torch.randperm(50, generator=gen), gen))
    assert len(plain) == len(planned) == 6
    for (x1, y1), (x2, y2, positions) in zip(plain, planned):
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and len(positions) == 8


def test_pada_audit_tests_draws_against_its_own_design(pada_run):
    _, run = pada_run
    audit = RunDir(run).read_audit()
    design, uniform = audit["tests"]["vs_design"], audit["tests"]["vs_uniform"]
    assert design["n_draws"] == uniform["n_draws"] == 4 * 8  # 4 epochs x 8 steps
    assert design["df"] == uniform["df"] == 6 * 4
    # Draws follow the design (q per epoch) and are tilted away from uniform.
    assert design["p_value"] > 0.001
    assert design["statistic"] < uniform["statistic"]


def test_marginal_test_against_expected_counts_matches_scipy():
    from scipy.stats import chi2, chisquare

    from harness.samplers.audit import marginal_test

    obs = [[10, 20, 30], [5, 25, 30]]
    exp = [[20, 20, 20], [10, 20, 30]]
    result = marginal_test(obs, exp)
    stat = chisquare(obs[0], exp[0]).statistic + chisquare(obs[1], exp[1]).statistic
    assert result["statistic"] == pytest.approx(stat) and result["df"] == 4
    assert result["p_value"] == pytest.approx(chi2.sf(stat, 4))


def test_audit_prints_pada_s_own_schedule_table(pada_run):
    """`nas-harness audit` prints the table the sampler declares (Sampler.audit_schedule), with
    no sampler named in the CLI: PA&DA's temperatures, one row per epoch."""
    from click.testing import CliRunner

    from harness.cli.main import cli

    _, run = pada_run
    out = CliRunner().invoke(cli, ["audit", str(run)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    head = lines.index("  epoch  path tau  data tau  max q / uniform  data ESS / N")
    rows = [line.split() for line in lines[head + 1:head + 5]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4]
    assert [float(r[1]) for r in rows] == pytest.approx([0.225, 0.45, 0.675, 0.9])
