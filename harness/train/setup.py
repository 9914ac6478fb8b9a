"""Build everything a run needs from its config: data, supernet, optimizer, sampler."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.data import DataConfig, load_split, make_loader
from harness.data.loaders import TensorImageDataset
from harness.errors import HarnessError
from harness.nets import NetConfig, build_supernet
from harness.samplers import EpochContext, Sampler, build_sampler
from harness.spaces import SearchSpace, get_space
from harness.train import distributed
from harness.train.config import RunConfig


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """The data-order generator of one epoch (stream 1: the epoch's extra training batch)."""
    return torch.Generator().manual_seed(hash((seed, epoch, stream)) & 0x7FFF_FFFF_FFFF)


def make_scheduler(optimizer, cfg: RunConfig):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    if cfg.lr_schedule == "step":
        milestones = list(cfg.lr_milestones) or [int(cfg.epochs * f) for f in (0.5, 0.75)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if cfg.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise HarnessError(f"unknown lr_schedule '{cfg.lr_schedule}'; use cosine, step or constant")


def data_config(cfg: RunConfig) -> DataConfig:
    return DataConfig(name=cfg.dataset, root=cfg.data_root, subset=cfg.subset, resize=cfg.resize,
                      download=cfg.download, augment=cfg.augment)


def net_config(cfg: RunConfig, data: DataConfig) -> NetConfig:
    channels, size, _ = data.input_shape
    try:
        return NetConfig(in_channels=channels, num_classes=data.num_classes, input_size=size,
                         width_mult=cfg.width_mult, **cfg.net_options)
    except TypeError as exc:
        raise HarnessError(f"bad net option in {sorted(cfg.net_options)}: {exc}") from None


def resolve_device(name: str) -> torch.device:
    """The torch device `name` names, refused in one line when it is not there (checked before
    any data is loaded)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise HarnessError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"device '{name}' requested but CUDA is not available; pass "
                               "--device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise HarnessError(f"device '{name}': this machine has {torch.cuda.device_count()} "
                               "CUDA device(s)")
    elif device.type != "cpu":
        raise HarnessError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    return device


@torch.no_grad()
def nudge_by_one_ulp(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Move every floating-point parameter by one unit in the last place, up or down at random:
    the smallest change of a run's start, the size of another machine's rounding."""
    for param in model.parameters():
        if not param.is_floating_point():
            continue
        up = torch.rand(param.shape, generator=generator) < 0.5
        target = torch.where(up, torch.full_like(param, float("inf")),
                             torch.full_like(param, float("-inf")))
        param.copy_(torch.nextafter(param, target))


def init_supernet(space_name: str, ncfg: NetConfig, seed: int):
    # Weight init reads torch's global generator: fork it so the run seed alone decides.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_supernet(space_name, ncfg)


@dataclass
class RunSetup:
    cfg: RunConfig
    space: SearchSpace
    supernet: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    sampler: Sampler
    scaler: object | None
    train_set: object
    val_set: object
    device: torch.device
    probe_batch: tuple
    probe_batches: tuple = ()  # every fixed probe batch (the first is probe_batch)
    dist: distributed.Dist = distributed.SINGLE

    @property
    def use_amp(self) -> bool:
        return self.scaler is not None

    def train_loader(self, generator: torch.Generator, shard: bool = True):
        """The epoch's training batches; under data parallelism this rank's slice of each global
        batch of cfg.batch_size (shard=False: whole batches, as every rank's samplers need)."""
        return make_loader(self.train_set, self.cfg.batch_size, shuffle=True, generator=generator,
                           drop_last=True, shard=self.dist.shard if shard else None)

    def planned_loader(self, generator: torch.Generator, order):
        """Batches (x, y, positions) of the training set in a sampler's order (importance
        sampling); in-memory datasets only."""
        from harness.data.loaders import PlannedBatchLoader, TensorImageDataset

        if not isinstance(self.train_set, TensorImageDataset):
            raise HarnessError(f"sampler '{self.cfg.sampler}' chooses the training items, which "
                               f"needs an in-memory dataset, not {self.cfg.dataset}; turn its "
                               "data sampling off (e.g. --sampler-option data_tau=0)")
        return PlannedBatchLoader(self.train_set, self.cfg.batch_size, order, generator,
                                  drop_last=True, shard=self.dist.shard)

    def steps_per_epoch(self) -> int:
        """Optimizer steps of one epoch (full batches; capped by cfg.steps_per_epoch)."""
        n = len(self.train_set) // self.cfg.batch_size
        return n if self.cfg.steps_per_epoch is None else min(n, self.cfg.steps_per_epoch)

    def to_device(self, x, y):
        x = x.to(self.device, non_blocking=True)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def epoch_context(self, epoch: int, run_dir: Path) -> EpochContext:
        first = next(iter(self.train_loader(epoch_generator(self.cfg.seed, epoch, stream=1),
                                            shard=False)))
        return EpochContext(
            epoch=epoch, epochs=self.cfg.epochs, supernet=self.supernet,
            probe_batch=self.to_device(*self.probe_batch), train_batch=self.to_device(*first),
            probe_batches=tuple(self.to_device(*b) for b in self.probe_batches),
            loss_fn=F.cross_entropy, device=self.device, run_dir=run_dir,
            # With SyncBatchNorm every forward is a collective: all ranks must run the same
            # networks in the same order, so the recompute is not divided then.
            shard_map=None if self.cfg.sync_bn else distributed.shard_map(self.dist),
        )


def validate_run(cfg: RunConfig) -> None:
    """Check what can be checked without loading data: device, space, dataset, network options,
    sampler options and the tensors they name (on a CPU supernet, which costs no data). The
    runner calls this before it creates or locks the run directory."""
    resolve_device(cfg.device)
    cores = os.cpu_count() or 1
    if cfg.num_threads is not None and cfg.num_threads > cores:
        raise HarnessError(f"num_threads {cfg.num_threads} is more than this machine's {cores} "
                           f"cores; pass --threads {cores} or fewer")
    if cfg.data_root is not None and Path(cfg.data_root).exists() \
            and not Path(cfg.data_root).is_dir():
        raise HarnessError(f"--data-root {cfg.data_root}: a file, not a folder; pass the "
                           "folder that holds (or will hold) the dataset")
    if cfg.benchmark is not None:
        from harness.benchmarks import BENCHMARKS

        bench_space = BENCHMARKS.get(cfg.benchmark).space
        if bench_space != cfg.space:
            raise HarnessError(f"benchmark '{cfg.benchmark}' ranks {bench_space} architectures, "
                               f"not {cfg.space} ones; pass a {cfg.space} benchmark "
                               "(nas-harness ls benchmarks)")
    space = get_space(cfg.space)
    data = data_config(cfg)
    ncfg = net_config(cfg, data)
    sampler = build_sampler(cfg.sampler, space, cfg.seed, warmup_epochs=cfg.warmup_epochs,
                            opts=cfg.sampler_options)
    if cfg.probe_size < 1:
        raise HarnessError(f"probe_size must be at least 1, got {cfg.probe_size}")
    validate_data_parallel(cfg, sampler)
    sampler.attach(init_supernet(cfg.space, ncfg, cfg.seed), None, F.cross_entropy)


def validate_data_parallel(cfg: RunConfig, sampler: Sampler) -> None:
    """What a data-parallel run (torchrun) needs of its config and sampler."""
    if cfg.world_size < 1:
        raise HarnessError(f"world_size must be at least 1, got {cfg.world_size}")
    if cfg.sync_bn and not cfg.device.startswith("cuda"):
        raise HarnessError("--sync-bn needs CUDA (torch's SyncBatchNorm runs on GPUs only); drop "
                           "it on CPU, or use a net without BatchNorm (--net-option norm=none)")
    if cfg.world_size == 1:
        return
    if cfg.batch_size % cfg.world_size:
        raise HarnessError(f"batch size {cfg.batch_size} does not split evenly over "
                           f"{cfg.world_size} processes; --batch-size is the global batch: use a "
                           f"multiple of {cfg.world_size}")
    if sampler.weights_losses:
        raise HarnessError(f"sampler '{cfg.sampler}' estimates per-item importance from this "
                           "process's batches, which data-parallel training does not share yet; "
                           "run it in one process")


def build_run(cfg: RunConfig, d: distributed.Dist = distributed.SINGLE) -> RunSetup:
    device = resolve_device(cfg.device)
    space = get_space(cfg.space)
    data = data_config(cfg)
    if d.enabled and not d.is_main:
        distributed.barrier(d)  # rank 0 reads (or downloads) the dataset first, alone
    train_set = load_split(data, "supernet-train", cfg.seed)
    val_set = load_split(data, "supernet-val", cfg.seed)
    if len(train_set) < cfg.batch_size:
        raise HarnessError(f"batch_size {cfg.batch_size} is more than the {len(train_set)} "
                           "supernet-train images, so an epoch has no full batch; pass a smaller "
                           "--batch-size or a larger --subset")
    if d.enabled and d.is_main:
        distributed.barrier(d)
    if device.type == "cuda" and isinstance(train_set, TensorImageDataset):
        # In-memory datasets (CIFAR, Fashion-MNIST, ImageNet16) live on the GPU as uint8: batches
        # are gathered, cropped, flipped and normalised there, with no loader workers.
        train_set, val_set = train_set.to(device), val_set.to(device)
    supernet = init_supernet(cfg.space, net_config(cfg, data), cfg.seed).to(device)
    if cfg.init_perturbation:
        nudge_by_one_ulp(supernet, torch.Generator().manual_seed(
            hash((cfg.seed, cfg.init_perturbation, 0x0_1F)) & 0x7FFF_FFFF_FFFF))
    if cfg.sync_bn:
        supernet = torch.nn.SyncBatchNorm.convert_sync_batchnorm(supernet)
    if cfg.channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(supernet.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    scheduler = make_scheduler(optimizer, cfg)
    sampler = build_sampler(cfg.sampler, space, cfg.seed, warmup_epochs=cfg.warmup_epochs,
                            opts=cfg.sampler_options)
    wanted = sampler.probe_batches_wanted
    if sampler.uses_probe and cfg.probe_size * wanted > len(val_set):
        raise HarnessError(f"probe_size {cfg.probe_size} x probe_batches {wanted} is more than "
                           f"the supernet-validation split ({len(val_set)} images); pass a "
                           "smaller --probe-size or probe_batches, or a larger --subset")
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    probe_loader = make_loader(val_set, min(cfg.probe_size, len(val_set)), shuffle=False,
                               generator=torch.Generator().manual_seed(cfg.seed))
    probe_batches = []
    for batch in probe_loader:
        probe_batches.append(batch)
        if len(probe_batches) >= wanted:
            break
    probe_batch = probe_batches[0]
    setup = RunSetup(cfg, space, supernet, optimizer, scheduler, sampler, scaler, train_set,
                     val_set, device, probe_batch, tuple(probe_batches), d)
    sampler.attach(supernet, setup.to_device(*probe_batch), F.cross_entropy)
    return setup
