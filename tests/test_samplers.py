"""Samplers: statistical properties of the draws, fairness, density-aware sampling, resumability."""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from harness.errors import HarnessError
from harness.nets import NetConfig, build_supernet
from harness.rundir import RunDir
from harness.samplers import SAMPLERS, EpochContext, build_sampler
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


class EvenSumSpace(GridSpace):
    """A constrained test space: choices sum to an even number."""

    def is_valid(self, arch):
        return super().is_valid(arch) and sum(arch) % 2 == 0

    @property
    def size(self):
        return sum(1 for a in itertools.product(*map(range, self.n_choices)) if self.is_valid(a))


def tiny_context(space: str, epoch: int = 0, size: int = 8) -> EpochContext:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_supernet(space, NetConfig(in_channels=1, width_mult=0.25, input_size=size))
    g = torch.Generator().manual_seed(0)
    probe = (torch.randn(16, 1, size, size, generator=g), torch.randint(0, 10, (16,), generator=g))
    train = (torch.randn(16, 1, size, size, generator=g), torch.randint(0, 10, (16,), generator=g))
    return EpochContext(epoch=epoch, epochs=10, supernet=net, probe_batch=probe,
                        train_batch=train, loss_fn=F.cross_entropy, device=torch.device("cpu"),
                        run_dir=None)


def roundtrip(state: dict) -> dict:
    stream = io.BytesIO()
    torch.save(state, stream)
    stream.seek(0)
    return torch.load(stream, weights_only=True)


def test_all_samplers_registered():
    assert {"uniform", "fairnas", "debiased", "debiased-online"} <= set(SAMPLERS.names())


# ----------------------------------------------------------------------------- uniform


def test_uniform_marginals_chisquare():
    sampler = build_sampler("uniform", get_space("nb-macro"), seed=0)
    draws = np.array([sampler.sample(i) for i in range(100_000)])
    for pos in range(8):
        counts = np.bincount(draws[:, pos], minlength=3)
        assert chisquare(counts).pvalue > 1e-3, (pos, counts)
    # the test has power: a 34/33/33 split over 1e5 draws is rejected
    biased = np.random.default_rng(1).choice(3, 100_000, p=[0.34, 0.33, 0.33])
    assert chisquare(np.bincount(biased)).pvalue < 1e-3

    space = get_space("pooling")
    sampler = build_sampler("uniform", space, seed=1)
    keys = Counter(space.key(sampler.sample(i)) for i in range(36_000))
    assert set(keys) == {space.key(a) for a in space.enumerate()}
    assert chisquare([keys[space.key(a)] for a in space.enumerate()]).pvalue > 1e-3


# ----------------------------------------------------------------------------- fairnas


def test_fairnas_strict_fairness_every_step():
    space = get_space("nb-macro")
    sampler = build_sampler("fairnas", space, seed=0)
    per_choice = Counter()
    previous = None
    for step in range(200):
        paths = sampler.paths(step)
        assert len(paths) == 3 and all(space.is_valid(p) for p in paths)
        for pos in range(8):
            assert sorted(p[pos] for p in paths) == [0, 1, 2]
            per_choice.update((pos, p[pos]) for p in paths)
        assert paths != previous  # fresh permutations at every step
        previous = paths
    assert set(per_choice.values()) == {200} and len(per_choice) == 24


