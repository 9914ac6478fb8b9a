"""`nas-harness correlate PRED.csv --benchmark NAME`."""

from __future__ import annotations

import math

import click

from harness.cli.options import PathOption, data_dir_option, json_option
from harness.cli.output import BootstrapProgress, echo_json, emit


def format_table(result: dict) -> str:
    lines = [
        f"benchmark {result['benchmark']}  networks {result['networks']}  n {result['n']}"
        f"  (unscored in benchmark: {result['n_benchmark_unscored']})",
        f"networks: {result['networks_convention']}",
        f"{'metric':<30} {'value':>8} {'95% CI':>20}  better",
    ]
    for name, m in result["metrics"].items():
        value = "nan" if m["value"] is None or math.isnan(m["value"]) else f"{m['value']:.4f}"
        if m.get("ci_low") is None or any(math.isnan(v) for v in (m["ci_low"], m["ci_high"])):
            ci = "-"
        else:
            ci = f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        better = "higher" if m["higher_is_better"] else "lower"
        note = f"  ({m['note']})" if m.get("note") else ""
        if m.get("k_used") is not None:  # a top-K metric: the K it used, of n networks
            name = f"{name} (K={m['k_used']} of {m.get('n', result['n'])})"
        lines.append(f"{name:<30} {value:>8} {ci:>20}  {better}{note}")
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    @cli.command("correlate")
    # A plain path: a folder, a binary or an unreadable file is refused in one line by
    # read_predictions (click's own check would print a usage block).
    @click.argument("predictions", type=PathOption())
    @click.option("--benchmark", "-b", required=True, help="Ground-truth benchmark (nas-harness ls benchmarks).")
    @click.option("--key-column", default="key", show_default=True)
    @click.option("--key-format", default="auto", show_default=True,
                  help="How the keys are written: auto (only forms that cannot be confused) or "
                       "a named format, e.g. naslib, pada, nni, nb201-index, macro-int "
                       "(`nas-harness ls key-formats`).")
    @click.option("--lower-is-better", is_flag=True,
                  help="The score is a loss or a rank: lower is better (it is negated).")
    @click.option("--score-column", default=None,
                  help="Score column (default: 'score', else 'supernet_accuracy' as evaluate writes).")
    @click.option(
        "--networks",
        type=click.Choice(["distinct", "first", "all"]),
        default="distinct",
        show_default=True,
        help="distinct: each distinct network once (equivalent codes merged, accuracies "
             "averaged); first: each once, with the ground truth of its lowest official index "
             "member (NB-201 papers); all: every code.",
    )
    @click.option("--metric", "metrics", multiple=True, help="Metric name; repeat for several (default: all).")
    @click.option("--intersect", is_flag=True, help="Score only architectures present in both files.")
    @click.option("--bootstrap", "n_resamples", type=int, default=1000, show_default=True,
                  help="Bootstrap resamples: 0 (no CI) or 2..100000.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap (>= 0).")
    @data_dir_option
    @json_option
    def correlate_cmd(predictions, benchmark, key_column, key_format, lower_is_better,
                      score_column, networks, metrics, intersect, n_resamples, seed, data_dir,
                      as_json) -> None:
        """Rank correlation of supernet scores in PREDICTIONS with a benchmark's ground truth."""
        from harness.analysis.correlate import (
            check_bootstrap_options,
            check_metric_names,
            correlate,
            inverted_sign_warning,
            read_predictions,
        )
        from harness.benchmarks import BENCHMARKS, load_benchmark

        # Options and names first, then the files.
        check_bootstrap_options(n_resamples, seed)
        spec = BENCHMARKS.get(benchmark)
        check_metric_names(list(metrics))
        pred = read_predictions(predictions, spec.space, key_column, score_column, key_format,
                                lower_is_better)
        truth = load_benchmark(benchmark, data_dir)
        result = correlate(pred, truth, networks, list(metrics) or None, intersect, n_resamples,
                           seed, source=predictions, progress=BootstrapProgress(always=n_resamples >= 2000)).to_dict()
        result["score_direction"] = "lower is better (negated)" if lower_is_better else \
            "higher is better"
        result["key_format"] = key_format
        if as_json:
            echo_json(result)
        else:
            emit(format_table(result))
        warning = inverted_sign_warning(result, lower_is_better)
        if warning:
            click.echo(warning, err=True)
