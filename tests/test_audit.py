"""The sampler audit, the literal eq. 8 at the authors' density scale, per-tensor gradient
distances, and FairNAS's summed path gradients."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from harness.density.distances import layer_averaged_cosine_with_means
from harness.density.features import gradient_features, select_feature_tensors
from harness.density.mapping import class_code_probabilities
from harness.nets import NetConfig, build_supernet
from harness.nets.common import Choice, Supernet
from harness.rundir import RunDir
from harness.samplers import build_sampler
from harness.samplers.audit import (
    chisquare_test,
    contingency_test,
    distribution_summary,
    marginal_test,
    verdict,
)
from harness.spaces import get_space
from harness.train.config import RunConfig
from harness.train.runner import train_run
from harness.train.setup import build_run, epoch_generator

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- figures


def test_distribution_summary_hand_worked():
    uniform = distribution_summary(np.full(36, 1 / 36))
    assert uniform["kl_from_uniform_nats"] == pytest.approx(0, abs=1e-15)
    assert uniform["effective_n"] == pytest.approx(36) and uniform["effective_fraction"] == 1
    assert uniform["p_max_over_min"] == pytest.approx(1)
    point = distribution_summary(np.eye(1, 36)[0])
    assert point["effective_n"] == pytest.approx(1)
    assert point["kl_from_uniform_nats"] == pytest.approx(np.log(36))
    assert point["p_max_over_min"] is None  # zero probabilities: no finite ratio
    # P = (1/2, 1/4, 1/4): KL = 1/2 log(3/2) + 2 * 1/4 log(3/4); 1/sum P^2 = 1/(3/8)
    hand = distribution_summary([0.5, 0.25, 0.25])
    assert hand["kl_from_uniform_nats"] == pytest.approx(0.5 * np.log(1.5) + 0.5 * np.log(0.75))
    assert hand["effective_n"] == pytest.approx(8 / 3)
    assert hand["p_max_over_min"] == pytest.approx(2)


def test_distribution_summary_over_groups_equals_expanded_codes():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 5, 40).astype(float)
    per_code = rng.random(40)
    per_code /= (per_code * sizes).sum()
    grouped = distribution_summary(per_code, sizes)
    expanded = distribution_summary(np.repeat(per_code, sizes.astype(int)))
    for key in ("kl_from_uniform_nats", "effective_n", "effective_fraction", "p_max_over_min"):
        assert grouped[key] == pytest.approx(expanded[key], rel=1e-12)
    assert grouped["n_codes"] == sizes.sum()


def test_eq8_effective_number_at_the_authors_density_scale():
    """36 densities spread evenly over 2..9 (1 / mean distance at distances 0.11-0.5): tau 50 is
    about uniform, tau 7 a moderate tilt, tau 0.5 concentrates the draws (Table 5's shape)."""
    alpha = np.linspace(2, 9, 36)
    fraction = {}
    for tau in (50.0, 7.0, 0.5):
        class_p, code_p = class_code_probabilities(alpha, None, tau)  # the sampler's path
        np.testing.assert_allclose(code_p, np.exp(-alpha / tau) / np.exp(-alpha / tau).sum(),
                                   rtol=1e-12)
        fraction[tau] = distribution_summary(code_p)["effective_fraction"]
    assert fraction[50.0] > 0.97
    assert 0.5 < fraction[7.0] < 0.97
    assert fraction[0.5] < 0.3
    # mean-normalised alpha (the old default) leaves tau 7 almost uniform
    _, mean_p = class_code_probabilities(alpha, None, 7.0, normalize="mean")
    assert distribution_summary(mean_p)["effective_fraction"] > 0.99


def test_sampler_probabilities_are_the_tested_function():
    sampler = build_sampler("debiased", get_space("pooling"), seed=0, tau=0.5)
    alpha = np.linspace(2, 9, 36)
    class_p, code_p = sampler.probabilities_from_density(alpha)
    ref_class, ref_code = class_code_probabilities(alpha, np.ones(36), 0.5)
    np.testing.assert_array_equal(class_p, ref_class)
    np.testing.assert_array_equal(code_p, ref_code)


# ----------------------------------------------------------------------------- tests of counts


def test_chisquare_matches_scipy_and_bins_when_expected_counts_are_small():
    rng = np.random.default_rng(1)
    observed = rng.multinomial(3600, np.full(36, 1 / 36))
    got = chisquare_test(observed, np.ones(36))
    ref = scipy.stats.chisquare(observed)
    assert got["test"] == "per item" and got["df"] == 35
    assert got["statistic"] == pytest.approx(ref.statistic) and got["p_value"] == pytest.approx(ref.pvalue)
    # 300 draws over 3969 networks: pooled into 10 bins of about equal expected count
    observed = rng.multinomial(300, np.full(3969, 1 / 3969))
    binned = chisquare_test(observed, np.ones(3969), np.arange(3969), "index")
    assert binned["test"].startswith("10 bins") and binned["df"] == 9
    assert binned["n_draws"] == 300


def test_count_tests_have_power_and_keep_their_size():
    """Uniform draws pass at about the nominal rate; a modest tilt with many draws is caught."""
    rng = np.random.default_rng(2)
    tilt = np.exp(-np.linspace(2, 9, 36) / 7.0)
    tilt /= tilt.sum()
    false_alarms = sum(
        chisquare_test(rng.multinomial(2000, np.full(36, 1 / 36)), np.ones(36))["p_value"] < 0.05
        for _ in range(400))
    assert 5 <= false_alarms <= 35  # 20 expected at alpha = 0.05
    caught = sum(chisquare_test(rng.multinomial(2000, tilt), np.ones(36), tilt)["p_value"] < 0.05
                 for _ in range(100))
    assert caught >= 95
    # against its own design the tilted draws pass
    own = sum(chisquare_test(rng.multinomial(2000, tilt), tilt, tilt)["p_value"] < 0.05
              for _ in range(400))
    assert own <= 35


def test_marginal_and_contingency_tests():
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 3, (900, 8))
    counts = [np.bincount(draws[:, p], minlength=3) for p in range(8)]
    result = marginal_test(counts)
    stat = sum(scipy.stats.chisquare(c).statistic for c in counts)
    assert result["df"] == 16 and result["statistic"] == pytest.approx(stat)
    assert result["p_value"] == pytest.approx(scipy.stats.chi2.sf(stat, 16))
    everything = contingency_test([10, 20, 30], [0, 0, 0])
    assert everything["p_value"] == 1.0 and "every proposal was accepted" in everything["reason"]
    assert not verdict(everything)[0]
    skewed = contingency_test([90, 10], [10, 90])
    assert skewed["p_value"] < 1e-6 and verdict(skewed)[0]


