"""The proxy trainer: a short, seeded training run of a genotype, then evaluation with the SR protocol.

L1 loss, Adam (β = 0.9, 0.99), cosine learning-rate decay over the budget, patches cut on the training device
by ``nas.sr.data.PatchSampler``.

A seed is a stream of common random numbers, shared by every genotype: it seeds each module's initial weights
from (seed, module path) (``nas.core.initial_weights``) and the patch stream (the sampler's own generator), so
two genotypes trained with one seed start from the same weights in every module they share and see the same
patches in the same order. Paired by seed is then paired in fact: a difference of two genotypes at one seed
carries far less noise than either run.

The network runs with channels_last memory, in bfloat16 autocast on CUDA and on CPUs with native bfloat16
arithmetic (AVX512-BF16 or AMX: 1.5-3× faster than float32 there), in float32 on other CPUs, where bfloat16 is
emulated and slower. The precision used is part of every result. On CPU torch uses as many threads as the trial
was given, and a run is deterministic for a seed.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nas import devices
from nas.core import initial_weights, networks
from nas.core.genotypes import Genotype
from nas.core.settings import DataSources, ProxyBudget
from nas.sr import data, evaluate

LOSS_CURVE_POINTS = 50  # loss is read back (a device sync) this many times per run, also to catch NaN
PROGRESS_LINES = 10  # plain progress lines per run where no terminal shows a bar (logs, pipes)


class TrainingFailed(RuntimeError):
    """A run that cannot produce a result (NaN or infinite loss); the message is the recorded reason."""


@dataclass(frozen=True)
class TrainResult:
    psnr: float
    ssim: float
    psnr_untrained: float | None  # the same network before training, on the same images (None: not measured)
    train_seconds: float
    patches_per_second: float  # LR training patches (batch × iterations / seconds)
    final_loss: float
    loss_curve: list[float]
    device: str
    precision: str  # "bf16-autocast" or "fp32"
    initial_weights: str  # how the initial weights were drawn: ``initial_weights.SCHEME``, or "given" by the caller

    def to_json(self) -> dict:
        return asdict(self)

    def to_text(self, genotype: str, seed: int, budget: ProxyBudget) -> str:
        """The run as ``nas train`` prints it: what was trained, with which budget, and what it reached."""
        untrained = "" if self.psnr_untrained is None else f"  (untrained {self.psnr_untrained:.3f} dB)"
        return "\n".join([
            f"genotype        {genotype}",
            f"budget          {budget.iterations} iterations x {budget.batch_size} patches of {budget.patch_size}px, "
            f"seed {seed}",
            f"PSNR / SSIM     {self.psnr:.3f} dB / {self.ssim:.4f}{untrained}",
            f"training        {self.train_seconds:.1f} s, {self.patches_per_second:.0f} patches/s on {self.device}",
        ])  # fmt: skip


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


def _progress(total: int, label: str, lines: bool = False):
    """A tqdm bar on an interactive terminal; else plain lines if ``lines``, else None (no output)."""
    if not sys.stderr.isatty():
        return ProgressLines(total, label) if lines else None
    from tqdm import tqdm

    return tqdm(total=total, desc=label, leave=False, unit="it")


class ProgressLines:
    """Progress as plain stderr lines, about every tenth of a run: for logs and pipes, where a bar is unreadable.

    Has the part of tqdm's interface the trainer uses (``n``, ``update``, ``set_postfix``, ``close``).
    """

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.n = 0
        self.start = time.perf_counter()
        self.every = max(1, total // PROGRESS_LINES)
        self.next_line = self.every
        print(f"{label}: training {total} iterations", file=sys.stderr, flush=True)

    def update(self, steps: int) -> None:
        self.n += steps

    def set_postfix(self, loss: str) -> None:
        if self.n < self.next_line and self.n < self.total:
            return
        self.next_line = self.n + self.every
        percent = 100 * self.n // self.total
        elapsed = time.perf_counter() - self.start
        line = f"{self.label}: iteration {self.n}/{self.total} ({percent}%), loss {loss}, {elapsed:.0f} s"
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Nothing to tidy: every line is already complete."""


