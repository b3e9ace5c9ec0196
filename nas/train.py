"""The proxy trainer: a short, seeded training run of a genotype, then evaluation with the SR protocol.

L1 loss, Adam (β = 0.9, 0.99), cosine learning-rate decay over the budget, patches cut on the training device
by ``nas.data.PatchSampler``. The network runs with channels_last memory, in bfloat16 autocast on CUDA and on
CPUs with native bfloat16 arithmetic (AVX512-BF16 or AMX: 1.5-3× faster than float32 there), in float32 on
other CPUs, where bfloat16 is emulated and slower. The precision used is part of every result. On CPU torch
uses as many threads as the trial was given, and a run is deterministic for a seed.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nas import data, evaluate, model
from nas.genotype import Genotype
from nas.space import ProxyBudget, SearchSpace

LOSS_CURVE_POINTS = 50  # loss is read back (a device sync) this many times per run, also to catch NaN


class TrainingFailed(RuntimeError):
    """A run that cannot produce a result (NaN or infinite loss); the message is the recorded reason."""


@dataclass(frozen=True)
class TrainResult:
    psnr: float
    ssim: float
    psnr_untrained: float | None  # the same network before training, on the same images (None: not measured)
    train_seconds: float
    images_per_second: float
    final_loss: float
    loss_curve: list[float]
    device: str
    precision: str  # "bf16-autocast" or "fp32"

    def to_json(self) -> dict:
        return asdict(self)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (Linux CPU flags avx512_bf16 or amx_bf16)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def uses_bf16(device: str) -> bool:
    return device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16())


def _progress(total: int, label: str):
    """A tqdm bar on an interactive terminal; None (no output) otherwise."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=label, leave=False, unit="it")


def train(
    genotype: Genotype,
    space: SearchSpace,
    seed: int,
    device: str | None = None,
    threads: int | None = None,
    budget: ProxyBudget | None = None,
    measure_untrained: bool = True,
) -> TrainResult:
    """Trains ``genotype`` on the space's training images with the space's proxy budget, then evaluates it.

    Args:
        genotype: The architecture.
        space: Gives the data sources and, unless ``budget`` is given, the proxy budget.
        seed: Seeds the weights and the patch sampler.
        device: Torch device; the GPU when there is one, else the CPU.
        threads: CPU threads for torch (the CPUs the trial was given).
        budget: Overrides the space's proxy budget.
        measure_untrained: Also evaluate the network before training (a search skips it: one evaluation less).

    Raises:
        TrainingFailed: the loss became NaN or infinite.
    """
    device = device or default_device()
    budget = budget or space.proxy
    on_cuda = device.startswith("cuda")
    bf16 = uses_bf16(device)
    if threads is not None and not on_cuda:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    network = model.build(genotype).to(device, memory_format=torch.channels_last)
    pairs = data.source_pairs(space.data.val, "val", genotype.scale)
    untrained = evaluate.evaluate(network, pairs, genotype.scale, device) if measure_untrained else None
    sampler = data.PatchSampler(
        data.source_pairs(space.data.train, "train", genotype.scale), genotype.scale, budget.patch_size, device, seed
    )
    # The fused kernel updates all parameters in one op: ~10% faster on small networks, where dispatch dominates.
    optimizer = torch.optim.Adam(network.parameters(), lr=budget.lr, betas=(0.9, 0.99), fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=budget.iterations)
    read_every = max(1, budget.iterations // LOSS_CURVE_POINTS)
    loss_curve: list[float] = []
    window_loss = torch.zeros((), device=device)
    window_size = 0
    bar = _progress(budget.iterations, str(genotype))
    network.train()
    start = time.perf_counter()
    for iteration in range(1, budget.iterations + 1):
        lr_patch, hr_patch = sampler.sample(budget.batch_size)
        lr_patch = lr_patch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.l1_loss(network(lr_patch).float(), hr_patch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        window_loss += loss.detach()
        window_size += 1
        if iteration % read_every == 0 or iteration == budget.iterations:
            mean_loss = window_loss.item() / window_size
            if not math.isfinite(mean_loss):
                raise TrainingFailed(f"loss became {mean_loss} by iteration {iteration} (lr {budget.lr:g})")
            loss_curve.append(mean_loss)
            window_loss.zero_()
            window_size = 0
            if bar is not None:
                bar.update(iteration - bar.n)
                bar.set_postfix(loss=f"{mean_loss:.4f}")
    if on_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    trained = evaluate.evaluate(network, pairs, genotype.scale, device)
    return TrainResult(
        psnr=trained.mean_psnr,
        ssim=trained.mean_ssim,
        psnr_untrained=untrained.mean_psnr if untrained else None,
        train_seconds=seconds,
        images_per_second=budget.iterations * budget.batch_size / seconds,
        final_loss=loss_curve[-1],
        loss_curve=loss_curve,
        device=device,
        precision="bf16-autocast" if bf16 else "fp32",
    )
