"""harness.density: gradient features, distances, density estimators, mappings, prototypes."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score

from harness.density import (
    MAPPINGS,
    GaussianProjection,
    OnlinePrototypes,
    cka_distance_matrix,
    cosine_distance_matrix,
    feature_maps,
    gradient_features,
    hamming_distance_matrix,
    inverse_mean_distance,
    kde,
    layer_averaged_cosine,
    sampling_probabilities,
)
from harness.density.estimators import median_bandwidth
from harness.density.features import embed, select_feature_tensors
from harness.nets import NetConfig, build_supernet
from harness.spaces import get_space

torch.set_num_threads(1)


def tiny_net(space: str = "nb-macro", size: int = 8):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_supernet(space, NetConfig(in_channels=1, width_mult=0.25, input_size=size))


def tiny_batch(n: int = 16, size: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


# ----------------------------------------------------------------------------- features


def test_gradient_features_match_backward_and_leave_supernet_untouched():
    net = tiny_net()
    x, y = tiny_batch()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    arch0 = (2, 1, 2, 1, 0, 2, 1, 1)
    net.train()
    F.cross_entropy(net(x, arch0), y).backward()
    opt.step()  # momentum buffers and moved running stats exist now
    opt.zero_grad(set_to_none=False)
    F.cross_entropy(net(x, (1, 2, 1, 0, 2, 1, 0, 0)), y).backward()  # .grad present, some None
    weights = {k: v.clone() for k, v in net.state_dict().items()}  # params + BN running stats
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in net.named_parameters()}
    grad_ids = {n: id(p.grad) for n, p in net.named_parameters()}
    opt_state = {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
                 for i, s in enumerate(opt.state.values())}
    bn_flags = [(m.training, m.track_running_stats) for m in net.modules()
                if isinstance(m, torch.nn.BatchNorm2d)]

    archs = [(0, 0, 0, 0, 0, 0, 0, 0), (2, 1, 2, 1, 0, 2, 1, 1), (1, 2, 0, 2, 2, 0, 1, 2)]
    feats = gradient_features(net, archs, (x, y), F.cross_entropy)

    for k, v in net.state_dict().items():
        assert torch.equal(v, weights[k]), k
    for n, p in net.named_parameters():
        assert (p.grad is None) == (grads[n] is None), n
        assert id(p.grad) == grad_ids[n] and (p.grad is None or torch.equal(p.grad, grads[n])), n
    for i, s in enumerate(opt.state.values()):
        for k, v in s.items():
            assert torch.equal(v, opt_state[i][k]) if torch.is_tensor(v) else v == opt_state[i][k]
    assert net.training
    assert bn_flags == [(m.training, m.track_running_stats) for m in net.modules()
                        if isinstance(m, torch.nn.BatchNorm2d)]

    # Default = the tensors every network shares (stem, head, classifier), one feature per
    # tensor; rows equal a plain backward's .grad with batch statistics and no running-stat update.
    assert list(feats) == ["stem.0.weight", "out.0.weight", "classifier.weight"]
    ref = tiny_net()
    ref.load_state_dict(net.state_dict())
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.track_running_stats = False
    ref_params = dict(ref.named_parameters())
    for row, arch in enumerate(archs):
        ref.zero_grad(set_to_none=True)
        F.cross_entropy(ref(x, arch), y).backward()
        for name in feats:
            expected = ref_params[name].grad.reshape(-1)
            assert feats[name].shape == (len(archs), expected.numel())
            torch.testing.assert_close(feats[name][row], expected, rtol=1e-4, atol=1e-6)
    # the per-candidate reading: identities at positions 1 and 2 have no tensors, so a path that
    # takes a conv there differs from one that takes the identity on disjoint coordinates
    cand = gradient_features(net, archs, (x, y), F.cross_entropy,
                             select_feature_tensors(net, feature_set="groups3"))
    assert any(name.startswith("features.1.candidates.1.") for name in cand)
    name = next(n for n in cand if n.startswith("features.1.candidates.1."))
    assert cand[name][0].abs().sum() == 0 and cand[name][1].abs().sum() > 0  # arch 1 takes op 1


def test_gaussian_projection_is_seeded_and_preserves_cosines():
    proj = GaussianProjection(seed=3, out_dim=512)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2000, generator=g)
    a, b = proj(0, x), GaussianProjection(seed=3, out_dim=512)(0, x)
    assert torch.equal(a, b)
    assert not torch.equal(a, GaussianProjection(seed=4, out_dim=512)(0, x))
    assert not torch.equal(a, proj(1, x))
    diff = (cosine_distance_matrix(a) - cosine_distance_matrix(x)).abs().max()
    assert diff < 0.2  # JL: O(1/sqrt(512)) per entry, 6 x 6 entries


# ----------------------------------------------------------------------------- distances


def test_cosine_distance_matrix_values_and_zero_rows():
    feats = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    d = cosine_distance_matrix(feats)
    expected = torch.tensor([
        [0, 1, 2, 1, 1],
        [1, 0, 1, 1, 1],
        [2, 1, 0, 1, 1],
        [1, 1, 1, 0, 0],  # two zero rows: the same (empty) op, distance 0
        [1, 1, 1, 0, 0],
    ], dtype=torch.float64)
    torch.testing.assert_close(d, expected)
    two = layer_averaged_cosine({"a": feats, "b": torch.ones(5, 3)})
    torch.testing.assert_close(two, expected / 2)


def test_embedding_half_squared_distance_is_layer_averaged_cosine():
    g = torch.Generator().manual_seed(0)
    feats = {"a": torch.randn(7, 5, generator=g), "b": torch.randn(7, 9, generator=g)}
    e = embed(feats).double()
    half_sq = torch.cdist(e, e) ** 2 / 2
    torch.testing.assert_close(half_sq, layer_averaged_cosine(feats), rtol=1e-5, atol=1e-6)


def test_hamming_and_cka():
    space = get_space("nb-macro")
    archs = [(0,) * 8, (1,) + (0,) * 7, (2, 2) + (0,) * 6]
    d = hamming_distance_matrix(space, archs)
    assert d.tolist() == [[0, 1, 2], [1, 0, 2], [2, 2, 0]]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 6, generator=g)
    rot = torch.linalg.qr(torch.randn(6, 6, generator=g))[0]
    maps = [x, 3.0 * x @ rot, torch.randn(20, 4, generator=g)]  # CKA is rotation/scale invariant
    c = cka_distance_matrix(maps)
    assert c[0, 1] < 1e-9 and c[0, 2] > 0.05 and torch.all(torch.diag(c) == 0)
    net = tiny_net()
    fm = feature_maps(net, archs, tiny_batch(), "features.1")
    assert len(fm) == 3 and fm[0].shape[0] == 16
    assert cka_distance_matrix(fm)[0, 1] > 0  # different op at layer 0 -> different maps


# ----------------------------------------------------------------------------- estimators

D3 = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]], dtype=torch.float64)


def test_inverse_mean_distance_hand_worked():
    # means over the others: (1+2)/2, (1+3)/2, (2+3)/2
    np.testing.assert_allclose(inverse_mean_distance(D3), [1 / 1.5, 1 / 2.0, 1 / 2.5])


def test_kde_hand_worked():
    # off-diagonal entries 1, 2, 3 -> median bandwidth h = 2, kernel exp(-d^2 / 8)
    assert median_bandwidth(D3.numpy()) == 2.0
    k = lambda d: math.exp(-d * d / 8.0)  # noqa: E731
    expected = [(k(1) + k(2)) / 2, (k(1) + k(3)) / 2, (k(2) + k(3)) / 2]
    np.testing.assert_allclose(kde(D3), expected)
    k1 = lambda d: math.exp(-d * d / 2.0)  # noqa: E731
    np.testing.assert_allclose(kde(D3, bandwidth=1.0),
                               [(k1(1) + k1(2)) / 2, (k1(1) + k1(3)) / 2, (k1(2) + k1(3)) / 2])


def test_weighted_estimators_equal_expanded_code_level_computation():
    rng = np.random.default_rng(0)
    n = 6
    sizes = np.array([1, 3, 2, 1, 4, 2])
    a = rng.random((n, n))
    d = (a + a.T)
    np.fill_diagonal(d, 0)
    labels = np.repeat(np.arange(n), sizes)
    expanded = d[labels][:, labels]  # codes of one class at distance 0 from each other
    for est, opts in ((inverse_mean_distance, {}), (kde, {"bandwidth": 0.7})):
        np.testing.assert_allclose(est(d, weights=sizes, **opts)[labels], est(expanded, **opts))


# ----------------------------------------------------------------------------- mappings


@pytest.mark.parametrize("mapping", MAPPINGS.names())
@pytest.mark.parametrize("normalize", ["mean", None])
def test_mapping_monotone_uniform_limit_and_extremes(mapping, normalize):
    alpha = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
    p = sampling_probabilities(alpha, tau=1.0, mapping=mapping, normalize=normalize)
    assert np.all(np.diff(p) < 0), p  # lower density -> strictly higher probability
    p_inf = sampling_probabilities(alpha, tau=1e9, mapping=mapping, normalize=normalize)
    assert np.max(np.abs(p_inf - 1 / len(alpha))) < 1e-6
    for a in (np.array([1e-12, 1.0, 1e12]), np.array([1e12, 1e12 * 2]), np.array([1e-12] * 3),
              np.array([1e-12, 2e-12])):
        for tau in (1e-6, 1e-3, 1.0, 1e9):
            q = sampling_probabilities(a, tau=tau, mapping=mapping, normalize=normalize)
            assert np.all(np.isfinite(q)) and np.all(q >= 0) and abs(q.sum() - 1) < 1e-12


def test_neg_density_default_matches_eq8_reading():
    alpha = np.array([1.0, 2.0, 4.0])
    raw = sampling_probabilities(alpha, tau=2.0)  # the default: raw alpha, the literal eq. 8
    e = np.exp(-alpha / 2.0)
    np.testing.assert_allclose(raw, e / e.sum())
    scaled = sampling_probabilities(alpha, tau=2.0, normalize="mean")  # alpha / (7/3)
    e = np.exp(-alpha / (7 / 3) / 2.0)
    np.testing.assert_allclose(scaled, e / e.sum())
    # "mean" is scale-free; the literal reading is not
    np.testing.assert_allclose(sampling_probabilities(100 * alpha, tau=2.0, normalize="mean"),
                               scaled)
    assert not np.allclose(sampling_probabilities(100 * alpha, tau=2.0), raw)


def test_dense_cluster_gets_lower_probability():
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(64, generator=g)
    cluster = direction + 0.05 * torch.randn(30, 64, generator=g)
    spread = torch.randn(10, 64, generator=g)
    feats = {"l0": torch.cat([cluster, spread]),
             "l1": torch.cat([cluster[:, :32], spread[:, :32]])}
    alpha = inverse_mean_distance(layer_averaged_cosine(feats))
    for est in (alpha, kde(layer_averaged_cosine(feats))):
        p = sampling_probabilities(est, tau=7.0)
        assert p[:30].max() < p[30:].min()


# ----------------------------------------------------------------------------- prototypes


def blobs(n_per: int, dim: int, seed: int, scale: float = 0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, dim)) * 3.0
    labels = np.repeat(np.arange(4), n_per)
    x = centers[labels] + scale * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return x[order], labels[order]


def test_online_prototypes_recover_clusters_and_round_trip():
    x, truth = blobs(300, 16, seed=1)
    protos = OnlinePrototypes(k=4, dim=16, seed=0, init_size=40)
    for start in range(0, len(x), 7):
        protos.update(x[start:start + 7])
    assert adjusted_rand_score(truth, protos.assign(x)) > 0.9
    assert protos.counts.sum() == pytest.approx(len(x))  # decay 1: every vector counted once
    stream = io.BytesIO()
    torch.save(protos.state_dict(), stream)
    stream.seek(0)
    clone = OnlinePrototypes.from_state_dict(torch.load(stream, weights_only=True))
    more, _ = blobs(50, 16, seed=2)
    protos.update(more)
    clone.update(more)
    assert np.array_equal(protos.centers, clone.centers)
    np.testing.assert_array_equal(protos.densities(), clone.densities())


def test_prototype_memory_is_bounded():
    protos = OnlinePrototypes(k=8, dim=32, seed=0)
    x, _ = blobs(500, 32, seed=3)
    protos.update(x[:200])
    small = protos.nbytes()
    protos.update(x[200:])
    assert protos.nbytes() == small == 8 * 32 * 8 + 2 * 8 * 8


def test_prototype_density_ranks_dense_and_sparse_regions():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(3, 8)) * 0.5  # three prototypes close together ...
    far = np.eye(8)[0] * 20.0  # ... one far away
    centers = np.vstack([dense, far])
    labels = np.repeat(np.arange(4), 100)
    x = centers[labels] + 0.05 * rng.normal(size=(400, 8))
    protos = OnlinePrototypes(k=4, dim=8, seed=0, init_size=400)
    protos.update(x[rng.permutation(400)])
    sparse = protos.assign(far[None, :])[0]
    for est in ("inverse_mean_distance", "kde"):
        alpha = protos.densities(est)
        assert np.argmin(alpha) == sparse


def test_prototype_weighted_update_equals_repeated_vectors():
    x, _ = blobs(30, 6, seed=4)
    a = OnlinePrototypes(k=4, dim=6, seed=0, init_size=40)
    b = OnlinePrototypes(k=4, dim=6, seed=0, init_size=40)
    a.update(x[:40])
    b.update(x[:40])
    for row in x[40:60]:
        a.update(row[None, :], weights=[3.0])
        b.update(np.repeat(row[None, :], 3, axis=0))
    np.testing.assert_allclose(a.centers, b.centers, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.counts, b.counts)
