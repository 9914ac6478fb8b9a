"""The issue-2 CLI contract and its acceptance numbers, through click's runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from click.testing import CliRunner

from harness.cli.main import cli

REPO_RUNS = Path(__file__).resolve().parents[1] / "reports" / "cpu" / "runs"


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def run_json(*args):
    return json.loads(run(*args, "--json").stdout)


def test_gt_show_nb_macro(data_dir):
    summary = run_json("gt", "show", "nb-macro", "--data-dir", data_dir)
    assert summary["n_architectures"] == 6561
    assert summary["n_distinct"] == 3969
    assert summary["best_key"] == "22212220"
    assert round(summary["best_accuracy"], 2) == 93.13
    assert summary["worst_key"] == "00000000"
    assert summary["sha256"] == "686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297"


def test_gt_show_pooling(data_dir):
    summary = run_json("gt", "show", "pooling", "--data-dir", data_dir)
    assert summary["n_architectures"] == 36
    assert summary["n_distinct"] == 36
    assert summary["best_key"] == "0000000110"
    assert summary["best_accuracy"] == pytest.approx(92.01, abs=0.005)
    assert summary["worst_key"] == "0110000000"
    for field in ("name", "worst_accuracy", "sha256"):
        assert field in summary


def test_space_show_nb201():
    summary = run_json("space", "show", "nb201")
    assert (summary["name"], summary["size"], summary["n_distinct"]) == ("nb201", 15625, 6466)


def test_space_show_mobilenet_not_enumerable():
    summary = run_json("space", "show", "mobilenet")
    assert summary["size"] == 13**21 and summary["n_distinct"] is None


@pytest.mark.parametrize("kind", ["spaces", "benchmarks", "metrics"])
def test_ls_lists_registered_names(kind):
    names = {item["name"] for item in run_json("ls", kind)}
    expected = {
        "spaces": {"pooling", "nb-macro", "nb201", "mobilenet"},
        "benchmarks": {"pooling", "nb-macro", "nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"},
        "metrics": {"kendall_tau", "spearman", "pearson", "weighted_tau", "p_at_top_10pct"},
    }[kind]
    assert expected <= names


@pytest.fixture
def m1_predictions(data_dir, tmp_path):
    path = tmp_path / "m1.csv"
    run("gt", "export", "pooling", "--column", "published_M1_avg", "--out", path, "--data-dir", data_dir)
    return path


def test_correlate_published_m1_column_matches_scipy(data_dir, m1_predictions):
    out = run_json("correlate", m1_predictions, "--benchmark", "pooling", "--data-dir", data_dir)
    raw = pd.read_csv(data_dir / "pooling" / "resnet20_baselines_mixture.csv")
    tau = scipy.stats.kendalltau(raw["M1_avg"], raw["baseline_avg"]).statistic
    rho = scipy.stats.spearmanr(raw["M1_avg"], raw["baseline_avg"]).statistic
    assert out["n"] == 36
    assert abs(out["metrics"]["kendall_tau"]["value"] - tau) < 1e-9
    assert abs(out["metrics"]["spearman"]["value"] - rho) < 1e-9
    assert round(tau, 3) == 0.143 and round(rho, 3) == 0.233
    for name in ("kendall_tau", "spearman"):
        m = out["metrics"][name]
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
        assert m["ci_high"] - m["ci_low"] > 0.05  # 36 architectures cannot pin tau tightly
    top = out["metrics"]["p_at_top_10pct"]
    assert top["k_used"] == 4 and top["k_kind"] == "fraction"
    assert top["ci_low"] <= top["value"] <= top["ci_high"]


def test_correlate_accepts_other_key_forms(data_dir, m1_predictions, tmp_path):
    frame = pd.read_csv(m1_predictions, dtype={"key": str})
    truth = run_json("gt", "show", "pooling", "--data-dir", data_dir)
    assert truth["best_key"] in set(frame["key"])
    from harness.spaces import get_space

    space = get_space("pooling")
    frame["key"] = [f"id:{space.bench_id(space.parse(k))}" for k in frame["key"]]
    alt = tmp_path / "ids.csv"
    frame.to_csv(alt, index=False)
    a = run_json("correlate", m1_predictions, "-b", "pooling", "--data-dir", data_dir, "--bootstrap", 0)
    b = run_json("correlate", alt, "-b", "pooling", "--data-dir", data_dir, "--bootstrap", 0)
    assert a["metrics"]["kendall_tau"]["value"] == b["metrics"]["kendall_tau"]["value"]


def test_correlate_distinct_merges_equivalent_codes(data_dir, tmp_path):
    truth = json.loads((data_dir / "nb_macro" / "nas-bench-macro_cifar10.json").read_text())
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"key": list(truth), "score": rng.normal(size=len(truth))})
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    distinct = run_json("correlate", path, "-b", "nb-macro", "--data-dir", data_dir, "--bootstrap", 0,
                        "--metric", "kendall_tau")
    every = run_json("correlate", path, "-b", "nb-macro", "--data-dir", data_dir, "--bootstrap", 0,
                     "--metric", "kendall_tau", "--networks", "all")
    assert distinct["n"] == 3969 and every["n"] == 6561


# ---------------------------------------------------------------- bad input: one line, exit 2


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_missing_predictions_file(data_dir, tmp_path):
    missing = tmp_path / "nope.csv"
    assert_user_error(run("correlate", missing, "-b", "pooling", "--data-dir", data_dir, ok=False),
                      "nope.csv", "not found")


def test_missing_ground_truth_file(tmp_path):
    result = run("gt", "show", "pooling", "--data-dir", tmp_path, ok=False)
    assert_user_error(result, "resnet20_baselines_mixture.csv", "not found", "download")


def test_wrong_checksum(data_dir, tmp_path):
    shutil.copytree(data_dir / "pooling", tmp_path / "pooling")
    target = tmp_path / "pooling" / "resnet20_baselines_mixture.csv"
    target.chmod(0o644)
    target.write_text(target.read_text().replace("92.01", "99.99"))
    assert_user_error(run("gt", "show", "pooling", "--data-dir", tmp_path, ok=False),
                      "wrong checksum", "resnet20_baselines_mixture.csv")


def test_truncated_ground_truth_json_is_caught(data_dir, tmp_path):
    (tmp_path / "nb_macro").mkdir()
    source = (data_dir / "nb_macro" / "nas-bench-macro_cifar10.json").read_text()
    (tmp_path / "nb_macro" / "nas-bench-macro_cifar10.json").write_text(source[: len(source) // 2])
    assert_user_error(run("gt", "show", "nb-macro", "--data-dir", tmp_path, ok=False),
                      "nas-bench-macro_cifar10.json")


def test_truncated_json_parse_error_names_position(tmp_path):
    from harness.benchmarks.published import parse_nb_macro_json
    from harness.errors import DataFileError

    path = tmp_path / "t.json"
    path.write_text('{"00000000": {"mean_acc": 45.3, "std": 0.1, "test_')
    with pytest.raises(DataFileError, match="truncated or malformed JSON"):
        parse_nb_macro_json(path, "fix it")


@pytest.mark.parametrize(
    "content,fragment",
    [
        ("", "empty"),
        ("key,score\n", "no rows"),
        ('key,score\n"0000100100,1.0\n0000000110,2\n', "malformed CSV"),
        ("name,value\n0000100100,1\n", "missing column"),
        ("key,score\n0000100100,1\n0000000110,nan\n0110000000,3\n", "NaN"),
        ("key,score\n0000100100,1\n0000000110,1\n0110000000,1\n", "constant"),
        ("key,score\n0000100100,1\n0000000111,2\n0110000000,3\n", "not pooling architectures"),
        ("key,score\n0000100100,1\n\"[4,3,3]\",2\n0110000000,3\n", "more than once"),
    ],
)
def test_bad_predictions(data_dir, tmp_path, content, fragment):
    path = tmp_path / "scores.csv"
    path.write_text(content)
    result = run("correlate", path, "-b", "pooling", "--data-dir", data_dir, ok=False)
    assert_user_error(result, fragment)


def test_predictions_not_in_benchmark(data_dir, tmp_path):
    # A benchmark over 5 architectures, predictions over 36: say how many and show a few.
    from harness.benchmarks import load_benchmark

    truth = load_benchmark("pooling", data_dir).frame.head(5)
    table_dir = tmp_path / "pooling-fmnist"
    table_dir.mkdir()
    truth.to_csv(table_dir / "pooling-fmnist.csv", index=False)
    shutil.copytree(data_dir / "pooling", tmp_path / "pooling")
    pred = tmp_path / "scores.csv"
    pd.DataFrame({"key": load_benchmark("pooling", data_dir).frame["key"],
                  "score": np.arange(36.0)}).to_csv(pred, index=False)
    result = run("correlate", pred, "-b", "pooling-fmnist", "--data-dir", tmp_path, ok=False)
    assert_user_error(result, "31 of 36", "pooling-fmnist", "--intersect")
    ok = run_json("correlate", pred, "-b", "pooling-fmnist", "--data-dir", tmp_path, "--intersect",
                  "--bootstrap", 0)
    assert ok["n"] == 5


def test_unknown_benchmark_suggests_closest(data_dir, m1_predictions):
    result = run("correlate", m1_predictions, "-b", "nb-makro", "--data-dir", data_dir, ok=False)
    assert_user_error(result, "unknown benchmark 'nb-makro'", "did you mean 'nb-macro'")


def test_unknown_space_suggests_closest():
    assert_user_error(run("space", "show", "pooilng", ok=False), "did you mean 'pooling'")


def test_python_dash_m_entry_point(data_dir):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "harness", "space", "show", "pooling", "--json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["size"] == 36


# ---------------------------------------------------------------- exit codes


def test_internal_error_prints_traceback_and_exits_3(monkeypatch):
    import harness.spaces

    def broken(name):
        raise RuntimeError("boom")

    monkeypatch.setattr(harness.spaces, "get_space", broken)
    result = run("space", "show", "pooling", ok=False)
    assert result.exit_code == 3, result.output
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    from harness import __version__

    assert last == (f"internal error (nas-harness {__version__}): please report it at the project's "
                    "issue tracker with the command line above")


def test_keyboard_interrupt_exits_130_quietly(monkeypatch):
    import harness.spaces

    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness.spaces, "get_space", interrupted)
    result = run("space", "show", "pooling", ok=False)
    assert result.exit_code == 130
    assert result.output.strip() == ""


def test_click_usage_errors_stay_exit_2():
    result = run("correlate", "x.csv", "--no-such-option", ok=False)
    assert result.exit_code == 2 and "No such option" in result.stderr
    result = run("correlate", "x.csv", "-b", "pooling", "--bootstrap", "many", ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_check_regression_still_exits_1_and_user_errors_2(tmp_path):
    summary = tmp_path / "r" / "summary.json"
    summary.parent.mkdir()
    summary.write_text(json.dumps({"m": {"value": 0.1, "per_seed": [0.1, 0.12, 0.09]}}))
    baseline = tmp_path / "b.json"
    baseline.write_text(json.dumps({"format": 2, "profile": "smoke", "metrics": {
        "m": {"per_seed": [0.5, 0.52, 0.49], "value": 0.503}}}))
    assert run("check", "--baseline", baseline, "--results", summary.parent, ok=False).exit_code == 1
    baseline.write_text(json.dumps({"format": 2, "profile": "smoke", "metrics": {}}))
    result = run("check", "--baseline", baseline, "--results", summary.parent, ok=False)
    assert_user_error(result, "no metrics")


# ---------------------------------------------------------------- strict JSON, notes, modes


def test_correlate_json_is_strict_and_says_why_a_value_is_null(data_dir, m1_predictions):
    result = run("correlate", m1_predictions, "-b", "pooling", "--data-dir", data_dir, "--json",
                 "--metric", "kd_at_top_1", "--metric", "kendall_tau", "--bootstrap", 50)
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    out = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    undefined = out["metrics"]["kd_at_top_1"]
    assert undefined["value"] is None and undefined["ci_low"] is None
    assert "undefined" in undefined["note"] and "Kendall tau" in undefined["note"]
    assert "note" not in out["metrics"]["kendall_tau"]
    table = run("correlate", m1_predictions, "-b", "pooling", "--data-dir", data_dir,
                "--metric", "kd_at_top_1", "--bootstrap", 0).stdout
    assert "undefined" in table


def test_gt_export_file_gets_the_umask_mode(data_dir, m1_predictions):
    from harness.io import new_file_mode

    assert m1_predictions.stat().st_mode & 0o777 == new_file_mode()
    assert not [p for p in m1_predictions.parent.iterdir() if p.name.startswith(".")]


def test_gt_convert_refuses_before_touching_disk(tmp_path):
    # A missing file: one line, no pickle note, no folder made.
    result = run("gt", "convert", "nb201", tmp_path / "none.pth", "--data-dir", tmp_path / "d",
                 ok=False)
    assert_user_error(result, "file not found")
    assert not (tmp_path / "d").exists()


# ---------------------------------------------------------------- bootstrap progress


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeStream:
    def __init__(self, tty=False):
        self.text = ""
        self.tty = tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return self.tty


def test_bootstrap_progress_plain_lines_at_a_bounded_rate():
    from harness.cli.output import BootstrapProgress

    clock, stream = FakeClock(), FakeStream(tty=False)
    progress = BootstrapProgress(always=True, stream=stream, clock=clock)
    total = 120_000
    for done in range(1, total + 1):
        clock.now = done * 0.001  # 120 s of work
        progress(done, total)
    progress(total, total)  # a second "finished" call prints nothing more
    lines = stream.text.splitlines()
    assert "\r" not in stream.text
    assert len(lines) <= 120 / 10 + 2, lines
    assert lines[0].startswith("bootstrap ") and "elapsed" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith(f"bootstrap {total} of {total}") and "done in 2m00s" in lines[-1]
    times = [float(done) * 0.001 for done in (int(line.split()[1]) for line in lines[:-1])]
    assert all(b - a >= 9.99 for a, b in zip(times, times[1:])), times


def test_bootstrap_progress_quiet_for_short_work_and_redraws_on_a_terminal():
    from harness.cli.output import BootstrapProgress

    clock, stream = FakeClock(), FakeStream(tty=False)
    quiet = BootstrapProgress(always=False, stream=stream, clock=clock)
    for done in range(1, 1001):
        clock.now = done * 0.002  # 2 s: short
        quiet(done, 1000)
    assert stream.text == ""
    clock, stream = FakeClock(), FakeStream(tty=True)
    live = BootstrapProgress(always=True, stream=stream, clock=clock)
    for done in range(1, 5001):
        clock.now = done * 0.001
        live(done, 5000)
    assert stream.text.count("\r") >= 2 and stream.text.endswith("done in 5s\n")


def test_long_correlate_shows_progress_on_stderr(data_dir, m1_predictions):
    result = run("correlate", m1_predictions, "-b", "pooling", "--data-dir", data_dir,
                 "--metric", "spearman", "--bootstrap", 2000)
    assert "bootstrap 2000 of 2000" in result.stderr and "done in" in result.stderr
    assert "spearman" in result.stdout and "bootstrap" not in result.stdout


@pytest.mark.parametrize("text, seeds", [("0,1", (0, 1)), ("0-3", (0, 1, 2, 3)),
                                         ("2, 0-1,2", (2, 0, 1)), ("7", (7,))])
def test_parse_seeds_lists_and_ranges(text, seeds):
    from harness.cli.options import parse_seeds

    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "x", "3-1", "-1", "0,,a", "1-2-3"])
def test_parse_seeds_rejects_with_one_clear_error(text):
    from harness.cli.options import parse_seeds
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="--seeds"):
        parse_seeds(text)


def test_runs_show_prints_plain_text_not_python_reprs():
    archived = sorted(REPO_RUNS.glob("pooling-uniform-s0-*"))[0]
    text = run("runs", "show", archived).output
    for repr_only in ("None", "True", "False", "{'", "['"):
        assert repr_only not in text, (repr_only, text)
    assert "last log line: epoch" in text
    assert json.loads(run("runs", "show", archived, "--json").stdout)["config"]["seed"] == 0


def test_correlate_names_the_k_of_each_top_k_metric(tmp_path, data_dir):
    frame = pd.read_csv(REPO_RUNS.parents[2] / "benchmarks_data" / "pooling-fmnist" /
                        "pooling-fmnist.csv", dtype={"key": str})
    pd.DataFrame({"key": frame["key"], "score": frame["accuracy"]}).to_csv(tmp_path / "p.csv",
                                                                          index=False)
    text = run("correlate", tmp_path / "p.csv", "-b", "pooling-fmnist", "--bootstrap", 0).output
    assert "kd_at_top_5pct (K=2 of 36)" in text and "p_at_top_20pct (K=8 of 36)" in text


def test_ls_lists_every_registry_with_a_description():
    from harness.cli.ls import KINDS

    listing = run_json("ls")
    assert set(listing) == set(KINDS) and len(KINDS) == 16
    for kind, items in listing.items():
        assert items, kind
        for item in items:
            text = item.get("description") or item.get("definition") or ""
            assert item["name"] and text.strip(), (kind, item)
