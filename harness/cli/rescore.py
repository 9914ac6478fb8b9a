"""`nas-harness rescore RUN_DIR... --out DIR [--bn-eval MODE] [--split S]`."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import PathOption, data_dir_option


def register(cli: click.Group) -> None:
    @cli.command("rescore")
    @click.argument("run_dirs", nargs=-1, required=True, type=PathOption(file_okay=False))
    @click.option("--out", type=PathOption(file_okay=False), required=True,
                  help="Reproduction folder to write (summary.json, runs.json, environment.json).")
    @click.option("--bn-eval", type=click.Choice(["batch", "recalibrate", "running"]),
                  default=None, help="BatchNorm mode to score with (default: each run's own).")
    @click.option("--split", default=None, help="Evaluation split (default: each run's own).")
    @click.option("--quiet", is_flag=True)
    @data_dir_option
    def rescore(run_dirs, out, bn_eval, split, quiet, data_dir) -> None:
        """Score finished runs again under another evaluation and write what `check` reads:
        `nas-harness check --baseline B --results DIR --only table3/<benchmark>/<arm>`."""
        from harness.experiments.reportdir import guard_tracked_output
        from harness.experiments.rescore import rescore as run

        guard_tracked_output(out)
        summary = run([Path(d) for d in run_dirs], Path(out), bn_eval, split, data_dir,
                      progress=not quiet)
        for key, entry in sorted(summary.items()):
            values = ", ".join(f"{v:.4f}" for v in entry["per_seed"])
            click.echo(f"{key}: {entry['value']:.4f} (seeds {entry['seeds']}: {values})")
        click.echo(f"wrote {out}")
