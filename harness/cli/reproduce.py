"""`nas-harness reproduce TABLE|all --profile P`."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import PathOption, data_dir_option, parse_seeds, profile_option


def register(cli: click.Group) -> None:
    @cli.command("reproduce")
    # Experiment names are checked by the registry (harness.experiments.spec, one owner) with a
    # did-you-mean error: `nas-harness ls experiments` lists them.
    @click.argument("targets", nargs=-1, required=True, metavar="EXPERIMENT...|all")
    @profile_option("smoke")
    @click.option("--out", "out", type=PathOption(file_okay=False), default=None,
                  help="Report folder (default: runs/reports/<profile>, ignored by git; the committed "
                       "reports/<profile> only from a clean commit).")
    @click.option("--runs-dir", type=PathOption(file_okay=False), default="runs", show_default=True,
                  help="Cache of run directories, keyed by config hash.")
    @click.option("--threads", type=int, default=None,
                  help="torch CPU threads per run (cpu profile: 1; CPU results differ in the "
                       "last digits with the thread count, which is outside the config hash).")
    @click.option("--device", default=None, help="Override the profile's device (cpu, cuda).")
    @click.option("--data-root", default=None, type=PathOption(file_okay=False),
                  help="Dataset folder (default: Debian's Fashion-MNIST folder, else the user "
                       "cache; Fashion-MNIST is downloaded there when missing).")
    @click.option("--seeds", default=None,
                  help="Only the design's runs with these seeds (e.g. 0,1: a pilot that "
                       "`nas-harness plan --results` sizes the full design from; its runs are the "
                       "full design's, cached).")
    @click.option("--label", "labels", multiple=True, metavar="SPACE/ARM",
                  help="Only the design's runs with this label (repeatable), e.g. "
                       "pooling/uniform: one arm of a table, cached like the full design.")
    @click.option("--arm", "arms", multiple=True, metavar="NAME[:opt=val,...]",
                  help="Add your sampler as an arm of Table 3 (and top-K, search, Figure 1), "
                       "paired by seed with uniform, e.g. --arm least-drawn:strength=4 "
                       "(repeatable; a plug-in's sampler too).")
    @click.option("--quiet", is_flag=True, help="No progress bars or progress lines.")
    @click.option("--executor", type=click.Choice(["inline", "local", "slurm"]), default="inline",
                  show_default=True,
                  help="Where runs train: this process, or one submitit job per missing run on "
                       "this machine (local) or a SLURM cluster (slurm; the 'cluster' extra).")
    @click.option("--slurm-partition", default=None, help="SLURM partition (--executor slurm).")
    @click.option("--gpus-per-run", type=int, default=0, show_default=True)
    @click.option("--cpus-per-run", type=int, default=1, show_default=True)
    @click.option("--timeout-min", type=int, default=24 * 60, show_default=True,
                  help="A job's time limit; at the limit it requeues and resumes its run.")
    @click.option("--array-parallelism", type=int, default=16, show_default=True,
                  help="Jobs running at once (SLURM; local: chunks when waiting, all at once "
                       "with --no-wait).")
    @click.option("--no-wait", is_flag=True,
                  help="Submit and return; the same command later collects the results.")
    @click.option("--from-archive", "from_archive", type=PathOption(file_okay=False),
                  default=None,
                  help="Rebuild the tables from the runs archived in this report folder (e.g. "
                       "reports/cpu) with the current code; nothing is trained or evaluated.")
    @data_dir_option
    def reproduce(targets, profile, out, runs_dir, threads, device, data_root, seeds, arms, quiet,
                  executor, slurm_partition, gpus_per_run, cpus_per_run, timeout_min,
                  array_parallelism, no_wait, from_archive, labels, data_dir) -> None:
        """Train what the experiments need (cached by config hash), then write their tables and
        figures. EXPERIMENT: `nas-harness ls experiments` lists them; `all` runs every one."""
        from harness.environment import absent_device
        from harness.errors import HarnessError
        from harness.profiles import get_profile

        if executor in ("inline", "local") and from_archive is None:
            # Runs train here: a GPU the machine plainly lacks is refused before torch loads.
            refusal = absent_device(device or get_profile(profile).device)
            if refusal:
                raise HarnessError(refusal)
        from harness.experiments.executors import ClusterOptions
        from harness.experiments.reproduce import reproduce as run
        from harness.experiments.spec import parse_arm

        user_arms = [parse_arm(text) for text in arms]  # checked before anything runs

        cluster = ClusterOptions(executor, slurm_partition, gpus_per_run, cpus_per_run,
                                 timeout_min, array_parallelism, wait=not no_wait)
        summary = run(list(targets), profile, Path(runs_dir), Path(out) if out else None, data_dir,
                      progress=not quiet, log=click.echo, threads=threads, device=device,
                      data_root=data_root, seeds=parse_seeds(seeds) if seeds else None,
                      cluster=cluster, from_archive=Path(from_archive) if from_archive else None,
                      labels=tuple(labels) or None, arms=user_arms or None)
        if summary.get("pending"):
            click.echo(f"{len(summary['pending'])} run(s) queued or running; run the same "
                       "command again to collect them and write the tables")
            return
        click.echo(f"done in {summary['wall_seconds']:.0f} s: {summary['report_dir']}")
