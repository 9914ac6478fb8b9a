"""`nas-harness train`: one supernet run."""

from __future__ import annotations

import json
import os

import click

from harness.cli.options import PathOption, profile_option


def parse_options(pairs: tuple[str, ...], what: str) -> dict:
    """KEY=VALUE pairs, VALUE parsed as JSON when it can be (numbers, true/false, lists)."""
    from harness.errors import HarnessError

    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise HarnessError(f"{what} {pair!r}: expected KEY=VALUE, e.g. tau=7")
        key, value = pair.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def register(cli: click.Group) -> None:
    @cli.command("train")
    @click.option("--space", required=True, help="Search space (nas-harness ls spaces).")
    @click.option("--benchmark", default=None, help="Ground truth the run will be scored against.")
    @click.option("--sampler", default="uniform", show_default=True, help="nas-harness ls samplers.")
    @click.option("--sampler-option", "sampler_options", multiple=True, metavar="KEY=VALUE",
                  help="Sampler option, repeatable (e.g. tau=7).")
    @profile_option("smoke")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--out", "out", type=PathOption(file_okay=False), required=True, help="Run directory.")
    @click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --out.")
    @click.option("--dataset", default=None)
    @click.option("--data-root", default=None, help="Dataset folder.")
    @click.option("--subset", type=int, default=None, help="Training images kept (stratified).")
    @click.option("--resize", type=int, default=None)
    @click.option("--epochs", type=int, default=None)
    @click.option("--warmup-epochs", type=int, default=None)
    @click.option("--batch-size", type=int, default=None)
    @click.option("--lr", type=float, default=None)
    @click.option("--lr-schedule", type=click.Choice(["cosine", "step", "constant"]), default=None)
    @click.option("--weight-decay", type=float, default=None)
    @click.option("--width-mult", type=float, default=None)
    @click.option("--net-option", "net_options", multiple=True, metavar="KEY=VALUE",
                  help="Network option, repeatable (e.g. bn_track_running_stats=true).")
    @click.option("--bn-eval", type=click.Choice(["batch", "recalibrate", "running"]), default=None)
    @click.option("--unused-params-move/--unused-params-still", default=None,
                  help="Whether off-path parameters take weight decay / momentum (default: still).")
    @click.option("--steps-per-epoch", type=int, default=None)
    @click.option("--device", default=None, help="cpu or cuda.")
    @click.option("--amp/--no-amp", default=None, help="Mixed precision (CUDA only).")
    @click.option("--channels-last/--no-channels-last", default=None)
    @click.option("--threads", "num_threads", type=int, default=None, help="torch CPU threads.")
    @click.option("--sync-bn", is_flag=True, default=None,
                  help="Data-parallel runs: SyncBatchNorm across processes (CUDA only).")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def train(space, benchmark, sampler, sampler_options, profile, seed, out, resume, dataset,
              data_root, subset, resize, epochs, warmup_epochs, batch_size, lr, lr_schedule,
              weight_decay, width_mult, net_options, bn_eval, unused_params_move, steps_per_epoch,
              device, amp, channels_last, num_threads, sync_bn, quiet) -> None:
        """Train a supernet under a sampler; writes config, checkpoints, log and snapshots to --out.

        Data parallel: `torchrun --nproc_per_node N -m harness train ...` trains one supernet on N
        processes (nccl on CUDA, gloo on CPU); --batch-size is the global batch."""
        from harness.environment import absent_device
        from harness.errors import HarnessError
        from harness.train.config import profile_overrides

        # A GPU the machine plainly lacks is refused before torch or any data is loaded.
        refusal = absent_device(device or profile_overrides(profile, space).get("device"))
        if refusal:
            raise HarnessError(refusal)
        from harness.samplers import SAMPLERS
        from harness.spaces import SPACES
        from harness.train.config import resolve_config
        from harness.train.distributed import launched_world_size
        from harness.train.runner import train_run

        SPACES.get(space)
        SAMPLERS.get(sampler)
        if benchmark is not None:
            from harness.benchmarks import BENCHMARKS

            BENCHMARKS.get(benchmark)
        cfg = resolve_config(
            space, profile, benchmark=benchmark, sampler=sampler,
            sampler_options=parse_options(sampler_options, "--sampler-option") or None,
            seed=seed, dataset=dataset, data_root=data_root, subset=subset, resize=resize,
            epochs=epochs, warmup_epochs=warmup_epochs, batch_size=batch_size, lr=lr,
            lr_schedule=lr_schedule, weight_decay=weight_decay, width_mult=width_mult,
            net_options=parse_options(net_options, "--net-option") or None, bn_eval=bn_eval,
            unused_params_move=unused_params_move, steps_per_epoch=steps_per_epoch, device=device,
            amp=amp, channels_last=channels_last, num_threads=num_threads,
            world_size=launched_world_size(), sync_bn=sync_bn or None,
        )
        run_dir = train_run(cfg, out, resume=resume, progress=not quiet,
                            log=lambda message: click.echo(message, err=True))
        from harness.train.runner import read_config

        if int(os.environ.get("RANK", "0")) == 0:
            click.echo(f"run finished: {run_dir} (config {read_config(run_dir).hash()})")
