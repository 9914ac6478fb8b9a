"""Table 6 on a fraction-of-training axis, with the epoch-0 row and a reference that is never a row."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from harness.experiments import paper, spec
from harness.experiments.tables import table6
from harness.rundir import RunDir


def test_table6_epochs_map_the_paper_onto_fractions():
    assert paper.table6_epochs("paper") == {e: e for e in paper.PAPER_TABLE6_EPOCHS}
    cpu = paper.table6_epochs("cpu")
    assert cpu[0] == 0 and cpu[300] == 66 and cpu[50] == 11 and cpu[100] == 22
    (run,) = spec.runs_for("table6", "smoke")[:1]
    cfg = run.config
    assert cfg.epochs == 4 and cfg.warmup_epochs == 4 and cfg.lr_schedule == "constant"
    assert cfg.sampler_options.track_epochs == [0, 1, 2, 3]
    assert len(spec.runs_for("table6", "cpu")) >= 3  # at least three seeds


def test_table6_rows_mean_interval_and_epoch_zero(tmp_path):
    rng = np.random.default_rng(0)
    keys = [f"{i:010b}" for i in range(36)]
    results = []
    expected = {}
    for seed in range(3):
        rd = RunDir(tmp_path / f"run{seed}")
        final = rng.random(36)
        for epoch in (-1, 0, 1, 2, 3):  # snapshot epochs; 3 is the end of the 4-epoch run
            density = final if epoch == 3 else final + rng.normal(0, 1.0 / (epoch + 2.5), 36)
            rd.write_snapshot(epoch, {"epoch": epoch, "keys": keys, "density": list(density)})
            if epoch < 3:
                expected.setdefault(epoch + 1, []).append(
                    scipy.stats.spearmanr(density, final).statistic)
        results.append({"seed": seed, "run_dir": str(rd.path)})
    frame = table6(results, "smoke", tmp_path)
    # smoke: length 3 -> paper epochs 0-50 map to 0 epochs here, 100 to 1, 200 to 2, 300 to 3
    assert set(frame["epochs"]) == {0, 1, 2, 3}  # the reference (4 epochs) is never a row
    assert set(frame["convergence_epoch"]) == {4}
    rows = frame.drop_duplicates(["seed", "epochs"]).sort_values(["epochs", "seed"])
    for here in (0, 1, 2, 3):
        got = rows[rows["epochs"] == here]["spearman"].tolist()
        assert got == pytest.approx(expected[here])
    text = (tmp_path / "table6.md").read_text()
    assert "Convergence: the density after 4 epochs" in text and "| 0 | 0.000 | 0 | 3 |" in text


def test_cpu_table6_records_figure_2_on_the_first_seed_at_the_tracked_epochs():
    runs = spec.runs_for("table6", "cpu")
    first, *others = [r.config.sampler_options for r in runs]
    tracked = sorted(set(paper.table6_epochs("cpu").values()))
    assert first.figure_archs == 64
    assert first.figure_epochs == sorted(set(tracked) | {runs[0].config.epochs})
    assert all(o.figure_archs == 0 for o in others) and len(others) >= 2
    assert all(o.track_epochs == tracked for o in [first, *others])