def test_fairnas_cycles_positions_with_fewer_choices_and_rejects_constrained_spaces():
    sampler = build_sampler("fairnas", GridSpace((2, 3, 5)), seed=0)
    for step in range(50):
        paths = sampler.paths(step)
        assert len(paths) == 5
        for pos, n in enumerate((2, 3, 5)):
            counts = Counter(p[pos] for p in paths)
            assert set(counts) == set(range(n))
            assert set(counts.values()) <= {5 // n, -(-5 // n)}
    with pytest.raises(HarnessError, match="strict fairness"):
        build_sampler("fairnas", EvenSumSpace((2, 2, 2)), seed=0)


def test_fairnas_pooling_relaxation():
    space = get_space("pooling")
    sampler = build_sampler("fairnas", space, seed=0)
    seen = Counter()
    for step in range(2000):
        paths = sampler.paths(step)
        assert len(paths) == 9 and all(space.is_valid(p) for p in paths)
        assert np.array(paths).sum(0).tolist() == [2] * 9  # each layer pooled in exactly 2 paths
        seen.update(space.key(p) for p in paths)
    assert len(seen) == 36
    assert chisquare(list(seen.values())).pvalue > 1e-3  # every path marginally uniform


def test_fairnas_one_optimizer_step_per_m_paths(tmp_path, monkeypatch):
    steps = []
    original = torch.optim.SGD.step

    def counting_step(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", counting_step)
    cfg = RunConfig(space="nb-macro", sampler="fairnas", dataset="fashion-mnist", subset=256,
                    resize=16, width_mult=0.25, epochs=1, steps_per_epoch=2, batch_size=32)
    run = train_run(cfg, tmp_path / "run", progress=False)
    assert len(steps) == 2  # not 2 * 3
    counts = RunDir(run).read_done()["sampling_counts"]
    assert sum(counts.values()) == 6
    per_choice = Counter()
    for key, n in counts.items():
        per_choice.update({(pos, c): n for pos, c in enumerate(key)})
    assert set(per_choice.values()) == {2}  # each choice of each layer once per step


# ----------------------------------------------------------------------------- debiased


def test_figure_epochs_records_figure_2_only_at_those_epochs_and_keeps_old_hashes():
    from harness.samplers import resolve_sampler_options
    from harness.train.config import resolve_config

    space = get_space("pooling")
    sampler = build_sampler("debiased", space, seed=0, warmup_epochs=4, figure_archs=4,
                            figure_epochs=[2])
    ctx = tiny_context("pooling")
    recorded = {epoch: bool(sampler.on_epoch_end(epoch, ctx)["per_layer_mean_distance_probe"])
                for epoch in range(3)}
    assert recorded == {0: False, 1: True, 2: False}  # epoch 1 = 2 epochs completed
    # Added after runs were cached: left out of the recorded options at its default, so
    # every earlier run keeps its config hash; set, it is recorded and named in the hash.
    assert "figure_epochs" not in resolve_sampler_options("debiased", {})
    assert resolve_sampler_options("debiased", {"figure_epochs": [2]})["figure_epochs"] == [2]
    plain = resolve_config("pooling", "smoke", sampler="debiased")
    explicit = resolve_config("pooling", "smoke", sampler="debiased",
                              sampler_options={"figure_epochs": None})
    sparse = resolve_config("pooling", "smoke", sampler="debiased",
                            sampler_options={"figure_epochs": [2]})
    assert plain.hash() == explicit.hash() != sparse.hash()


def test_debiased_warmup_then_draws_follow_probabilities():
    space = get_space("pooling")
    sampler = build_sampler("debiased", space, seed=0, warmup_epochs=2, figure_archs=8,
                            tau=0.05, track_density_during_warmup=None)  # null: on for 36 networks
    assert sampler.recompute_every_for(10) == 1 and sampler.track_warmup  # short run: every epoch
    assert not build_sampler("debiased", space, seed=0, warmup_epochs=2).track_warmup  # default
    assert sampler.recompute_every_for(300) == 11  # (300 - 2) // 25
    ctx = tiny_context("pooling")
    snap = sampler.on_epoch_end(0, ctx)  # warm-up: tracked, not used
    assert not sampler.active and snap["computed"] and len(snap["density"]) == 36
    every_tensor = {name for name, _ in ctx.supernet.weight_tensors()}
    assert set(snap["per_layer_mean_distance_probe"]) == every_tensor  # Figure 2: all tensors
    assert "layers.0.conv.weight" in every_tensor  # the stem is one of them
    assert all(0 < v < 2 for v in snap["per_layer_mean_distance_train"].values())
    # the density uses the stem and blocks 1-3, one tensor at a time
    assert snap["feature_tensors"] == ["layers.0.conv.weight"] + [
        f"layers.{i}.conv{j}.weight" for i in (1, 2, 3) for j in (1, 2)]
    assert set(snap["feature_mean_distance"]) == set(snap["feature_tensors"])
    assert len(snap["figure_keys"]) == 8
    snap = sampler.on_epoch_end(1, ctx)  # end of warm-up: active
    assert sampler.active and snap["active"]
    p = np.array(snap["probability"])
    assert abs(p.sum() - 1) < 1e-12
    alpha = np.array(snap["density"])
    order = np.argsort(alpha)
    assert np.all(np.diff(p[order]) <= 0) and p.max() > 2 * p.min()  # lower density, higher P
    draws = Counter(space.key(sampler.sample(i)) for i in range(20_000))
    observed = [draws.get(k, 0) for k in snap["keys"]]
    assert chisquare(observed, 20_000 * p).pvalue > 1e-3


def test_debiased_large_tau_is_uniform_over_codes():
    space = get_space("nb-macro")
    sampler = build_sampler("debiased", space, seed=0, warmup_epochs=1, tau=1e9,
                            distance="hamming", figure_archs=0)
    sampler.on_epoch_end(0, tiny_context("nb-macro"))
    code_p = np.array(sampler.class_probs) / sampler.sizes
    assert np.max(np.abs(code_p - 1 / 6561)) < 1e-6
    assert abs(sum(sampler.class_probs) - 1) < 1e-12


@pytest.mark.parametrize("draw", ["codes", "classes"])
def test_debiased_equivalent_codes_share_density(draw):
    space = get_space("nb-macro")
    sampler = build_sampler("debiased", space, seed=0, warmup_epochs=1, tau=0.1, max_archs=24,
                            figure_archs=0, draw=draw)
    snap = sampler.on_epoch_end(0, tiny_context("nb-macro"))
    assert len(snap["density"]) == 24 and len(set(snap["density"])) > 1
    classes = {}
    for arch in space.enumerate():
        classes.setdefault(space.canonical(arch), []).append(arch)
    big = [members for members in classes.values() if len(members) > 1]
    assert len(big) > 100
    for members in big[:200]:
        probs = {sampler.code_probability(a) for a in members}
        assert len(probs) == 1  # every code of one network has the same probability
    total = sum(sampler.code_probability(a) for a in space.enumerate())
    assert abs(total - 1) < 1e-9
    # a network that was not computed takes the density of its nearest computed one (Hamming)
    computed = [sampler.classes[i] for i in sampler.computed]
    for i in (0, 500, 3000):
        nearest = min(computed, key=lambda c: (space.hamming(sampler.classes[i], c),
                                               computed.index(c)))
        j = sampler.classes.index(nearest)
        if draw == "codes":  # per code: softmax over codes of the class logit
            assert sampler.class_probs[i] / sampler.sizes[i] == pytest.approx(
                sampler.class_probs[j] / sampler.sizes[j], rel=1e-12)
        else:  # each network once: softmax over classes
            assert sampler.class_probs[i] == pytest.approx(sampler.class_probs[j], rel=1e-12)


@pytest.mark.parametrize("options", [
    {"distance": "cka", "estimator": "kde", "mapping": "rank"},
    {"distance": "cosine", "estimator": "kde", "bandwidth": 0.3, "mapping": "neg_log_density",
     "normalize": None, "proj_dim": 16, "layers": ["layers.2", "layers.5"]},
    {"distance": "hamming", "mapping": "inverse_density", "draw": "classes"},
])
def test_debiased_option_variants_give_valid_monotone_probabilities(options):
    sampler = build_sampler("debiased", get_space("pooling"), seed=0, warmup_epochs=1,
                            figure_archs=4, tau=0.5, **options)
    snap = sampler.on_epoch_end(0, tiny_context("pooling"))
    p, alpha = np.array(snap["probability"]), np.array(snap["density"])
    assert sampler.active and abs(p.sum() - 1) < 1e-12 and np.all(np.isfinite(p))
    assert np.all(alpha > 0)
    if options["distance"] == "hamming":  # every pooling arch has the same Hamming profile
        assert np.allclose(alpha, alpha[0]) and np.allclose(p, 1 / 36)
    else:
        assert len(set(alpha.round(12))) > 1
    order = np.argsort(alpha, kind="stable")
    assert np.all(np.diff(p[order]) <= 1e-15)
    if "layers" in options:  # module prefixes select every weight tensor below them
        assert snap["feature_tensors"] == ["layers.2.conv1.weight", "layers.2.conv2.weight",
                                           "layers.5.conv1.weight", "layers.5.conv2.weight"]


def test_debiased_rejects_unknown_options_and_non_enumerable_spaces():
    with pytest.raises(HarnessError, match="did you mean 'tau'"):
        build_sampler("debiased", get_space("pooling"), seed=0, tua=3)
    with pytest.raises(HarnessError, match="debiased-online"):
        build_sampler("debiased", get_space("mobilenet"), seed=0)
    with pytest.raises(HarnessError, match="unknown option"):
        build_sampler("fairnas", get_space("nb-macro"), seed=0, tau=3)
    sampler = build_sampler("debiased", get_space("pooling"), seed=0, layers=["layers.99"])
    ctx = tiny_context("pooling")
    with pytest.raises(HarnessError, match="no weight tensor matches 'layers.99'.*valid names: "
                                           "layers.0.conv.weight, layers.1.conv1.weight"):
        sampler.attach(ctx.supernet, ctx.probe_batch, ctx.loss_fn)


@pytest.mark.parametrize("name, raw, message", [
    ("debiased", {"tau": "abc"}, "tau='abc' must be a number"),
    ("debiased", {"tau": 0}, "tau must be a finite number > 0"),
    ("debiased", {"tau": -1.5}, "tau must be a finite number > 0"),
    ("debiased", {"tau": float("inf")}, "tau must be a finite number > 0"),
    ("debiased", {"recompute_every": 0}, "recompute_every must be a finite number >= 1"),
    ("debiased", {"recompute_every": 1.5}, "must be an integer or null"),
    ("debiased", {"mapping": "neg_densty"}, "did you mean 'neg_density'"),
    ("debiased", {"distinct_only": "yes"}, "must be true or false"),
    ("debiased", {"feature_set": "stem"}, "is not one of null, shared, early"),
    ("debiased", {"bandwidth": "wide"}, "bandwidth must be 'median' or a number"),
    ("debiased-online", {"tau": "abc"}, "tau='abc' must be a number"),
    ("debiased-online", {"tua": 1}, "did you mean 'tau'"),
    ("uniform", {"tau": 0.5}, "takes no options"),
    ("fairnas", {"m": 3}, "takes no options"),
])
def test_bad_options_are_one_clear_error(name, raw, message):
    with pytest.raises(HarnessError, match=message):
        build_sampler(name, get_space("pooling" if name != "fairnas" else "nb-macro"), seed=0,
                      **raw)


def test_options_declared_once_feed_parsing_help_and_hash():
    from harness.samplers import resolve_sampler_options
    from harness.train.config import resolve_config

    resolved = resolve_sampler_options("debiased", {"tau": "0.5"})
    assert resolved["tau"] == 0.5 and resolved["normalize"] is None  # literal eq. 8 by default
    described = {o["name"]: o for o in SAMPLERS.get("debiased").Options.describe()}
    # Help lists every parsed option; the recorded (hashed) options leave out only those added
    # after runs were cached, while at their default (figure_epochs, probe_batches).
    assert set(described) - set(resolved) == {"figure_epochs", "probe_batches"}
    assert set(resolved) <= set(described)
    assert described["tau"]["default"] == 7.0 and described["tau"]["help"]
    # the recorded options are the resolved ones: an explicit default names the same run
    a = resolve_config("pooling", "smoke", sampler="debiased", sampler_options={"tau": 7})
    b = resolve_config("pooling", "smoke", sampler="debiased")
    c = resolve_config("pooling", "smoke", sampler="debiased", sampler_options={"tau": 6.9})
    assert a.hash() == b.hash() != c.hash()
    assert a.sampler_options.to_dict() == resolved | {"tau": 7.0}
    assert a.sampler_options.tau == 7.0 and isinstance(a.sampler_options.tau, float)  # typed
    with pytest.raises(HarnessError, match="did you mean 'tau'"):
        resolve_config("pooling", "smoke", sampler="debiased", sampler_options={"tua": 0.5})
    with pytest.raises(HarnessError, match="takes no options"):
        resolve_config("pooling", "smoke", sampler="uniform", sampler_options={"tua": 0.5})


# ----------------------------------------------------------------------------- debiased-online


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


# ----------------------------------------------------------------------------- resumability


def make_active(name: str):
    if name == "uniform":
        return build_sampler("uniform", get_space("nb-macro"), seed=5)
    if name == "fairnas":
        return build_sampler("fairnas", get_space("nb-macro"), seed=5)
    if name == "debiased":
        sampler = build_sampler("debiased", get_space("pooling"), seed=5, warmup_epochs=1,
                                figure_archs=2, tau=0.1)
        sampler.on_epoch_end(0, tiny_context("pooling"))
        assert sampler.active
        return sampler
    _, sampler = clustered_online_sampler(seed=5)
    sampler.on_epoch_end(0, None)
    assert sampler.active
    return sampler


@pytest.mark.parametrize("name", ["uniform", "fairnas", "debiased", "debiased-online"])
def test_state_dict_round_trip_gives_identical_draws(name):
    sampler = make_active(name)

    def draw(s, start):
        out = []
        for step in range(start, start + 50):
            paths = s.paths(step)
            s.record(paths)
            out.append(paths)
        return out

    draw(sampler, 0)
    state = roundtrip(sampler.state_dict())
    after = draw(sampler, 50)
    fresh = make_active(name)
    draw(fresh, 0)
    draw(fresh, 200)  # move its generator and counts elsewhere
    fresh.load_state_dict(state)
    assert draw(fresh, 50) == after
    assert fresh.counts == sampler.counts
    assert roundtrip(fresh.state_dict()).keys() == state.keys()


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def pooling_run(tmp_path_factory):
    cfg = RunConfig(space="pooling", sampler="debiased", dataset="fashion-mnist", subset=512,
                    resize=16, width_mult=0.25, epochs=3, warmup_epochs=1, steps_per_epoch=3,
                    batch_size=32, probe_size=64, sampler_options={"figure_archs": 8,
                                                         "track_density_during_warmup": None})
    root = tmp_path_factory.mktemp("debiased")
    return cfg, train_run(cfg, root / "run", progress=False)


def test_debiased_end_to_end_writes_density_snapshots(pooling_run):
    _, run = pooling_run
    rd = RunDir(run)
    snaps = rd.snapshot_files()
    # epoch -1: the untrained supernet's density (tracked: 36 networks), before any draw
    assert snaps == [rd.snapshot_path(epoch) for epoch in (-1, 0, 1, 2)]
    start = json.loads(snaps[0].read_text())
    assert start["epoch"] == -1 and not start["active"] and len(start["density"]) == 36
    for path in snaps[1:]:
        snap = json.loads(path.read_text())
        assert snap["active"] and len(snap["keys"]) == 36
        assert len(snap["density"]) == 36 and all(a > 0 for a in snap["density"])
        assert abs(sum(snap["probability"]) - 1) < 1e-9
        assert "layers.0.conv.weight" in snap["per_layer_mean_distance_train"]
        assert sum(snap["sample_counts"].values()) == 3 * (snap["epoch"] + 1)
        # the default is the literal eq. 8: per-code P = softmax(-alpha / tau) of the snapshot
        alpha = np.array(snap["density"])
        expected = np.exp(-alpha / 7.0) / np.exp(-alpha / 7.0).sum()
        np.testing.assert_allclose(snap["probability"], expected, rtol=0, atol=1e-9)
        assert snap["distribution"]["n_codes"] == 36


def test_debiased_resume_replays_draws(pooling_run, tmp_path):
    cfg, run = pooling_run
    other = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, other, progress=False, stop_after_steps=7)  # killed inside epoch 2
    train_run(cfg, other, resume=True, progress=False)
    done = RunDir(run).read_done()
    assert done is not None and RunDir(other).read_done() == done
    last = json.loads(RunDir(run).snapshot_path(2).read_text())
    again = json.loads(RunDir(other).snapshot_path(2).read_text())
    assert again["probability"] == last["probability"]


def test_probe_of_k_batches_accumulates_gradients_and_measures_alpha_reliability():
    """Two copies of one batch: the accumulated gradient is twice the single batch's, so the
    density is the one-batch density exactly, and the two halves agree perfectly (reliability
    1). Two different batches: the reliability is the Spearman-Brown corrected agreement of the
    halves' densities, computed here by hand."""
    import dataclasses

    import scipy.stats

    from harness.samplers import resolve_sampler_options

    context = tiny_context("pooling")
    options = resolve_sampler_options("debiased", {"figure_archs": 0})
    one = build_sampler("debiased", get_space("pooling"), 0, **options)
    alpha_one, _ = one.compute_density(context)
    assert one.last_reliability is None
    two = build_sampler("debiased", get_space("pooling"), 0,
                        **{**options, "probe_batches": 2})
    assert two.probe_batches_wanted == 2
    same = dataclasses.replace(context, probe_batches=(context.probe_batch, context.probe_batch))
    alpha_two, _ = two.compute_density(same)
    np.testing.assert_allclose(alpha_two, alpha_one, rtol=1e-5)
    assert two.last_reliability["reliability"] == pytest.approx(1.0)
    assert two.last_reliability["probe_images"] == 32
    other = dataclasses.replace(context, probe_batches=(context.probe_batch, context.train_batch))
    two.compute_density(other)
    first = one.compute_density(context)[0]
    second = one.compute_density(dataclasses.replace(context, probe_batch=context.train_batch))[0]
    r = scipy.stats.spearmanr(first, second).statistic
    assert two.last_reliability["split_half_spearman"] == pytest.approx(r, abs=1e-6)
    assert two.last_reliability["reliability"] == pytest.approx(2 * r / (1 + r), abs=1e-6)
