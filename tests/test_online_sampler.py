"""The debiased-online sampler: prototypes that separate architectures, not batches; the reservoir
vote, its clock and re-seeding; audit; resume; bounded memory; probe-batch embeddings."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score

from harness.errors import HarnessError
from harness.nets import NetConfig, build_supernet
from harness.rundir import RunDir
from harness.samplers import SAMPLERS, build_sampler
from harness.spaces import get_space
from harness.spaces.base import SearchSpace
from harness.train.config import RunConfig
from harness.train.runner import train_run

torch.set_num_threads(1)


class GridSpace(SearchSpace):
    """A small unconstrained test space with given numbers of choices per position."""

    name = "grid"

    def __init__(self, n_choices=(3, 3)):
        self.n_choices = tuple(n_choices)

    @property
    def choices(self):
        return [[str(i) for i in range(n)] for n in self.n_choices]

    def key(self, arch):
        return "".join(str(a) for a in arch)

    def parse(self, text):
        return tuple(int(c) for c in text)


def roundtrip(state: dict) -> dict:
    stream = io.BytesIO()
    torch.save(state, stream)
    stream.seek(0)
    return torch.load(stream, weights_only=True)


# ----------------------------------------------------------------------------- synthetic gradients

N_CLUSTERS, DIM = 6, 128


def gradient_stream(seed: int, n: int = 3000, noise: float = 0.8, drift_period: float = 1200,
                    outliers: int = 0):
    """(space, [(arch, embedding)]) like probe-batch gradients of a training supernet: a large
    direction shared by every architecture that rotates as training goes on (norm 1), an offset
    per architecture cluster (the first choice; norm 0.3, clusters 0.42 apart), and per-batch
    noise of norm `noise` (0.8: about twice the distance between clusters, so two observations of
    one cluster are about as far apart as two of different clusters); unit norm like
    `features.embed`. `outliers` of the first 24 observations are far-off vectors (a transient),
    where k-means++ likes to put prototypes that then die."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    offsets = 0.3 * basis[:N_CLUSTERS]
    u, v = basis[N_CLUSTERS], basis[N_CLUSTERS + 1]
    space = GridSpace((N_CLUSTERS, 4, 4))
    out = []
    for t in range(n):
        arch = space.sample(rng)
        angle = 2 * np.pi * t / drift_period
        raw = (np.cos(angle) * u + np.sin(angle) * v + offsets[arch[0]]
               + noise * rng.normal(size=DIM) / np.sqrt(DIM))
        if outliers and t < 24 and t % (24 // outliers) == 0:
            raw = 5 * rng.normal(size=DIM) / np.sqrt(DIM)
        out.append((arch, raw / np.linalg.norm(raw)))
    return space, out


def cluster_run(seed: int, stream_options: dict | None = None, **options):
    """Observe a gradient stream (warm-up only); (ARI of every architecture's assigned prototype
    against its cluster, end-of-epoch snapshot)."""
    space, data = gradient_stream(seed, **(stream_options or {}))
    sampler = build_sampler("debiased-online", space, seed=seed, warmup_epochs=1, k=N_CLUSTERS,
                            proj_dim=DIM, refresh_every=10**9, **options)
    for arch, embedding in data:
        sampler.observe_embedding(arch, embedding)
    snap = sampler.on_epoch_end(0, None)
    archs = list(space.enumerate())
    ari = adjusted_rand_score([a[0] for a in archs], [sampler.nearest_label(a) for a in archs])
    return ari, snap


def test_online_prototypes_recover_architecture_clusters_under_batch_noise():
    results = [cluster_run(seed) for seed in range(5)]
    aris = [ari for ari, _ in results]
    assert min(aris) > 0.9, aris  # measured: 0.95-1.0 over 20 seeds
    assert all(snap["live_prototypes"] == N_CLUSTERS for _, snap in results)
    # the drift is what centering removes: without it the clusters are those of training time
    uncentred = [cluster_run(seed, center=False)[0] for seed in range(3)]
    assert max(uncentred) < 0.5, uncentred  # measured: 0.0-0.2


def test_online_dead_prototypes_are_reseeded():
    stream = {"outliers": 3}
    results = [cluster_run(seed, stream) for seed in range(5)]
    assert all(snap["live_prototypes"] == N_CLUSTERS for _, snap in results)
    assert all(snap["reseeded"] >= 1 for _, snap in results)
    assert np.mean([ari for ari, _ in results]) > 0.9  # measured: 0.96 over 20 seeds
    # the same stream without re-seeding leaves prototypes dead and clusters merged
    kept = [cluster_run(seed, stream, reseed=False) for seed in range(5)]
    assert all(snap["live_prototypes"] < N_CLUSTERS and snap["reseeded"] == 0 for _, snap in kept)
    assert np.mean([ari for ari, _ in kept]) < 0.5


# ----------------------------------------------------------------------------- reservoir


def hand_made_reservoir(decay: float, entries: list[tuple[tuple, int, int]]):
    """A sampler whose reservoir holds (arch, label, observation index) entries."""
    space = GridSpace((3, 3))
    sampler = build_sampler("debiased-online", space, seed=0, k=3, proj_dim=4, decay=decay)
    sampler.res_enc = np.array([a for a, _, _ in entries], dtype=np.int64)
    sampler.res_emb = np.zeros((len(entries), 4), dtype=np.float32)
    sampler.res_labels = np.array([lab for _, lab, _ in entries], dtype=np.int64)
    sampler.res_time = np.array([t for _, _, t in entries], dtype=np.int64)
    sampler.res_weight = np.ones(len(entries))
    sampler.n_observed = max(t for _, _, t in entries) + 1
    sampler._votes = None
    return sampler


def test_online_vote_is_the_age_weighted_majority_of_the_nearest_entries():
    # three entries of (0, 0): the first says 1, the majority 2; (1, 1) at distance 1 says 0
    entries = [((0, 0), 1, 7), ((0, 0), 2, 8), ((0, 0), 2, 9), ((1, 1), 0, 10)]
    assert hand_made_reservoir(1.0, entries).nearest_label((0, 0)) == 2
    # (0, 1) is at distance 1 from all four: three votes of (0, 0) and one of (1, 1)
    assert hand_made_reservoir(1.0, entries).nearest_label((0, 1)) == 2
    # with forgetting, one recent entry outweighs two old ones (weights decay**age)
    recent = [((0, 0), 2, 0), ((0, 0), 2, 1), ((0, 0), 1, 9)]
    assert hand_made_reservoir(1.0, recent).nearest_label((0, 0)) == 2
    assert hand_made_reservoir(0.5, recent).nearest_label((0, 0)) == 1
    # exact ties go to the lower prototype index, whatever the entry order
    assert hand_made_reservoir(1.0, [((2, 2), 2, 0), ((2, 2), 1, 1)]).nearest_label((2, 2)) == 1
    assert hand_made_reservoir(1.0, [((2, 2), 1, 0), ((2, 2), 2, 1)]).nearest_label((2, 2)) == 1
    # unlabelled entries (observed before the prototypes existed) do not vote
    assert hand_made_reservoir(1.0, [((0, 0), -1, 0), ((1, 0), 0, 1)]).nearest_label((0, 0)) == 0
    assert hand_made_reservoir(1.0, [((0, 0), -1, 0)]).nearest_label((0, 0)) == -1


def test_online_reservoir_ages_with_the_prototypes():
    space, data = gradient_stream(0, n=700)
    sampler = build_sampler("debiased-online", space, seed=0, k=N_CLUSTERS, proj_dim=DIM,
                            reservoir=200, decay=0.98, reseed=False)
    for arch, embedding in data:
        sampler.observe_embedding(arch, embedding)
    # the reservoir is the last 200 observations, weighted as the prototypes weigh them
    assert sorted(sampler.res_time.tolist()) == list(range(500, 700))
    age = 699 - sampler.res_time
    np.testing.assert_allclose(sampler.entry_weights(), 0.98 ** age)
    all_ages = 0.98 ** np.arange(700)
    assert sampler.prototypes.counts.sum() == pytest.approx(all_ages.sum(), rel=1e-9)
    assert sampler.entry_weights().sum() == pytest.approx(all_ages[:200].sum(), rel=1e-9)
    # without forgetting, a uniform sample of all observations (Algorithm R)
    flat = build_sampler("debiased-online", space, seed=0, k=N_CLUSTERS, proj_dim=DIM,
                         reservoir=64, decay=1.0, reseed=False)
    for arch, embedding in data:
        flat.observe_embedding(arch, embedding)
    assert np.all(flat.entry_weights() == 1.0)
    sd = np.sqrt((700 ** 2 - 1) / 12 / 64)  # of the mean observation index of 64 uniform ones
    assert abs(flat.res_time.mean() - 349.5) < 4 * sd
    assert flat.prototypes.counts.sum() == pytest.approx(700)


def test_online_memory_stays_bounded():
    space = get_space("mobilenet")

    def tensor_bytes(state):
        total = 0
        for value in state.values():
            if isinstance(value, dict):
                total += tensor_bytes(value)
            elif torch.is_tensor(value):
                total += value.numel() * value.element_size()
        return total

    for decay in (0.99, 1.0):
        sampler = build_sampler("debiased-online", space, seed=0, k=4, proj_dim=16, reservoir=32,
                                decay=decay, warmup_epochs=0)
        rng = np.random.default_rng(0)

        def observe(sampler, rng, n):
            for step in range(n):
                sampler.observe_embedding(sampler.sample(step), rng.normal(size=16))

        observe(sampler, rng, 200)
        sampler.on_epoch_end(0, None)
        small, small_state = sampler.state_nbytes(), tensor_bytes(sampler.state_dict())
        observe(sampler, rng, 2000)
        assert sampler.active and sampler.proposals > 2000
        assert sampler.state_nbytes() == small
        assert tensor_bytes(sampler.state_dict()) == small_state
        assert sampler.n_observed == 2200 and len(sampler.res_enc) == 32


# ----------------------------------------------------------------------------- resume


def driven_sampler(seed: int = 3):
    """Active after 30 observations; then draws are observed, as in training."""
    space, data = gradient_stream(seed, n=30, outliers=3)
    sampler = build_sampler("debiased-online", space, seed=seed, warmup_epochs=1, k=N_CLUSTERS,
                            proj_dim=DIM, refresh_every=7, tau=0.05)
    for arch, embedding in data:
        sampler.observe_embedding(arch, embedding)
    sampler.on_epoch_end(0, None)
    assert sampler.active
    return sampler


def drive(sampler, start: int, stop: int) -> list:
    """Draw, record and observe steps start..stop-1; embeddings depend on (arch, step) only."""
    basis = np.linalg.qr(np.random.default_rng(99).normal(size=(DIM, DIM)))[0]
    draws = []
    for step in range(start, stop):
        paths = sampler.paths(step)
        sampler.record(paths)
        arch = paths[0]
        noise = np.random.default_rng([step, 1]).normal(size=DIM) / np.sqrt(DIM)
        raw = basis[N_CLUSTERS] + 0.3 * basis[arch[0]] + 0.8 * noise
        sampler.observe_embedding(arch, raw / np.linalg.norm(raw))
        draws.append(paths)
    return draws


def test_online_resume_gives_identical_draws():
    sampler = driven_sampler()
    drive(sampler, 0, 40)
    state = roundtrip(sampler.state_dict())
    reseeded = sampler.prototypes.n_reseeded
    after = drive(sampler, 40, 400)
    assert sampler.prototypes.n_reseeded > reseeded  # re-seeding happens after the checkpoint
    assert sampler.rejected_per_label.sum() > 0  # so does the rejection step
    fresh = driven_sampler()
    drive(fresh, 0, 90)  # move its generators, reservoir and prototypes elsewhere
    fresh.load_state_dict(state)
    assert drive(fresh, 40, 400) == after
    assert fresh.counts == sampler.counts
    np.testing.assert_array_equal(fresh.prototypes.centers, sampler.prototypes.centers)
    assert json.dumps(fresh.audit(), sort_keys=True) == json.dumps(sampler.audit(), sort_keys=True)
    assert roundtrip(fresh.state_dict()).keys() == state.keys()


# ----------------------------------------------------------------------------- drawing and audit


def clustered_online_sampler(tau: float = 0.5, seed: int = 0):
    """9-arch space; the embedding of an arch depends on its first choice: 0 and 1 close, 2 far."""
    space = GridSpace((3, 3))
    sampler = build_sampler("debiased-online", space, seed=seed, warmup_epochs=1, k=3, proj_dim=8,
                            tau=tau, decay=1.0, init_size=90, refresh_every=10_000)
    rng = np.random.default_rng(0)
    centers = np.array([np.eye(8)[0], np.eye(8)[0] + 0.4 * np.eye(8)[1], 3 * np.eye(8)[2]])
    archs = list(space.enumerate())
    for _ in range(30):
        for arch in archs:
            sampler.observe_embedding(arch, centers[arch[0]] + 0.02 * rng.normal(size=8))
    return space, sampler


def test_online_low_density_prototypes_are_favoured_and_audited():
    space, sampler = clustered_online_sampler()
    snap = sampler.on_epoch_end(0, None)  # end of warm-up
    assert snap["active"] and snap["ready"] and snap["live_prototypes"] == 3
    accept = np.array(sampler.accept)
    labels = {arch[0]: sampler.nearest_label(arch) for arch in space.enumerate()}
    assert len(set(labels.values())) == 3  # the three clusters are three prototypes
    far = labels[2]
    assert np.argmin(snap["prototype_density"]) == far and accept[far] == 1.0
    n = 20_000
    drawn = [sampler.sample(i) for i in range(n)]
    sampler.record(drawn)  # as the runner does after each draw
    draws = Counter(arch[0] for arch in drawn)
    expected = np.array([accept[labels[c]] for c in range(3)])
    expected = expected / expected.sum()
    freq = np.array([draws[c] for c in range(3)]) / n
    assert freq[2] > freq[0] + 0.1 and freq[2] > freq[1] + 0.1
    assert np.max(np.abs(freq - expected)) < 0.02
    assert 0 < sampler.accepted <= sampler.proposals
    # observations drawn from the biased distribution count 1 / accept (uniform measure kept)
    assert sampler.observation_weight((2, 0)) == 1.0
    assert sampler.observation_weight((0, 1)) == pytest.approx(1 / accept[labels[0]])

    out = sampler.audit()
    assert out["proposals"] == sampler.proposals and out["accepted"] == sampler.accepted
    assert out["acceptance_rate"] == pytest.approx(sampler.accepted / sampler.proposals)
    assert out["acceptance_rate"] < 0.9
    assert out["live_prototypes"] == out["n_prototypes"] == 3
    # tilted or not rests on the realised draws (all made while the rejection step acted)
    assert out["tests"]["vs_uniform"]["n_draws"] == n
    assert out["tests"]["vs_uniform"]["p_value"] < 1e-6 and out["tests_debiasing"] is True
    assert out["verdict"].startswith("draws differ from uniform")
    assert out["tests"]["acceptance_by_prototype"]["p_value"] < 1e-6
    assert out["tests"]["vs_design"]["p_value"] > 1e-3  # acceptance as designed
    # the summary's per-code probabilities are those of the draws (every group holds 3 codes)
    dist = out["distribution"]
    assert dist["n_codes"] == 9 and dist["kl_from_uniform_nats"] > 0.01
    assert dist["p_max"] == pytest.approx(freq[2] / 3, abs=0.01)
    assert dist["p_min"] == pytest.approx(freq.min() / 3, abs=0.01)
    assert sum(out["prototype_share"]) == pytest.approx(1.0)
    json.dumps(out)


def test_online_audit_of_an_untilted_run_does_not_claim_debiasing():
    _, sampler = clustered_online_sampler(tau=1e9)
    sampler.on_epoch_end(0, None)
    for step in range(500):
        sampler.record([sampler.sample(step)])
    out = sampler.audit()
    assert out["acceptance_rate"] == 1.0 and out["proposals"] == 500
    assert out["tests_debiasing"] is False
    assert out["tests"]["vs_uniform"]["n_draws"] == 500
    assert out["tests"]["acceptance_by_prototype"]["reason"] == "every proposal was accepted"
    assert out["distribution"]["effective_fraction"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- gradients


def tiny_net(space: str = "nb-macro", size: int = 8):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_supernet(space, NetConfig(in_channels=1, width_mult=0.25, input_size=size))
    g = torch.Generator().manual_seed(0)
    probe = (torch.randn(16, 1, size, size, generator=g), torch.randint(0, 10, (16,), generator=g))
    train = [(torch.randn(16, 1, size, size, generator=g),
              torch.randint(0, 10, (16,), generator=g)) for _ in range(2)]
    return net, probe, train


def test_online_probe_embedding_is_the_probe_gradient_and_leaves_the_supernet_alone():
    from harness.density import GaussianProjection, gradient_features
    from harness.density.features import embed

    space = get_space("nb-macro")
    net, probe, train = tiny_net()
    sampler = build_sampler("debiased-online", space, seed=3, proj_dim=96, probe_images=8)
    arch, other = (2, 1, 2, 1, 0, 2, 1, 1), (0, 0, 1, 2, 2, 0, 1, 0)
    with pytest.raises(HarnessError, match="attach"):
        sampler.observe_gradients(0, arch, net)
    sampler.attach(net, probe, F.cross_entropy)
    assert sampler.probe_images_used == 8
    got = []
    for x, y in train:  # two training batches: their .grad must not matter
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, arch), y).backward()
        grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        bn = {n: b.clone() for n, b in net.named_buffers()}
        got.append(sampler.embed_probe(net, arch))
        sampler.observe_gradients(0, arch, net)
        assert {n: p.grad for n, p in net.named_parameters() if p.grad is not None}.keys() \
            == grads.keys()
        assert all(torch.equal(p.grad, grads[n]) for n, p in net.named_parameters()
                   if p.grad is not None)
        assert all(torch.equal(b, bn[n]) for n, b in net.named_buffers())
    np.testing.assert_array_equal(got[0], got[1])
    assert sampler.n_observed == 2
    feats = gradient_features(net, [arch], (probe[0][:8], probe[1][:8]), F.cross_entropy,
                              projection=GaussianProjection(3, 32))
    np.testing.assert_allclose(got[0], embed(feats)[0].double().numpy(), rtol=1e-4, atol=1e-6)
    assert np.linalg.norm(sampler.embed_probe(net, other) - got[0]) > 1e-3  # architectures differ