# ----------------------------------------------------------------------------- per tensor


class TwoTensorNet(Supernet):
    """A toy supernet whose gradients are known: the output for arch a is sum((W_t * M_a,t) x)."""

    space_name = "toy"

    def __init__(self, masks: dict[int, tuple[torch.Tensor, torch.Tensor]]):
        super().__init__(NetConfig(), (len(masks),))
        self.stem = nn.Linear(3, 1, bias=False)
        self.body = nn.Linear(3, 1, bias=False)
        nn.init.ones_(self.stem.weight)
        nn.init.ones_(self.body.weight)
        self.masks = masks

    def forward(self, x, arch):
        m_stem, m_body = self.masks[arch[0]]
        return (x * (self.stem.weight * m_stem)).sum(1) + (x * (self.body.weight * m_body)).sum(1)

    def _layer_modules(self):
        return [("body", self.body)]


def test_per_tensor_distances_equal_hand_computed_values():
    # with x = 1 and loss = output, the gradient w.r.t. W_t is the mask M_a,t
    masks = {0: (torch.tensor([1.0, 0, 0]), torch.tensor([1.0, 1, 0])),
             1: (torch.tensor([1.0, 1, 0]), torch.tensor([0.0, 0, 1])),
             2: (torch.tensor([0.0, 0, 1]), torch.tensor([1.0, 1, 0]))}
    net = TwoTensorNet(masks)
    assert [n for n, _ in select_feature_tensors(net)] == ["stem.weight", "body.weight"]
    batch = (torch.ones(1, 3), torch.zeros(1))
    feats = gradient_features(net, [(0,), (1,), (2,)], batch, lambda out, _y: out.sum())
    np.testing.assert_allclose(feats["stem.weight"].numpy(), [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    dist, means = layer_averaged_cosine_with_means(feats)
    c = 1 - 1 / np.sqrt(2)  # cos((1,0,0), (1,1,0)) = 1/sqrt(2)
    stem = np.array([[0, c, 1], [c, 0, 1], [1, 1, 0]])
    body = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    np.testing.assert_allclose(dist.numpy(), (stem + body) / 2, atol=1e-7)
    assert means["stem.weight"] == pytest.approx((2 * c + 4) / 6)
    assert means["body.weight"] == pytest.approx(4 / 6)
    assert all(p.requires_grad for p in net.parameters())  # flags restored


@pytest.mark.parametrize("space, first", [("pooling", "layers.0.conv.weight"),
                                          ("nb-macro", "stem.0.weight"),
                                          ("nb201", "stem.0.weight"),
                                          ("mobilenet", "stem.0.weight")])
def test_default_feature_tensors_include_the_stem(space, first):
    net = build_supernet(space, NetConfig(in_channels=1, input_size=16, width_mult=0.25))
    names = [n for n, _ in select_feature_tensors(net)]
    assert names[0] == first
    candidates = net.candidate_tensor_names()
    if space != "pooling":  # shared tensors only: gradient direction, not which ops were picked
        assert candidates and not set(names) & candidates
        groups3 = [n for n, _ in select_feature_tensors(net, feature_set="groups3")]
        assert set(groups3) & candidates


def test_feature_gradients_skip_other_layers_weight_gradients():
    """Only the selected tensors require grad during a recompute; results are unchanged."""
    net = build_supernet("pooling", NetConfig(in_channels=1, input_size=8, width_mult=0.25))
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g))
    arch = get_space("pooling").parse("0000100100")
    tensors = select_feature_tensors(net)
    feats = gradient_features(net, [arch], batch, F.cross_entropy, tensors)
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(batch[0], arch), batch[1]).backward()
    for name, p in tensors:
        np.testing.assert_allclose(feats[name][0].numpy(), p.grad.reshape(-1).numpy(),
                                   rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- FairNAS


def test_fairnas_each_candidate_gets_the_full_gradient_of_its_own_path(monkeypatch):
    cfg = RunConfig(space="nb-macro", sampler="fairnas", dataset="fashion-mnist", subset=256,
                    resize=16, width_mult=0.25, epochs=1, steps_per_epoch=1, batch_size=32,
                    grad_clip=None, probe_size=32)
    setup = build_run(cfg)
    reference = copy.deepcopy(setup.supernet)
    paths = copy.deepcopy(setup.sampler).paths(0)  # the draw the run will make
    x, y = next(iter(setup.train_loader(epoch_generator(cfg.seed, 0))))
    captured = {}

    def capture(optimizer, _args, _kwargs):
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    captured[id(p)] = p.grad.detach().clone()

    setup.optimizer.register_step_pre_hook(capture)
    import harness.train.runner as runner

    monkeypatch.setattr(runner, "build_run", lambda _cfg, _dist=None: setup)
    train_run(cfg, _tmp_run_dir(), progress=False)
    names = dict(reference.named_parameters())
    trained = dict(setup.supernet.named_parameters())
    checked = 0
    for arch in paths:
        reference.zero_grad(set_to_none=True)
        reference.train()
        F.cross_entropy(reference(x, arch), y).backward()
        for module_name, module in reference.named_modules():
            if not isinstance(module, Choice):
                continue
            prefix = f"{module_name}.candidates.{arch[module.position]}."
            for name, p in names.items():
                if name.startswith(prefix) and p.grad is not None:
                    got = captured[id(trained[name])]
                    torch.testing.assert_close(got, p.grad, rtol=1e-4, atol=1e-6)
                    checked += 1
    assert checked > 50  # every candidate op of every position, on the one path that took it


def _tmp_run_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp()) / "run"


