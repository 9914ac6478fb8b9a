"""The issue-2 CLI contract and its acceptance numbers, through click's runner."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from click.testing import CliRunner

from harness.cli.main import cli


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
    path = tmp_path / "pred.csv"
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
    path = tmp_path / "pred.csv"
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
    pred = tmp_path / "pred.csv"
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