class ProxyStep:
    """One proxy-training iteration of ``network``: a batch of training patches from ``train_source`` (drawn with
    ``seed``), the forward pass (bf16 autocast where native), L1 loss, backward, an Adam step and a step of the
    cosine schedule over the budget."""

    def __init__(
        self, network: nn.Module, genotype: Genotype, train_source: str, seed: int, device: str, budget: ProxyBudget
    ) -> None:
        self.network = network
        train_pairs = data.source_pairs(train_source, "train", genotype.scale)
        self.sampler = data.PatchSampler(train_pairs, genotype.scale, budget.patch_size, device, seed)
        self.batch_size = budget.batch_size
        self.device_type = torch.device(device).type
        self.bf16 = uses_bf16(device)
        # The fused kernel updates all parameters in one op: ~10% faster on small networks, where dispatch dominates.
        self.optimizer = torch.optim.Adam(network.parameters(), lr=budget.lr, betas=(0.9, 0.99), fused=True)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=budget.iterations)

    def __call__(self) -> torch.Tensor:
        """Runs one iteration; returns its loss, detached and left on the device (reading it would sync)."""
        lr_patch, hr_patch = self.sampler.sample(self.batch_size)  # channels_last, like the network
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = F.l1_loss(self.network(lr_patch).float(), hr_patch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        return loss.detach()


def build_network(genotype: Genotype, seed: int, device: str) -> nn.Module:
    """The genotype's network with initial weights from (``seed``, module path), on ``device`` in channels_last.

    The construction is seeded too (leaving torch's CPU generator as it was), so a weight no ``reset_parameters``
    draws still follows the seed."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        network = initial_weights.initialise(networks.build(genotype), seed)
    return _for_training(network, device)


def _validated(
    network: nn.Module, pairs: tuple[data.ImagePair, ...], scale: int, device: str
) -> evaluate.EvaluationResult:
    """The protocol's scores of ``network`` in contiguous memory, the layout ``nas eval`` loads a checkpoint in:
    channels_last convolutions sum in another order, which moves the PSNR in its sixth digit."""
    return evaluate.evaluate(network.to(memory_format=torch.contiguous_format), pairs, scale, device)  # type: ignore[call-overload]


def _for_training(network: nn.Module, device: str) -> nn.Module:
    """``network`` on ``device`` in channels_last memory (the layout the sampler's batches come in), in train mode."""
    # torch's stubs lack Module.to's memory_format keyword, which torch takes
    return network.to(device, memory_format=torch.channels_last).train()  # type: ignore[call-overload]


def train(*args: Any, **kwargs: Any) -> TrainResult:
    """``train_network`` without the network, for callers that keep only the result (a search's workers): the
    same arguments, the same errors."""
    return train_network(*args, **kwargs)[1]


def _run_budget(step: ProxyStep, budget: ProxyBudget, device: str, bar: Any) -> list[float]:
    """Runs ``budget.iterations`` steps; returns the mean loss of each of about LOSS_CURVE_POINTS windows.

    Raises:
        TrainingFailed: a window's mean loss is NaN or infinite.
    """
    read_every = max(1, budget.iterations // LOSS_CURVE_POINTS)
    loss_curve: list[float] = []
    window_loss = torch.zeros((), device=device)
    window_size = 0
    for iteration in range(1, budget.iterations + 1):
        window_loss += step()
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
    return loss_curve


def train_network(
    genotype: Genotype,
    budget: ProxyBudget,
    sources: DataSources,
    seed: int,
    device: str | None = None,
    threads: int | None = None,
    measure_untrained: bool = True,
    progress_lines: bool = False,
    network: nn.Module | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Trains ``genotype`` on the training images of ``sources`` with ``budget``, then evaluates it.

    Args:
        genotype: The architecture.
        budget: Iterations, batch, patch size and learning rate.
        sources: The training and validation images.
        seed: Seeds the initial weights (per module) and the patch stream: common random numbers for every
            genotype.
        device: Torch device; the GPU when there is one, else the CPU.
        threads: CPU threads for torch (the CPUs the trial was given).
        measure_untrained: Also evaluate the network before training (a search skips it: one evaluation less).
        progress_lines: Where stderr is not a terminal (which gets a bar), print a progress line to it about every
            tenth of the run.
        network: The genotype's network to train, its initial weights chosen by the caller (then ``seed`` seeds
            the patch stream alone); None builds it with ``build_network``.

    Returns:
        The trained network (on ``device``, in eval mode) and its result.

    Raises:
        TrainingFailed: the loss became NaN or infinite.
        InputError: a validation image is too small to score; checked before training.
    """
    device = device or devices.default_device()
    on_cuda = device.startswith("cuda")
    if threads is not None and not on_cuda:
        torch.set_num_threads(threads)
    scheme = "given" if network is not None else initial_weights.SCHEME
    if network is None:
        network = build_network(genotype, seed, device)
    else:
        network = _for_training(network, device)
    val_pairs = data.source_pairs(sources.val, "val", genotype.scale)
    evaluate.check_measurable(val_pairs, genotype.scale)
    untrained = _validated(network, val_pairs, genotype.scale, device) if measure_untrained else None
    network = _for_training(network, device)
    step = ProxyStep(network, genotype, sources.train, seed, device, budget)
    bar = _progress(budget.iterations, str(genotype), progress_lines)
    start = time.perf_counter()
    loss_curve = _run_budget(step, budget, device, bar)
    if on_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    trained = _validated(network, val_pairs, genotype.scale, device)
    return network.eval(), TrainResult(
        psnr=trained.mean_psnr,
        ssim=trained.mean_ssim,
        psnr_untrained=untrained.mean_psnr if untrained else None,
        train_seconds=seconds,
        patches_per_second=budget.iterations * budget.batch_size / seconds,
        final_loss=loss_curve[-1],
        loss_curve=loss_curve,
        device=device,
        precision="bf16-autocast" if step.bf16 else "fp32",
        initial_weights=scheme,
    )