# ----------------------------------------------------------------------------- in a run


def test_run_writes_an_audit_that_tells_a_tilted_sampler_from_uniform(tmp_path):
    base = dict(space="pooling", dataset="fashion-mnist", subset=512, resize=8, width_mult=0.25,
                epochs=3, warmup_epochs=1, batch_size=8, probe_size=32)
    tilted = RunConfig(sampler="debiased", sampler_options={"tau": 0.02, "figure_archs": 0},
                       **base)
    flat = RunConfig(sampler="uniform", **base)
    audit_tilted = RunDir(train_run(tilted, tmp_path / "t", progress=False)).read_audit()
    audit_flat = RunDir(train_run(flat, tmp_path / "u", progress=False)).read_audit()
    assert audit_tilted["active_draws"] == 2 * 32 and audit_tilted["warmup_draws"] == 32
    assert audit_tilted["distribution"]["kl_from_uniform_nats"] > 0.3
    assert audit_tilted["tests"]["vs_uniform"]["p_value"] < 0.05
    assert audit_tilted["tests_debiasing"] is True
    assert audit_tilted["tests"]["vs_design"]["p_value"] > 1e-3
    assert sum(audit_flat["counts"].values()) == 96
    assert audit_flat["tests"]["vs_uniform"]["p_value"] > 1e-3


def test_variance_explained_by_pattern_hand_worked():
    from harness.samplers.audit import variance_explained_by_pattern

    # values a function of the pattern: R^2 = 1; pure within-group noise: R^2 = 0
    assert variance_explained_by_pattern([1, 1, 3, 3], [(0,), (0,), (1,), (1,)]) == pytest.approx(1)
    assert variance_explained_by_pattern([1, 3, 1, 3], [(0,), (0,), (1,), (1,)]) == pytest.approx(0)
    # group means 2 and 5, grand mean 3.5: between 4 * 2.25 = 9, total 9 + 4 = 13
    r2 = variance_explained_by_pattern([1, 3, 4, 6], [(0,), (0,), (1,), (1,)])
    assert r2 == pytest.approx(9 / 13)
    assert variance_explained_by_pattern([2, 2, 2], [(0,), (1,), (2,)]) is None


def test_features_of_a_path_that_uses_none_of_the_selected_tensors_are_zero():
    """NB-201: a cell path of skip/pool/none edges in the first three cells has no candidate
    tensor there; with only those tensors requiring grad its loss has no graph to them."""
    net = build_supernet("nb201", NetConfig(in_channels=1, input_size=8, width_mult=0.25,
                                            cells_per_stage=1))
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
    tensors = select_feature_tensors(net, feature_set="groups3")
    no_conv = (1, 4, 1, 0, 4, 1)  # skip / avg_pool / none edges only
    with_conv = (3, 3, 3, 3, 3, 3)
    feats = gradient_features(net, [no_conv, with_conv], batch, F.cross_entropy, tensors)
    assert all(float(v[0].abs().sum()) == 0 for v in feats.values())
    assert any(float(v[1].abs().sum()) > 0 for v in feats.values())
