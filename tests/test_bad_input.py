"""Bad input through the real CLI: exit 2, one line "error: ...", no traceback, nothing left behind.

`test_bad_input` walks one table of cases (`CASES`, ids per case) through `harness.cli.main.cli`
with click's runner (a few through `python -m harness` in a subprocess). For each it asserts:
exit code 2, the output is a single line starting with "error:", no "Traceback" anywhere, and no
file or folder at the case's --out path (nor any other path the case names).

Below the table: unit tests of the atomic writes (umask mode, one-line write errors, no leftovers)
and of strict JSON.
"""

from __future__ import annotations

import builtins
import errno
import fractions
import http.client
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from harness.cli.main import cli
from harness.io import sha256_of
from harness.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
POOLING_FMNIST = REPO / "benchmarks_data" / "pooling-fmnist"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class Ctx:
    """What a case's setup gets: a scratch folder, monkeypatch, the published data, a trained run."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    data_dir: Path
    request: pytest.FixtureRequest
    left_behind: list[Path] = field(default_factory=list)  # paths that must not exist afterwards

    def run_dir(self) -> Path:
        """A copy of a tiny finished run (trained once per module)."""
        source = self.request.getfixturevalue("trained_run")
        target = self.tmp / "run"
        shutil.copytree(source, target)
        return target

    def deny_open(self, path: Path, exc: OSError) -> None:
        """open(path) raises exc (a real chmod when not root; root reads anything)."""
        real_open = builtins.open

        def fake_open(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.fspath(file) == os.fspath(path):
                raise exc
            return real_open(file, *args, **kwargs)

        self.monkeypatch.setattr(builtins, "open", fake_open)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def pooling_predictions(ctx: Ctx) -> Path:
    frame = pd.read_csv(POOLING_FMNIST / "pooling-fmnist.csv", dtype={"key": str})
    scores = np.random.default_rng(0).normal(size=len(frame))
    path = ctx.tmp / "scores.csv"
    pd.DataFrame({"key": frame["key"], "score": scores}).to_csv(path, index=False)
    return path


def generated_table(ctx: Ctx, edit, with_record: bool = True) -> Path:
    """A copy of the committed pooling-fmnist table in a data dir, its CSV lines edited."""
    folder = ctx.tmp / "data" / "pooling-fmnist"
    folder.mkdir(parents=True)
    lines = (POOLING_FMNIST / "pooling-fmnist.csv").read_text().splitlines()
    write(folder / "pooling-fmnist.csv", "\n".join(edit(lines)) + "\n")
    if with_record:
        shutil.copy(POOLING_FMNIST / "pooling-fmnist.json", folder / "pooling-fmnist.json")
    return ctx.tmp / "data"


def correlate_generated(ctx: Ctx, edit, with_record: bool = True) -> list:
    data = generated_table(ctx, edit, with_record)
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--data-dir", data,
            "--bootstrap", 0]


def set_accuracy(lines: list[str], row: int, value: str) -> list[str]:
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index("accuracy")] = value
    return lines[:row] + [",".join(cells)] + lines[row + 1:]


def results_dir(ctx: Ctx, summary) -> Path:
    folder = ctx.tmp / "reports" / "smoke"
    write(folder / "summary.json", json.dumps(summary))
    return folder


GOOD_SUMMARY = {"table3/pooling/uniform/kendall": {"value": 0.4, "n_seeds": 3, "std": 0.02}}


def check_with_baseline(ctx: Ctx, baseline) -> list:
    path = write(ctx.tmp / "baseline.json", baseline if isinstance(baseline, (str, bytes))
                 else json.dumps(baseline))
    return ["check", "--baseline", path, "--results", results_dir(ctx, GOOD_SUMMARY)]


class FakeResponse:
    """A requests answer (what pooch's downloader reads) that announces `length` bytes and sends
    `body`, then maybe fails."""

    def __init__(self, body: bytes, length: int, fail: Exception | None = None):
        self.headers = {"content-length": str(length)}
        self._body = body
        self._fail = fail

    def raise_for_status(self) -> None:
        return None

    def iter_content(self, chunk_size=1024):
        yield self._body
        if self._fail is not None:
            raise self._fail


def fetch_case(ctx: Ctx, opener) -> list:
    data = ctx.tmp / "data"
    ctx.monkeypatch.setattr("requests.get", opener)
    ctx.monkeypatch.setattr("pooch.core.time.sleep", lambda _seconds: None)  # no retry waits
    ctx.left_behind += [data / "pooling" / "resnet20_baselines_mixture.csv", data / "pooling"]
    return ["gt", "fetch", "pooling-results", "--data-dir", data]


# ---------------------------------------------------------------- the cases
# Each setup returns the command line; `out` (relative to the scratch folder) must not exist after.


def c_correlate_folder(ctx):
    (ctx.tmp / "preds").mkdir()
    return ["correlate", ctx.tmp / "preds", "-b", "pooling"]


def c_correlate_binary(ctx):
    rng = np.random.default_rng(1)
    return ["correlate", write(ctx.tmp / "scores.csv", b"\x00" + rng.bytes(4000)), "-b", "pooling"]


def c_correlate_checkpoint_file(ctx):
    torch.save({"w": torch.zeros(64)}, ctx.tmp / "scores.csv")
    return ["correlate", ctx.tmp / "scores.csv", "-b", "pooling"]


def c_correlate_permission_denied(ctx):
    path = pooling_predictions(ctx)
    if IS_ROOT:
        ctx.deny_open(path, PermissionError(errno.EACCES, "Permission denied", str(path)))
    else:
        path.chmod(0)
        ctx.request.addfinalizer(lambda: path.chmod(0o644))
    return ["correlate", path, "-b", "pooling-fmnist", "--bootstrap", 0]


def c_correlate_oserror(ctx):
    path = pooling_predictions(ctx)
    ctx.deny_open(path, OSError(errno.EIO, "Input/output error", str(path)))
    return ["correlate", path, "-b", "pooling-fmnist", "--bootstrap", 0]


def c_correlate_seed_negative(ctx):
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--seed", -1]


def c_correlate_bootstrap_huge(ctx):
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--bootstrap", 10**12]


def c_correlate_bootstrap_negative(ctx):
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--bootstrap", -5]


def c_correlate_bootstrap_one(ctx):
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--bootstrap", 1]


def c_correlate_unknown_metric_before_reading(ctx):
    # The metric name is checked before the (missing) predictions file is read.
    return ["correlate", ctx.tmp / "missing.csv", "-b", "pooling-fmnist", "--metric", "kendal"]


def c_generated_non_numeric(ctx):
    return correlate_generated(ctx, lambda lines: set_accuracy(lines, 3, "abc"), with_record=False)


def c_generated_duplicate_key(ctx):
    return correlate_generated(ctx, lambda lines: lines + [lines[1]], with_record=False)


def c_generated_cut_short(ctx):
    return correlate_generated(ctx, lambda lines: lines[:-6])


def c_generated_edited(ctx):
    return correlate_generated(ctx, lambda lines: set_accuracy(lines, 5, "99.5"))


def c_generated_no_checksum(ctx):
    args = correlate_generated(ctx, lambda lines: lines)
    record_path = ctx.tmp / "data" / "pooling-fmnist" / "pooling-fmnist.json"
    record = json.loads(record_path.read_text())
    del record["csv_sha256"]
    record_path.write_text(json.dumps(record))
    return args


def c_nb201_duplicate_key(ctx):
    key = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    rows = "\n".join(f"{k},{acc},0.1,2,1e6,1e8,cifar10,test,200" for k, acc in
                     [(key, 90.0), ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10.0),
                      (key, 91.0)])
    header = "key,accuracy,accuracy_std,n_seeds,params,flops,dataset,split,epochs"
    write(ctx.tmp / "data" / "nb201" / "nb201-cifar10.csv", f"{header}\n{rows}\n")
    return ["gt", "show", "nb201-cifar10", "--data-dir", ctx.tmp / "data"]


def c_export_unwritable_folder(ctx):
    locked = ctx.tmp / "locked"
    locked.mkdir()
    out = locked / "new" / "m1.csv"
    ctx.left_behind.append(locked / "new")
    if IS_ROOT:  # root writes anywhere: the OS's refusal is simulated where the file is created
        def refuse(*_args, **_kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(locked / "new"))

        ctx.monkeypatch.setattr("harness.io.tempfile.mkstemp", refuse)
    else:
        locked.chmod(0o555)
        ctx.request.addfinalizer(lambda: locked.chmod(0o755))
    return ["gt", "export", "pooling", "--column", "published_M1_avg", "--out", out,
            "--data-dir", ctx.data_dir]


def c_export_under_a_file(ctx):
    write(ctx.tmp / "afile", "x")
    return ["gt", "export", "pooling", "--column", "published_M1_avg", "--out",
            ctx.tmp / "afile" / "sub" / "m1.csv", "--data-dir", ctx.data_dir]


def c_export_out_is_a_folder(ctx):
    (ctx.tmp / "outdir").mkdir()
    return ["gt", "export", "pooling", "--column", "published_M1_avg", "--out", ctx.tmp / "outdir",
            "--data-dir", ctx.data_dir]


def c_export_unknown_column(ctx):
    return ["gt", "export", "pooling", "--column", "nope", "--out", ctx.tmp / "out" / "m1.csv",
            "--data-dir", ctx.data_dir]


def c_export_unknown_benchmark(ctx):
    return ["gt", "export", "poolng", "--out", ctx.tmp / "out" / "m1.csv", "--data-dir", ctx.data_dir]


def c_check_list(ctx):
    return check_with_baseline(ctx, [1, 2, 3])


def c_check_list_with_metrics_string(ctx):
    return check_with_baseline(ctx, ["metrics"])


def c_check_metrics_not_dict(ctx):
    return check_with_baseline(ctx, {"format": 2, "profile": "smoke", "metrics": [0.4, 0.1]})


def c_check_entry_not_per_seed(ctx):
    return check_with_baseline(ctx, {"format": 2, "profile": "smoke", "metrics": {
        "table3/pooling/uniform/kendall": {"per_seed": ["high", 0.2]}}})


def c_check_entry_nan(ctx):
    return check_with_baseline(ctx, json.dumps({"format": 2, "profile": "smoke", "metrics": {
        "table3/pooling/uniform/kendall": {"per_seed": [float("nan"), 0.2]}}}))


def c_check_old_format(ctx):
    return check_with_baseline(ctx, {"profile": "smoke", "metrics": {
        "table3/pooling/uniform/kendall": {"value": 0.4, "tolerance": 0.05}}})


def c_check_entry_is_number(ctx):
    return check_with_baseline(ctx, {"format": 2, "profile": "smoke",
                                     "metrics": {"table3/pooling/uniform/kendall": 0.4}})


def c_check_no_metrics(ctx):
    return check_with_baseline(ctx, {"format": 2, "profile": "smoke", "metrics": {}})


def c_check_binary_baseline(ctx):
    return check_with_baseline(ctx, b"\xff\xfe\x00\x01" * 64)


def c_check_summary_wrong_shape(ctx):
    baseline = write(ctx.tmp / "baseline.json", json.dumps({"format": 2, "profile": "smoke",
                                                            "metrics": {"a": {"per_seed": [0.4]}}}))
    return ["check", "--baseline", baseline, "--results", results_dir(ctx, [0.4])]


def c_check_update_nothing_to_record(ctx):
    results = results_dir(ctx, {"table3/pooling/uniform/kendall": {"value": None}})
    return ["check", "--baseline", ctx.tmp / "out" / "smoke.json", "--results", results, "--update"]


def c_fetch_incomplete_read(ctx):
    import requests

    fail = requests.exceptions.ChunkedEncodingError(http.client.IncompleteRead(b"x" * 10, 990))
    return fetch_case(ctx, lambda *a, **k: FakeResponse(b"x" * 10, 1000, fail))


def c_fetch_short_body(ctx):
    return fetch_case(ctx, lambda *a, **k: FakeResponse(b"key,score\n1,", 5000))


def c_fetch_url_error(ctx):
    import requests

    def offline(*_a, **_k):
        raise requests.exceptions.ConnectionError(
            OSError(errno.ENETUNREACH, "Network is unreachable"))

    return fetch_case(ctx, offline)


def c_fetch_reset_midway(ctx):
    import requests

    fail = requests.exceptions.ConnectionError(
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
    return fetch_case(ctx, lambda *a, **k: FakeResponse(b"x" * 100, 1000, fail))


def c_checkpoint_random_bytes(ctx):
    run = ctx.run_dir()
    RunDir(run).checkpoint_path.write_bytes(np.random.default_rng(2).bytes(5000))
    return ["evaluate", run, "--archs", "all", "--out", ctx.tmp / "out" / "scores.csv", "--quiet"]


def c_checkpoint_refused_pickle(ctx):
    run = ctx.run_dir()
    # A real torch file whose pickle holds a class weights_only does not allow.
    torch.save({"rng": {}, "epoch": 0, "extra": fractions.Fraction(1, 3)},
               RunDir(run).checkpoint_path)
    return ["evaluate", run, "--archs", "all", "--out", ctx.tmp / "out" / "scores.csv", "--quiet"]


def c_evaluate_malformed_keys(ctx):
    keys = write(ctx.tmp / "keys.txt", "0000100100\n[1,2\nnot-a-key\n")
    return ["evaluate", ctx.run_dir(), "--archs", keys, "--out", ctx.tmp / "out" / "scores.csv"]


def c_evaluate_binary_keys(ctx):
    keys = write(ctx.tmp / "keys.csv", b"\x00\x01" + np.random.default_rng(3).bytes(500))
    return ["evaluate", ctx.run_dir(), "--archs", keys, "--out", ctx.tmp / "out" / "scores.csv"]


def c_evaluate_unwritable_out(ctx):
    keys = write(ctx.tmp / "keys.txt", "0000100100\n0000000110\n0110000000\n")
    write(ctx.tmp / "afile", "x")
    ctx.left_behind.append(ctx.tmp / "afile" / "sub")
    return ["evaluate", ctx.run_dir(), "--archs", keys, "--out", ctx.tmp / "afile" / "sub" / "scores.csv"]


def train_args(ctx, *extra):
    return ["train", "--space", "pooling", "--profile", "smoke", "--epochs", 1, "--steps-per-epoch",
            1, "--out", ctx.tmp / "out", "--quiet", *extra]


def c_train_tau_not_a_number(ctx):
    return train_args(ctx, "--sampler", "debiased", "--sampler-option", "tau=abc")


def c_train_tau_zero(ctx):
    return train_args(ctx, "--sampler", "debiased", "--sampler-option", "tau=0")


def c_train_unknown_layer(ctx):
    return train_args(ctx, "--sampler", "debiased", "--sampler-option", 'layers=["nope"]')


def c_train_probe_larger_than_split(ctx):
    return train_args(ctx, "--sampler", "debiased", "--subset", 200, "--batch-size", 32)


def c_reproduce_seed_not_in_design(ctx):
    return ["reproduce", "table3", "--profile", "cpu", "--seeds", "99", "--out", ctx.tmp / "out",
            "--runs-dir", ctx.tmp / "runs"]


def c_reproduce_seeds_malformed(ctx):
    ctx.left_behind.append(ctx.tmp / "runs")
    return ["reproduce", "table3", "--profile", "cpu", "--seeds", "0,x", "--out", ctx.tmp / "out",
            "--runs-dir", ctx.tmp / "runs"]


# (id, setup, fragments the error line must contain, --out relative to the scratch folder,
#  how to run: "cli" | "subprocess", marks)
CASES = [
    ("correlate-folder", c_correlate_folder, ["is a folder"], None, "subprocess", ()),
    ("correlate-binary", c_correlate_binary, ["binary file"], None, "cli", ()),
    ("correlate-checkpoint-as-csv", c_correlate_checkpoint_file, ["binary file"], None, "cli", ()),
    ("correlate-permission-denied", c_correlate_permission_denied, ["ermission denied"], None,
     "cli", ()),
    ("correlate-oserror-reading", c_correlate_oserror, ["Input/output error"], None, "cli", ()),
    ("correlate-seed-negative", c_correlate_seed_negative, ["--seed -1"], None, "cli", ()),
    ("correlate-bootstrap-1e12", c_correlate_bootstrap_huge, ["--bootstrap 1000000000000",
                                                              "100000"], None, "cli", ()),
    ("correlate-bootstrap-negative", c_correlate_bootstrap_negative, ["--bootstrap -5"], None,
     "cli", ()),
    ("correlate-bootstrap-1", c_correlate_bootstrap_one, ["--bootstrap 1:"], None, "cli", ()),
    ("correlate-unknown-metric-first", c_correlate_unknown_metric_before_reading,
     ["unknown metric 'kendal'"], None, "cli", ()),
    ("generated-non-numeric-accuracy", c_generated_non_numeric, ["accuracy", "non-numeric"], None,
     "cli", ()),
    ("generated-duplicate-key", c_generated_duplicate_key, ["more than one row"], None, "cli", ()),
    ("generated-cut-short", c_generated_cut_short, ["cut short", "records 36"], None, "cli", ()),
    ("generated-edited", c_generated_edited, ["wrong checksum"], None, "cli", ()),
    ("generated-no-checksum", c_generated_no_checksum, ["csv_sha256"], None, "cli", ()),
    ("nb201-duplicate-key", c_nb201_duplicate_key, ["more than one row"], None, "cli", ()),
    ("export-unwritable-folder", c_export_unwritable_folder, ["cannot write", "locked"],
     "locked/new/m1.csv", "cli", ()),
    ("export-under-a-file", c_export_under_a_file, ["cannot write", "afile"],
     "afile/sub/m1.csv", "cli", ()),
    ("export-out-is-a-folder", c_export_out_is_a_folder, ["is a folder"], None, "cli", ()),
    ("export-unknown-column", c_export_unknown_column, ["no column 'nope'"], "out", "cli", ()),
    ("export-unknown-benchmark", c_export_unknown_benchmark, ["did you mean 'pooling'"], "out",
     "cli", ()),
    ("check-baseline-list", c_check_list, ["not a baseline", "list"], None, "subprocess", ()),
    ("check-baseline-list-with-metrics", c_check_list_with_metrics_string, ["not a baseline"],
     None, "cli", ()),
    ("check-metrics-not-dict", c_check_metrics_not_dict, ["'metrics' is a list"], None, "cli", ()),
    ("check-entry-bad-value", c_check_entry_not_per_seed, ["per_seed ['high', 0.2]"], None, "cli",
     ()),
    ("check-entry-nan", c_check_entry_nan, ["per_seed [nan, 0.2]"], None, "cli", ()),
    ("check-old-format", c_check_old_format, ["format 1"], None, "cli", ()),
    ("check-entry-is-number", c_check_entry_is_number, ["is a float"], None, "cli", ()),
    ("check-no-metrics", c_check_no_metrics, ["no metrics"], None, "cli", ()),
    ("check-binary-baseline", c_check_binary_baseline, ["not a UTF-8 JSON file"], None, "cli", ()),
    ("check-summary-wrong-shape", c_check_summary_wrong_shape, ["summary.json", "list"], None,
     "cli", ()),
    ("check-update-nothing-to-record", c_check_update_nothing_to_record, ["no metric with finite per-seed"],
     "out", "cli", ()),
    ("fetch-incomplete-read", c_fetch_incomplete_read, ["could not download",
                                                        "ChunkedEncodingError"], None, "cli", ()),
    ("fetch-short-body", c_fetch_short_body, ["does not match its sha256", "3 attempts"], None,
     "cli", ()),
    ("fetch-url-error", c_fetch_url_error, ["could not download", "ConnectionError"], None, "cli",
     ()),
    ("fetch-reset-midway", c_fetch_reset_midway, ["could not download"], None, "cli", ()),
    ("checkpoint-random-bytes", c_checkpoint_random_bytes, ["not a harness checkpoint"], "out",
     "cli", ()),
    ("checkpoint-refused-pickle", c_checkpoint_refused_pickle, ["not a harness checkpoint"], "out",
     "cli", ()),
    ("evaluate-malformed-key-file", c_evaluate_malformed_keys, ["keys.txt"], "out", "cli", ()),
    ("evaluate-binary-key-file", c_evaluate_binary_keys, ["keys.csv"], "out", "cli", ()),
    ("evaluate-unwritable-out", c_evaluate_unwritable_out, ["afile"], "afile/sub/scores.csv", "cli",
     ()),
    ("train-tau-not-a-number", c_train_tau_not_a_number, ["tau"], "out", "cli", ()),
    ("train-tau-zero", c_train_tau_zero, ["tau"], "out", "cli", ()),
    ("train-unknown-layer", c_train_unknown_layer, ["nope", "layers.0.conv.weight"], "out", "cli",
     ()),
    ("train-probe-larger-than-split", c_train_probe_larger_than_split, ["probe_size"], "out", "cli",
     ()),
    ("reproduce-seed-not-in-design", c_reproduce_seed_not_in_design, ["no run of table3",
                                                                      "seed 99"], "out", "cli", ()),
    ("reproduce-seeds-malformed", c_reproduce_seeds_malformed, ["--seeds '0,x'"], "out", "cli",
     ()),
]


# ---------------------------------------------------------------- every option, at the edge
# Issue 20's battery: each bad value of a run option is refused by RunConfig or the trainer's
# validate_run before any folder exists; path options that name a file where a folder is meant
# (or the reverse) are one line, not click's usage block; damaged run files are refused.


def train_option(*extra):
    def setup(ctx):
        return train_args(ctx, "--warmup-epochs", 0, *extra)
    return setup


def afile(ctx) -> Path:
    return write(ctx.tmp / "afile", "not a folder")


def c_train_out_is_a_file(ctx):
    return ["train", "--space", "pooling", "--out", afile(ctx)]


def c_train_data_root_is_a_file(ctx):
    return train_args(ctx, "--warmup-epochs", 0, "--data-root", afile(ctx))


def c_train_threads_beyond_cores(ctx):
    return train_args(ctx, "--warmup-epochs", 0, "--threads", (os.cpu_count() or 1) + 1)


def c_correlate_data_dir_is_a_file(ctx):
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--data-dir", afile(ctx)]


def c_report_out_is_a_file(ctx):
    return ["report", "--profile", "smoke", "--out", afile(ctx)]


def c_reproduce_out_is_a_file(ctx):
    return ["reproduce", "table3", "--out", afile(ctx), "--runs-dir", ctx.tmp / "runs"]


def c_reproduce_runs_dir_is_a_file(ctx):
    return ["reproduce", "table3", "--runs-dir", afile(ctx), "--out", ctx.tmp / "out"]


def c_evaluate_out_is_a_folder(ctx):
    return ["evaluate", ctx.run_dir(), "--out", ctx.tmp, "--quiet"]


def c_plan_metric_typo(ctx):
    return ["plan", "table3", "--profile", "cpu", "--effect", 0.05, "--metric", "kendal"]


def c_evaluate_garbage_done(ctx):
    run = ctx.run_dir()
    write(RunDir(run).done_path, "garbage{")
    return ["evaluate", run, "--out", ctx.tmp / "out" / "scores.csv", "--quiet"]


def c_evaluate_other_runs_done(ctx):
    run = ctx.run_dir()
    write(RunDir(run).done_path, json.dumps({"epochs": 1, "config_hash": "0123456789ab"}))
    return ["evaluate", run, "--out", ctx.tmp / "out" / "scores.csv", "--quiet"]


def c_evaluate_garbage_cache(ctx):
    from harness.evaluate.supernet_eval import eval_cache
    from harness.train.trained import TrainedRun

    run = ctx.run_dir()
    path, _ = eval_cache(TrainedRun.open(run))
    write(path, "garbage\n" + json.dumps({"key": "0000100100", "supernet_accuracy": 1.0}) + "\n")
    return ["evaluate", run, "--out", ctx.tmp / "out" / "scores.csv", "--quiet"]


def c_runs_show_garbage_log(ctx):
    run = ctx.run_dir()
    write(RunDir(run).log_path, "garbage\n{\n")
    return ["runs", "show", run]


def c_check_other_profile(ctx):
    results = results_dir(ctx, GOOD_SUMMARY)
    write(results / "runs.json", json.dumps([{"profile": "cpu", "label": "pooling/uniform"}]))
    baseline = write(ctx.tmp / "baseline.json", json.dumps({"format": 2, "profile": "smoke",
        "metrics": {"table3/pooling/uniform/kendall": {"per_seed": [0.4, 0.41, 0.39]}}}))
    return ["check", "--baseline", baseline, "--results", results]


def c_correlate_key_format_of_another_space(ctx):
    return ["correlate", pooling_predictions(ctx), "-b", "pooling-fmnist", "--key-format", "naslib"]


def c_correlate_ambiguous_integer_lists(ctx):
    keys = [f"[{i % 5}, 1, 2, 3, 4, 0]" for i in range(5)]
    path = write(ctx.tmp / "genes.csv", "key;score\n" + "\n".join(
        f"{k};{i}" for i, k in enumerate(keys)) + "\n")
    return ["correlate", path, "-b", "nb201-cifar10"]


def c_space_convert_unknown_format(ctx):
    return ["space", "convert", pooling_predictions(ctx), "--from", "pooling", "--to", "naslb",
            "--out", ctx.tmp / "out"]


OPTION_CASES = [
    ("train-epochs-0", train_option("--epochs", 0), ["epochs must be", "--epochs"]),
    ("train-epochs-negative", train_option("--epochs", -1), ["epochs must be"]),
    ("train-warmup-beyond-epochs", train_option("--epochs", 2, "--warmup-epochs", 5),
     ["warmup_epochs (5)", "--warmup-epochs"]),
    ("train-steps-per-epoch-0", train_option("--steps-per-epoch", 0), ["--steps-per-epoch"]),
    ("train-threads-0", train_option("--threads", 0), ["num_threads", "--threads"]),
    ("train-threads-beyond-cores", c_train_threads_beyond_cores, ["cores"]),
    ("train-benchmark-of-another-space", train_option("--benchmark", "nb-macro"),
     ["ranks nb-macro architectures"]),
    ("train-data-root-is-a-file", c_train_data_root_is_a_file, ["--data-root", "not a folder"]),
    ("train-lr-negative", train_option("--lr", -1), ["lr must be"]),
    ("train-lr-nan", train_option("--lr", "nan"), ["lr must be", "nan"]),
    ("train-seed-huge", train_option("--seed", 2**70), ["seed must be"]),
    ("train-seed-negative", train_option("--seed", -1), ["seed must be"]),
    ("train-batch-size-0", train_option("--batch-size", 0), ["batch_size must be"]),
    ("train-batch-beyond-the-data", train_option("--batch-size", 100000),
     ["batch_size 100000", "supernet-train images"]),
    ("train-subset-5", train_option("--subset", 5), ["subset must be"]),
    ("train-width-0", train_option("--width-mult", 0), ["width_mult must be"]),
    ("train-width-negative", train_option("--width-mult", -1), ["width_mult must be"]),
    ("train-resize-huge", train_option("--resize", 100000), ["resize must be"]),
    ("train-weight-decay-negative", train_option("--weight-decay", -1), ["weight_decay must be"]),
    ("train-device-bogus", train_option("--device", "bogus"), ["unknown device 'bogus'"]),
    ("train-out-is-a-file", c_train_out_is_a_file, ["--out", "is a file"]),
    ("correlate-data-dir-is-a-file", c_correlate_data_dir_is_a_file, ["--data-dir", "is a file"]),
    ("report-out-is-a-file", c_report_out_is_a_file, ["--out", "is a file"]),
    ("reproduce-out-is-a-file", c_reproduce_out_is_a_file, ["--out", "is a file"]),
    ("reproduce-runs-dir-is-a-file", c_reproduce_runs_dir_is_a_file, ["--runs-dir", "is a file"]),
    ("evaluate-out-is-a-folder", c_evaluate_out_is_a_folder, ["--out", "is a directory"]),
    ("plan-metric-typo", c_plan_metric_typo, ["did you mean 'kendall_tau'"]),
    ("evaluate-garbage-done-marker", c_evaluate_garbage_done, [RunDir.DONE, "unreadable"]),
    ("evaluate-another-runs-done-marker", c_evaluate_other_runs_done, ["not this run's done"]),
    ("evaluate-garbage-cache", c_evaluate_garbage_cache, ["line 1", "cache is corrupt"]),
    ("runs-show-garbage-log", c_runs_show_garbage_log, [RunDir.LOG, "line 1"]),
    ("check-baseline-of-another-profile", c_check_other_profile, ["cpu profile", "smoke baseline"]),
    ("correlate-key-format-of-another-space", c_correlate_key_format_of_another_space,
     ["naslib is a nb201 format"]),
    ("correlate-ambiguous-integer-lists", c_correlate_ambiguous_integer_lists,
     ["naslib", "pada"]),
    ("space-convert-unknown-format", c_space_convert_unknown_format, ["did you mean 'naslib'"]),
]
CASES += [(case_id, setup, fragments, "out", "cli", ())
          for case_id, setup, fragments in OPTION_CASES]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A finished one-step pooling run, trained once (in a subprocess: torch state stays apart)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "train", "--space", "pooling", "--profile", "smoke",
         "--epochs", "1", "--steps-per-epoch", "1", "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, cwd=REPO,
    )
    if proc.returncode != 0:
        pytest.skip(f"could not train the tiny run these cases need: {proc.stderr[-400:]}")
    return out


def invoke(args: list, how: str, tmp: Path):
    args = [str(a) for a in args]
    if how == "subprocess":
        proc = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                              text=True, cwd=tmp, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return proc.returncode, proc.stdout + proc.stderr
    result = CliRunner().invoke(cli, args)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += f"\nTraceback (escaped): {result.exception!r}"
    return result.exit_code, text


@pytest.mark.parametrize(
    "setup, fragments, out, how",
    [pytest.param(setup, fragments, out, how, id=case_id, marks=marks)
     for case_id, setup, fragments, out, how, marks in CASES],
)
def test_bad_input(setup, fragments, out, how, tmp_path, monkeypatch, data_dir, request):
    ctx = Ctx(tmp_path / "case", monkeypatch, data_dir, request)
    ctx.tmp.mkdir()
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    args = setup(ctx)
    code, text = invoke(args, how, ctx.tmp)
    lines = [line for line in text.splitlines() if line.strip()]
    assert "Traceback" not in text, text
    assert code == 2, (code, text)
    assert len(lines) == 1, text
    assert lines[0].startswith("error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    leftovers = list(ctx.left_behind) + ([ctx.tmp / out] if out else [])
    for path in leftovers:
        assert not path.exists(), f"{path} left behind"
    partial = [p for p in ctx.tmp.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert not partial, partial


def test_case_count():
    # The table above; the report of this change quotes the number.
    assert len(CASES) == 47 + len(OPTION_CASES) == 82
    assert len({case[0] for case in CASES}) == len(CASES)


# ---------------------------------------------------------------- atomic writes


def test_atomic_write_keeps_the_umask_mode(tmp_path, monkeypatch):
    import harness.io as hio

    for umask, mode in ((0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)):
        monkeypatch.setattr(hio, "_umask", umask)
        path = hio.atomic_write_text(tmp_path / f"m{umask:o}.txt", "x")
        assert path.stat().st_mode & 0o777 == mode, (oct(umask), oct(path.stat().st_mode))
        path = hio.atomic_write_json(tmp_path / f"m{umask:o}.json", {"a": 1})
        assert path.stat().st_mode & 0o777 == mode
    monkeypatch.setattr(hio, "_umask", None)
    # The umask as read (once) is the process's own.
    current = os.umask(0o022)
    os.umask(current)
    assert hio.current_umask() == current
    path = hio.atomic_write_bytes(tmp_path / "real.bin", b"x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~current


def test_atomic_write_errors_are_one_line_and_leave_nothing(tmp_path, monkeypatch):
    import harness.io as hio
    from harness.errors import HarnessError, WriteError

    write(tmp_path / "afile", "x")
    with pytest.raises(WriteError, match="afile") as info:
        hio.atomic_write_text(tmp_path / "afile" / "deeper" / "x.txt", "y")
    assert "\n" not in str(info.value) and isinstance(info.value, HarnessError)

    def disk_full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hio.os, "replace", disk_full)
    with pytest.raises(WriteError, match="disk is full"):
        hio.atomic_write_json(tmp_path / "new" / "deeper" / "x.json", {"a": 1})
    assert not (tmp_path / "new").exists()  # the folders the write made are gone again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_atomic_write_interrupted_leaves_nothing(tmp_path):
    import harness.io as hio

    def interrupted(handle):
        handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hio.atomic_write_with(tmp_path / "a" / "b.bin", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_json_written_is_strict(tmp_path):
    import harness.io as hio

    obj = {"nan": float("nan"), "inf": [float("inf"), -float("inf")], "np": np.float32("nan"),
           "ok": 1.5, "nested": ({"x": np.float64("nan")},)}
    path = hio.atomic_write_json(tmp_path / "x.json", obj)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert back == {"nan": None, "inf": [None, None], "np": None, "ok": 1.5,
                    "nested": [{"x": None}]}
    # The CLI's helper is the same function.
    from harness.cli import output

    assert output.json_safe is hio.json_safe


def test_generated_tables_record_and_match_their_checksums():
    from harness.benchmarks import load_benchmark
    from harness.benchmarks.generated import GENERATED, REPO_DATA_DIR

    for name in GENERATED:
        record = json.loads((REPO_DATA_DIR / name / f"{name}.json").read_text())
        csv = REPO_DATA_DIR / name / f"{name}.csv"
        assert record["csv_sha256"] == sha256_of(csv), name
        assert record["n_rows"] == len(pd.read_csv(csv)) == len(set(record["archs"])), name
        assert load_benchmark(name).provenance.sha256 == record["csv_sha256"]


def test_record_table_checksum_round_trip(tmp_path, monkeypatch):
    from harness.benchmarks import load_benchmark
    from harness.benchmarks.generated import record_table_checksum
    from harness.errors import DataFileError

    data = tmp_path / "data"
    shutil.copytree(POOLING_FMNIST, data / "pooling-fmnist")
    path = data / "pooling-fmnist" / "pooling-fmnist.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(set_accuracy(lines, 2, "50.0")) + "\n")
    with pytest.raises(DataFileError, match="wrong checksum"):
        load_benchmark("pooling-fmnist", data)
    record = record_table_checksum(data / "pooling-fmnist", "pooling-fmnist")
    assert record["csv_sha256"] == sha256_of(path) and record["n_rows"] == 36
    assert load_benchmark("pooling-fmnist", data).frame["accuracy"].iloc[1] == 50.0


def test_fetch_retries_a_dropped_download_then_verifies_it(tmp_path, monkeypatch, data_dir):
    """pooch retries a dropped connection; the file lands whole, verified, with the umask's mode."""
    import requests

    from harness.benchmarks.files import KNOWN_FILES, fetch
    from harness.io import new_file_mode

    entry = KNOWN_FILES.get("pooling-results")
    body = entry.path(data_dir).read_bytes()
    calls = []

    def flaky(*_a, **_k):
        calls.append(1)
        if len(calls) == 1:
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        return FakeResponse(body, len(body))

    monkeypatch.setattr("requests.get", flaky)
    monkeypatch.setattr("pooch.core.time.sleep", lambda _seconds: None)
    path = fetch("pooling-results", tmp_path / "data")
    assert len(calls) == 2 and sha256_of(path) == entry.sha256
    assert path.stat().st_mode & 0o777 == new_file_mode()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
