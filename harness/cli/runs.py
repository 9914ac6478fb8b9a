"""`nas-harness runs list|show`: browse the run directories of a cache."""

from __future__ import annotations

import click

from harness.cli.options import PathOption, json_option
from harness.cli.output import echo_json, plain


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def register(cli: click.Group) -> None:
    @cli.group("runs")
    def runs() -> None:
        """Browse run directories (through the run-directory owner, harness.rundir)."""

    @runs.command("list")
    @click.option("--runs-dir", type=PathOption(file_okay=False), default="runs",
                  show_default=True, help="Folder searched for run directories.")
    @json_option
    def list_runs(runs_dir: str, as_json: bool) -> None:
        """Every run under --runs-dir: space, sampler, seed, state, epoch, Kendall tau."""
        from harness.rundir import RunDir

        rows = [rd.summary() for rd in RunDir.find(runs_dir)]
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo(f"no runs under {runs_dir}")
            return
        click.echo(f"{'space':<10} {'sampler':<16} {'seed':>4} {'state':<8} {'epoch':>7} "
                   f"{'kendall':>8}  run")
        for r in rows:
            epoch = f"{r.get('epoch', 0)}/{r.get('epochs', '?')}"
            click.echo(f"{_cell(r.get('space')):<10} {_cell(r.get('sampler')):<16} "
                       f"{_cell(r.get('seed')):>4} {r['state']:<8} {epoch:>7} "
                       f"{_cell(r.get('kendall_tau')):>8}  {r['run']}")

    @runs.command("show")
    @click.argument("run_dir", type=PathOption(file_okay=False))
    @json_option
    def show(run_dir: str, as_json: bool) -> None:
        """A run's config, state, last log line, audit verdict and results."""
        from harness.rundir import RunDir

        rd = RunDir(run_dir)
        record = rd.read_config()
        log = rd.read_log()
        result = rd.read_result()
        audit = rd.read_audit()
        info = {"summary": rd.summary(), "config": record["config"],
                "provenance": {k: v for k, v in record.items() if k != "config"},
                "last_log": log[-1] if log else None,
                "audit": None if audit is None else {k: audit.get(k) for k in
                                                     ("verdict", "tests_debiasing", "n_draws")},
                "metrics": None if result is None else {
                    name: m.get("value") for name, m in (result.get("metrics") or {}).items()}}
        if as_json:
            echo_json(info)
            return
        s = info["summary"]
        click.echo(f"run {rd.path}: {s['space']} / {s['sampler']} seed {s['seed']}, {s['state']}, "
                   f"epoch {s['epoch']} of {s['epochs']} (config {s['config_hash']})")
        prov = info["provenance"]
        click.echo(f"  made by nas-harness {prov.get('harness_version')} at commit "
                   f"{prov.get('git_commit')}")
        for key, value in sorted(record["config"].items()):
            click.echo(f"  {key}: {plain(value)}")
        if info["last_log"]:
            click.echo(f"  last log line: {plain(info['last_log'])}")
        if info["audit"]:
            click.echo(f"  audit: {info['audit']['verdict'] or '-'}")
        if info["metrics"]:
            shown = ", ".join(f"{k} {_cell(v)}" for k, v in info["metrics"].items()
                              if k in ("kendall_tau", "spearman"))
            click.echo(f"  metrics: {shown}")
