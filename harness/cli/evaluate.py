"""`nas-harness evaluate RUN_DIR --archs ... --out PRED.csv`."""

from __future__ import annotations

import click

from harness.cli.options import PathOption


def register(cli: click.Group) -> None:
    @cli.command("evaluate")
    @click.argument("run_dir", type=PathOption(file_okay=False))
    @click.option("--archs", default="distinct", show_default=True,
                  help="all | distinct | sample:N | FILE of keys (a table with a 'key' column, or "
                       "a .txt file of keys, one per line).")
    @click.option("--key-format", default="auto", show_default=True,
                  help="How FILE's keys are written (`nas-harness ls key-formats`).")
    @click.option("--out", "out", type=PathOption(dir_okay=False), required=True)
    @click.option("--bn-eval", type=click.Choice(["batch", "recalibrate", "running"]), default=None,
                  help="Override the run's BN evaluation mode.")
    @click.option("--split", default=None, help="Evaluation split (default: the run's, supernet-val).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of sample:N.")
    @click.option("--allow-unfinished", is_flag=True,
                  help="Score the last checkpoint of a run that has not finished (said in the output).")
    @click.option("--quiet", is_flag=True)
    def evaluate(run_dir, archs, key_format, out, bn_eval, split, seed, allow_unfinished,
                 quiet) -> None:
        """Supernet accuracy and loss of each architecture (each distinct network once)."""
        from harness.evaluate import evaluate_run

        frame = evaluate_run(run_dir, archs, out, bn_eval, split, seed, progress=not quiet,
                             allow_unfinished=allow_unfinished, key_format=key_format)
        note = ""
        if not frame.attrs.get("finished", True):
            note = (f" (UNFINISHED run: checkpoint of epoch {frame.attrs['epochs_done']} of "
                    f"{frame.attrs['epochs']}, scored because of --allow-unfinished)")
        click.echo(f"wrote {len(frame)} architectures to {out}{note}")
