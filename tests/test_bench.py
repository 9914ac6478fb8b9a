"""`nas-harness bench`: structure of the sections and the overhead arithmetic (no timing asserts:
speed targets are measured by the bench command, never asserted in tests)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.perf import run_sections
from harness.perf.density_overhead import (
    fit_to_batch,
    online_overhead_fraction,
    overhead_fraction,
    recompute_count,
    steps_per_epoch,
    warmup_tracking_count,
)


def test_gt_load_rows_have_load_times(data_dir):
    rows = run_sections(["gt-load"], data_dir=data_dir)["gt-load"]
    by_name = {row["benchmark"]: row for row in rows}
    for name in ("pooling", "nb-macro"):
        row = by_name[name]
        assert row["status"] == "ok"
        assert isinstance(row["load_s"], float) and row["load_s"] >= 0
        assert isinstance(row["meets_target"], bool)
    assert all("status" in row for row in rows)
    for name in ("nb201-cifar10", "nb201-cifar10-valid", "nb201-cifar100", "nb201-imagenet16"):
        row = by_name[name]
        assert row["status"] == "ok" and row["rows"] == 15625
        assert 0 < row["peak_mb"] and 0 < row["first_load_s"] and row["target_mb"] == 200.0


def test_correlate_nb201_section_times_all_cells(data_dir):
    from harness.perf import SECTIONS

    run_sections(["gt-load"], data_dir="/nonexistent")  # registers every section
    (row,) = SECTIONS.get("correlate-nb201")(data_dir=data_dir, quick=True, resamples=4)
    assert row["n"] == 15625 and row["resamples"] == 4 and row["seconds"] > 0
    assert 0.2 < row["kendall_tau"] < 0.7  # a noisy predictor of the real table


def test_bench_cli_prints_valid_json(data_dir):
    from harness.cli.main import cli

    result = CliRunner().invoke(cli, ["bench", "--only", "gt-load", "--json",
                                      "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report) == ["gt-load"]
    assert {"pooling", "nb-macro"} <= {row["benchmark"] for row in report["gt-load"]}


def test_overhead_fraction_hand_worked():
    # 4 recomputes of 10 s against 100 steps of 2 s: 40 / (200 + 40) = 1/6.
    assert overhead_fraction(2.0, 10.0, 100, 4) == pytest.approx(1 / 6)
    assert overhead_fraction(2.0, 10.0, 100, 0) == 0.0
    assert overhead_fraction(0.0, 0.0, 0, 0) == 0.0


def test_online_overhead_fraction_hand_worked():
    # 1000 steps of 1 s; 100 observations of 0.5 s, 10 refreshes of 2 s, 1000 draws of 0.01 s:
    # 80 / 1080.  With 5 epoch-end refreshes: 90 / 1090.
    assert online_overhead_fraction(1.0, 0.5, 2.0, 0.01, 1000, 10, 100) == pytest.approx(80 / 1080)
    assert online_overhead_fraction(1.0, 0.5, 2.0, 0.01, 1000, 10, 100, epochs=5) == \
        pytest.approx(90 / 1090)


def test_schedule_counts():
    assert steps_per_epoch(25_000, 512) == 48  # the runner drops the last partial batch
    assert steps_per_epoch(25_000, 512, drop_last=False) == 49
    assert recompute_count(300, 50, 1) == 250  # end of epochs 50..299 (1-based): none after 300
    assert recompute_count(300, 50, 1, track=True) == 251  # tracked densities: 300 too
    assert recompute_count(70, 20, 5) == 10  # 20, 25, ..., 65
    assert recompute_count(10, 0, 3) == 3
    assert warmup_tracking_count(300, 50, True) == 49
    assert warmup_tracking_count(300, 50, False) == 0


@pytest.mark.parametrize("warmup, every, track", [(3, 2, False), (0, 3, False), (4, 1, True)])
def test_recompute_count_matches_the_sampler(warmup, every, track):
    from harness.samplers.base import EpochContext
    from harness.samplers.debiased import DebiasedSampler
    from harness.spaces import get_space

    sampler = DebiasedSampler(get_space("pooling"), 0, warmup_epochs=warmup,
                              recompute_every=every, distance="hamming", figure_archs=0,
                              track_density_during_warmup=track)
    epochs = 10
    computed = 0
    for epoch in range(epochs):
        context = EpochContext(epoch=epoch, epochs=epochs, supernet=None, probe_batch=(None, None),
                               train_batch=(None, None), loss_fn=None, device="cpu", run_dir=None)
        computed += sampler.on_epoch_end(epoch, context)["computed"]
    assert computed == (recompute_count(epochs, warmup, every, track)
                        + warmup_tracking_count(epochs, warmup, track))


def test_recompute_budget_arithmetic():
    from harness.perf.density_overhead import (
        max_recomputes_within,
        overhead_fraction,
        smallest_period_within,
    )

    # 1000 steps of 1 s, recomputes of 10 s: 10% allows R with 10 R / (1000 + 10 R) <= 0.1
    assert max_recomputes_within(0.10, 1.0, 10.0, 1000) == 11
    assert overhead_fraction(1.0, 10.0, 1000, 11) <= 0.10 < overhead_fraction(1.0, 10.0, 1000, 12)
    # 100 epochs after a 0-epoch warm-up: every 9 epochs gives 11 recomputes, every 8 gives 12
    assert smallest_period_within(0.10, 1.0, 10.0, 1000, 100, 0) == 9
    # a single recompute worth 200 steps exceeds 10% of 1000 steps at any period
    assert smallest_period_within(0.10, 1.0, 200.0, 1000, 100, 0) is None


def test_fit_to_batch():
    assert fit_to_batch([128, 256], [1.0, 2.0], 512)[0] == pytest.approx(4.0)
    assert fit_to_batch([128, 256], [1.5, 2.0], 512)[0] == pytest.approx(3.0)  # intercept 1.0
    assert fit_to_batch([64], [1.0], 128)[0] == pytest.approx(2.0)
    assert fit_to_batch([128, 256], [2.0, 1.0], 512)[0] == pytest.approx(2.0)  # noise: scaled
    value, how = fit_to_batch([512, 256], [3.0, 1.0], 512)
    assert value == 3.0 and "measured" in how


OFFLINE_KEYS = {"space", "config", "shape", "t_step_ms", "t_step_batch", "t_step_how", "t_feat_ms",
                "t_density_ms", "recomputes", "steps_total", "overhead_fraction", "target",
                "meets_target", "overhead_with_diagnostics", "probe", "n_archs_computed"}
ONLINE_KEYS = {"space", "config", "shape", "t_step_ms", "t_observe_ms", "t_refresh_ms",
               "t_draw_ms", "steps_total", "overhead_fraction", "target", "meets_target",
               "overhead_worst_case"}


def test_density_overhead_section_tiny():
    rows = run_sections(["density-overhead"], spaces=("pooling",), online_spaces=("mobilenet",),
                        n_archs=2, repeats=1, step_batches=(8, 16), probe_sizes=(512, 128),
                        online_batch=4, input_size=8, width_mult=0.25)["density-overhead"]
    offline = [row for row in rows if row["sampler"] == "debiased"]
    online = [row for row in rows if row["sampler"] == "debiased-online"]
    assert offline and online
    # old and new defaults side by side
    assert {row["features"] for row in offline} == {"old", "new", "new-all-grad"}
    assert any(row["config"].startswith("old defaults") for row in offline)
    new = next(row for row in offline if row["config"].startswith("new defaults"))
    # 250 epochs after warm-up, every 10: 25 recomputes (none after the last epoch, since the
    # default no longer tracks densities the run will not use)
    assert new["probe"] == 512 and new["recompute_every"] == 10 and new["recomputes"] == 25
    assert new["feature_dims"][0] == 3 * 9 * 4  # the stem: 3x3 conv, 3 -> 4 channels at width 0.25
    for row in offline:
        assert OFFLINE_KEYS <= set(row), OFFLINE_KEYS - set(row)
        assert row["space"] == "pooling" and row["n_archs_computed"] == 36
        assert row["t_step_batch"] == 512 and row["steps_total"] == 300 * 48
        assert row["probe"] in (128, 512)
        assert row["recomputes"] in (250, 50, 25)  # no tracking by default: none after the end
        period = row["smallest_period_within_target"]
        assert period is None or row["max_recomputes_within_target"] >= 1
    for row in online:
        assert ONLINE_KEYS <= set(row), ONLINE_KEYS - set(row)
        assert row["space"] == "mobilenet" and row["target"] == 0.02
    for row in rows:
        assert 0.0 <= row["overhead_fraction"] <= 1.0
        assert isinstance(row["meets_target"], bool)
        assert row["meets_target"] == (row["overhead_fraction"] <= row["target"])
        json.dumps(row)


def test_ratio_spread_is_the_quartiles_of_per_repeat_ratios():
    from harness.perf.train_step import ratio_spread

    spread = ratio_spread([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    assert (spread["ratio_q25"], spread["ratio_median"], spread["ratio_q75"]) == (2.0, 3.0, 4.0)
    # Per-repeat pairing: a repeat slowed on both sides (drift) does not move its ratio.
    assert ratio_spread([1.0, 10.0, 1.0], [1.0, 10.0, 1.0])["ratio_median"] == 1.0


def test_train_step_and_pooling_eval_sections_report_ratios():
    from harness.perf import SECTIONS, run_sections

    run_sections(["gt-load"], data_dir="/nonexistent")  # registers every section
    rows = SECTIONS.get("train-step")(quick=True, batch_size=4, spaces=("pooling", "nb-macro"))
    assert [r["space"] for r in rows] == ["pooling", "nb-macro"]
    for row in rows:
        assert row["ratio_q25"] <= row["ratio_median"] <= row["ratio_q75"]
        assert row["ratio_median"] > 0 and row["supernet_step_ms"] > 0 and row["target"] == 1.05
        assert row["repeats"] == 9 and row["meets_target"] == (row["ratio_median"] <= 1.05)
        assert row["supernet_images_per_s"] == pytest.approx(4 / row["supernet_step_ms"] * 1e3,
                                                             rel=0.01)
    (row,) = SECTIONS.get("eval-pooling")(quick=True, images=4)
    assert row["archs"] == 36 and row["ratio"] > 0 and row["target"] == 1.2