def test_online_train_embedding_is_the_training_gradient():
    from harness.density import GaussianProjection, gradient_features
    from harness.density.features import embed

    space = get_space("nb-macro")
    net, (x, y), _ = tiny_net()
    sampler = build_sampler("debiased-online", space, seed=3, proj_dim=96, embedding="train")
    arch = (2, 1, 2, 1, 0, 2, 1, 1)
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x, arch), y).backward()
    got = sampler.embed_gradients(net)
    feats = gradient_features(net, [arch], (x, y), F.cross_entropy,
                              projection=GaussianProjection(3, 32))
    np.testing.assert_allclose(got, embed(feats)[0].double().numpy(), rtol=1e-4, atol=1e-6)
    sampler.observe_gradients(0, arch, net)  # no probe needed
    assert sampler.n_observed == 1


def test_online_options_are_declared_with_help():
    described = {o["name"]: o for o in SAMPLERS.get("debiased-online").Options.describe()}
    for name, default in [("embedding", "probe"), ("probe_images", 32), ("center", True),
                          ("observe_every", 32), ("k", 8), ("dead_fraction", 0.1),
                          ("reseed", True)]:
        assert described[name]["default"] == default and described[name]["help"]
    assert described["embedding"]["choices"] == ["probe", "train"]
    space = get_space("pooling")
    with pytest.raises(HarnessError, match="did you mean 'probe'"):
        build_sampler("debiased-online", space, seed=0, embedding="prob")
    with pytest.raises(HarnessError, match="dead_fraction must be in"):
        build_sampler("debiased-online", space, seed=0, dead_fraction=1.0)
    with pytest.raises(HarnessError, match="probe_images must be"):
        build_sampler("debiased-online", space, seed=0, probe_images=0)


# ----------------------------------------------------------------------------- end to end


def test_debiased_online_end_to_end_on_mobilenet_resumes_bit_identically(tmp_path):
    cfg = RunConfig(space="mobilenet", sampler="debiased-online", dataset="fashion-mnist",
                    subset=256, resize=32, width_mult=0.25, net_options={"stem_stride": 1},
                    epochs=2, warmup_epochs=1, steps_per_epoch=3, batch_size=16,
                    sampler_options={"observe_every": 1, "k": 2, "init_size": 2, "tau": 0.05})
    run = RunDir(train_run(cfg, tmp_path / "run", progress=False))
    first = json.loads(run.snapshot_path(0).read_text())
    last = json.loads(run.snapshot_path(1).read_text())
    assert first["n_observed"] == 3 and last["n_observed"] == 6
    assert first["epochs"] == 2 and first["fraction_of_training"] == 0.5
    assert last["ready"] and last["active"] and last["fraction_of_training"] == 1.0
    assert last["embedding"] == "probe" and last["probe_images"] == 32
    assert len(last["prototype_density"]) == 2 and last["live_prototypes"] >= 1
    assert abs(sum(last["prototype_probability"]) - 1) < 1e-12
    assert last["proposals"] >= 3 and 0 < last["acceptance_rate"] <= 1
    assert last["distribution"]["n_codes"] == pytest.approx(get_space("mobilenet").size, rel=1e-12)
    audit = run.read_audit()
    assert audit["proposals"] == last["proposals"] and audit["n_prototypes"] == 2
    assert {"acceptance_rate", "live_prototypes", "distribution", "tests_debiasing",
            "verdict"} <= set(audit)
    assert audit["tests"]["acceptance_by_prototype"]["test"] == (
        "accepted vs rejected proposals per prototype")
    assert audit["tests"]["vs_uniform"]["test"].startswith("per-position choice marginals")

    other = RunDir(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, other.path, progress=False, stop_after_steps=4)  # killed inside epoch 2
    train_run(cfg, other.path, resume=True, progress=False)
    done = run.read_done()
    assert done is not None and other.read_done() == done
    assert (json.loads(other.snapshot_path(1).read_text()) == last)
    assert other.read_audit() == audit
