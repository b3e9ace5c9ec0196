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

A long run can be made resumable: every so many iterations it writes its state (the weights, Adam's moments, the
schedule, the loss read so far and the state of every generator the iterations draw from: the sampler's and torch's)
to a file, atomically, and a later process continues from it. The resumed run replays the same batches and crops
from the iteration it stopped at, so it ends with the same weights and PSNR, to the last bit, as a run never stopped.
Where that file lies, how often it is written, and reading it back for a run that continues: ``nas.core.resumable``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas import devices, files
from nas.core import inheritance, initial_weights, memory, networks, run_progress
from nas.core.genotypes import Genotype
from nas.core.precision import precision, uses_bf16
from nas.core.settings import GATE_AT_PARENT_MEAN, DataSources, ProxyBudget
from nas.errors import InputError
from nas.sr import data, evaluate, weight_files

logger = logging.getLogger(__name__)

LOSS_CURVE_POINTS = 50  # loss is read back (a device sync) this many times per run, also to catch NaN
RESUME_FORMAT = "nas-resume"
RESUME_VERSION = 2  # 2: the state carries its content hash (weight_files.structure_hash)
RESUME_HASH_KEY = "content_sha256"
RESTART = "drop --resume to train from the start"


class TrainingFailed(RuntimeError):
    """A run that cannot produce a result (NaN or infinite loss); the message is the recorded reason."""


@dataclass(frozen=True)
class Reading:
    """The network's scores at one iteration of its run (``ProxyBudget.readings``)."""

    iterations: int
    psnr: float
    ssim: float
    seconds: float  # the run's time up to this reading, its own validation and those of earlier readings included
    also_psnr: tuple[float, ...] = ()  # the PSNR on each of ``DataSources.also_val``, in its order


@dataclass(frozen=True)
class TrainResult:
    psnr: float
    ssim: float
    psnr_untrained: float | None  # the same network before training, on the same images (None: not measured)
    train_seconds: float  # the run's time, its readings along the way (one validation each) included
    patches_per_second: float  # LR training patches (batch × iterations / seconds)
    final_loss: float
    loss_curve: list[float]
    device: str
    precision: str  # "bf16-autocast" or "fp32"
    initial_weights: str  # how the initial weights were drawn: ``initial_weights.SCHEME``, or "given" by the caller
    inherited_share: float | None = None  # the share of parameters copied from a parent (None: no parent)
    fresh_modules: tuple[str, ...] | None = None  # the modules a parent did not give their weights
    psnr_bicubic: float | None = None  # bicubic upsampling of the same validation images: the floor to beat
    readings: tuple[Reading, ...] = ()  # the scores along the run, the last at its end (``psnr``, ``ssim``)

    @property
    def gain_db(self) -> float | None:
        """PSNR over bicubic upsampling of the validation images (None: floor not measured)."""
        return None if self.psnr_bicubic is None else self.psnr - self.psnr_bicubic

    def to_json(self) -> dict:
        return {**asdict(self), "gain_db": self.gain_db}

    def to_text(self, genotype: str, seed: int, budget: ProxyBudget) -> str:
        """The run as ``nas train`` prints it: what was trained, with which budget, and what it reached."""
        untrained = "" if self.psnr_untrained is None else f"  (untrained {self.psnr_untrained:.3f} dB)"
        lines = [
            f"genotype        {genotype}",
            f"budget          {budget.iterations} iterations x {budget.batch_size} patches of {budget.patch_size}px, "
            f"seed {seed}",
            f"PSNR / SSIM     {self.psnr:.3f} dB / {self.ssim:.4f}{untrained}",
        ]
        if self.psnr_bicubic is not None:
            lines.append(f"over bicubic    {self._gain_text(self.psnr)} dB (bicubic {self.psnr_bicubic:.3f} dB)")
        if self.readings and self.readings[-1].also_psnr:
            also = ", ".join(f"{psnr:.3f}" for psnr in self.readings[-1].also_psnr)
            lines.append(f"also validated  {also} dB (data.also_val, in its order)")
        if len(self.readings) > 1:
            lines.append("along the run   iterations  PSNR (dB)  over bicubic  seconds")
            lines += [
                f"                {r.iterations:>10}  {r.psnr:9.3f}  {self._gain_text(r.psnr):>12}  {r.seconds:7.1f}"
                for r in self.readings
            ]
        speed = f"{self.patches_per_second:.0f} patches/s on {self.device}"
        lines.append(f"training        {self.train_seconds:.1f} s, {speed}")
        return "\n".join(lines)

    def _gain_text(self, psnr: float) -> str:
        return "-" if self.psnr_bicubic is None else f"{psnr - self.psnr_bicubic:+.3f}"


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

    def state_dict(self) -> dict[str, Any]:
        """All that the next iterations depend on: the weights, Adam's moments and step counts, the schedule, and
        the state of every generator they draw from (the sampler's, torch's own; the trainer draws from no other)."""
        state = {
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "sampler_rng": self.sampler.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.device_type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.sampler.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Sets everything ``state_dict`` returned: the next iteration is the one that would have followed it."""
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.sampler.generator.set_state(state["sampler_rng"])
        torch.set_rng_state(state["torch_rng"])
        if self.device_type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.sampler.device)


@dataclass
class Progress:
    """Where a run stands between two iterations, besides its ``ProxyStep``: what a resumable state keeps of it."""

    iteration: int  # iterations done
    loss_curve: list[float]  # the mean loss of each window read back so far
    window_loss: torch.Tensor  # the sum of the losses since the last read-back, on the training device
    window_size: int  # iterations in that sum
    seconds: float  # training time of earlier processes (a resumed run's first part)
    psnr_untrained: float | None  # measured once, before the first iteration
    readings: list[Reading] = field(default_factory=list)  # the readings along the run so far

    def to_state(self) -> dict[str, Any]:
        return {**asdict(self), "window_loss": self.window_loss.detach().cpu().clone()}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str) -> Progress:
        readings = [Reading(**reading) for reading in state.get("readings", [])]
        progress = cls(**{**state, "window_loss": state["window_loss"].to(device), "readings": readings})
        counts = (progress.iteration, progress.window_size)
        if not all(isinstance(count, int) for count in counts) or not isinstance(progress.loss_curve, list):
            raise TypeError("its iteration, window or loss curve is of the wrong type")
        return progress


@dataclass(frozen=True)
class Resumable:
    """A run that writes its resumable state to ``path`` every ``every`` iterations (never after the last: the
    trained network follows) and continues from ``state`` (read by ``nas.core.resumable.read_state``) when one is
    given."""

    path: Path
    every: int
    state: dict[str, Any] | None = None


def identity(
    genotype: Genotype,
    budget: ProxyBudget,
    sources: DataSources,
    seed: int,
    device: str,
    scheme: str = initial_weights.SCHEME,
) -> dict[str, Any]:
    """What two runs must share to be one training, which a resumable state records and a resumed run must match:
    the genotype, seed, initial weights, every field of the budget that says how one training runs (not a study's
    seed list), the data, and the device kind and precision (generator states and sums differ between them)."""
    return {
        "genotype": str(genotype),
        "seed": seed,
        "initial_weights": scheme,
        "budget": budget.identity(),
        "data": sources.identity(),
        "device": torch.device(device).type,
        "precision": precision(device),
    }


def unusable_state(path: Path, problem: str) -> InputError:
    """The error of a resumable state at ``path`` that cannot be continued from, saying why and what to do."""
    return InputError(f"--resume: the resumable state {path} {problem}; delete it and {RESTART}")


def _restored(step: ProxyStep, state: dict[str, Any], path: Path, budget: ProxyBudget, device: str) -> Progress:
    """Sets ``step`` from a state ``nas.core.resumable.read_state`` returned; returns where the run stands.

    Raises:
        InputError: the state is damaged (a part missing, of the wrong kind or shape).
    """
    try:
        step.load_state_dict(state["step"])
        progress = Progress.from_state(state["progress"], device)
        if not 0 < progress.iteration < budget.iterations:
            raise ValueError(f"its iteration {progress.iteration} is not within the budget's {budget.iterations}")
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise unusable_state(path, f"is damaged: {reason}") from None
    return progress


def _write_state(path: Path, step: ProxyStep, training: dict[str, Any], started: float, progress: Progress) -> None:
    """Writes the resumable state of the ``training`` (an ``identity``) that this process runs since ``started``
    (``time.perf_counter``) beside ``path`` and moves it into place (``nas.files.replace_with``): a kill at any moment
    leaves the previous state whole, and a symbolic link at ``path`` is replaced, never written through. The state
    carries the hash of its content (``RESUME_HASH_KEY``), so that an edit is found when it is resumed."""
    seconds = progress.seconds + time.perf_counter() - started
    state = {
        "format": RESUME_FORMAT,
        "version": RESUME_VERSION,
        "identity": json.dumps(training),
        "step": step.state_dict(),
        "progress": replace(progress, seconds=seconds).to_state(),
    }
    state[RESUME_HASH_KEY] = weight_files.structure_hash(state)  # an edit of any part is found on resume

    def synced(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them

    files.replace_with(path, synced)
    logger.debug("resumable state of iteration %d written to %s", progress.iteration, path)


def build_network(genotype: Genotype, seed: int, device: str) -> nn.Module:
    """The genotype's network with initial weights from (``seed``, module path), on ``device`` in channels_last."""
    return _for_training(_seeded(genotype, seed), device)


def _seeded(genotype: Genotype, seed: int, input_range: float = 1.0) -> networks.SRNetwork:
    """The genotype's network on the CPU with initial weights from (``seed``, module path). The construction is seeded
    too (leaving torch's CPU generator as it was), so a weight no ``reset_parameters`` draws still follows the seed."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return initial_weights.initialise(networks.build(genotype, input_range=input_range), seed)


def inherited_network(
    genotype: Genotype,
    seed: int,
    device: str,
    parent: networks.SRNetwork,
    gate_images: Sequence[np.ndarray] = (),
) -> tuple[nn.Module, inheritance.Inheritance]:
    """The genotype's network with every weight ``parent`` has at the same module path, class and shapes, and the
    rest from (``seed``, module path) (``nas.core.inheritance``), in the parent's input range; on ``device``. With
    ``gate_images`` (LR training images), a constant gate where the parent has a gate starts at its mean over them."""
    child = _seeded(genotype, seed, parent.input_range)
    inherited = inheritance.inherit(child, parent)
    if gate_images:
        inheritance.start_gates_at_parent_mean(child, parent, gate_images)
    return _for_training(child, device), inherited


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


def _run_budget(
    step: ProxyStep,
    budget: ProxyBudget,
    bar: Any,
    progress: Progress,
    save_state: Callable[[Progress], None] | None = None,
    every: int = 0,
    read: Callable[[Progress], None] | None = None,
) -> None:
    """Runs the steps from ``progress.iteration`` to ``budget.iterations``, appending to ``progress.loss_curve``
    the mean loss of each of about LOSS_CURVE_POINTS windows; calls ``read`` at each reading before the run's end
    (``budget.readings``) and ``save_state`` every ``every`` iterations, after the reading there.

    Raises:
        TrainingFailed: a window's mean loss is NaN or infinite.
    """
    read_every = max(1, budget.iterations // LOSS_CURVE_POINTS)
    along_the_run = set(budget.readings()[:-1])
    for iteration in range(progress.iteration + 1, budget.iterations + 1):
        progress.window_loss += step()
        progress.window_size += 1
        progress.iteration = iteration
        if iteration % read_every == 0 or iteration == budget.iterations:
            mean_loss = progress.window_loss.item() / progress.window_size
            if not math.isfinite(mean_loss):
                raise TrainingFailed(f"loss became {mean_loss} by iteration {iteration} (lr {budget.lr:g})")
            progress.loss_curve.append(mean_loss)
            progress.window_loss.zero_()
            progress.window_size = 0
            if bar is not None:
                bar.update(iteration - bar.n)
                bar.set_postfix(loss=f"{mean_loss:.4f}")
        if read is not None and iteration in along_the_run:
            read(progress)
        if save_state is not None and iteration % every == 0 and iteration < budget.iterations:
            save_state(progress)


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
    resumable: Resumable | None = None,
    parent: networks.SRNetwork | None = None,
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
        resumable: Where and how often to write a resumable state, and the state to continue from (then the
            untrained PSNR is the one it recorded).
        parent: The trained network of the budget's ``init`` (``nas.trained.parents``), to inherit the weights
            that fit from (``inherited_network``); None: fresh weights.

    Returns:
        The trained network (on ``device``, in eval mode) and its result.

    Raises:
        TrainingFailed: the loss became NaN or infinite.
        InputError: a validation image is too small to score, or the state to continue from is damaged; checked
            before training.
        OutOfMemory: a batch that cannot fit the device's memory (refused before any work where a lower bound on
            its memory exceeds what is free, ``check_memory``), or an allocation that failed while training.
    """
    device = device or devices.default_device()
    memory.check_memory(genotype, budget, device)
    try:
        return _train_network(genotype, budget, sources, seed, device, threads, measure_untrained, progress_lines,
                              network, resumable, parent)  # fmt: skip
    except RuntimeError as error:  # torch.OutOfMemoryError is one; the CPU allocator raises a plain RuntimeError
        if not memory.is_out_of_memory(error):
            raise
        raise memory.OutOfMemory(
            f"training {genotype} ran out of memory on {device} ({memory.first_line(error)}) with a batch of "
            f"{budget.batch_size} patches of {budget.patch_size}² LR pixels; {memory.MEMORY_HINT}"
        ) from None


def _train_network(
    genotype: Genotype,
    budget: ProxyBudget,
    sources: DataSources,
    seed: int,
    device: str,
    threads: int | None,
    measure_untrained: bool,
    progress_lines: bool,
    network: nn.Module | None,
    resumable: Resumable | None,
    parent: networks.SRNetwork | None,
) -> tuple[nn.Module, TrainResult]:
    on_cuda = device.startswith("cuda")
    if threads is not None and not on_cuda:
        torch.set_num_threads(threads)
    if network is None and (parent is None) != (budget.init is None):
        raise ValueError("a budget with init trains from its parent network, and only such a budget does")
    scheme = "given" if network is not None else initial_weights.SCHEME
    inherited = None
    if network is not None:
        network = _for_training(network, device)
    elif parent is not None:
        assert budget.init is not None  # checked above: a parent comes with the budget's init
        gate_images = []
        if budget.init.gate_start == GATE_AT_PARENT_MEAN:
            gate_images = [pair.lr for pair in data.source_pairs(sources.train, "train", genotype.scale)]
        network, inherited = inherited_network(genotype, seed, device, parent, gate_images)
    else:
        network = build_network(genotype, seed, device)
    val_pairs = data.source_pairs(sources.val, "val", genotype.scale)
    also_pairs = tuple(data.source_pairs(source, "val", genotype.scale) for source in sources.also_val)
    for pairs in (val_pairs, *also_pairs):
        evaluate.check_measurable(pairs, genotype.scale)
    state = resumable.state if resumable is not None else None
    untrained = None
    read_at_start = 0 in budget.readings()  # then the reading there is the untrained PSNR
    if measure_untrained and state is None and not read_at_start:  # a resumed run has it from the state
        untrained = _validated(network, val_pairs, genotype.scale, device).mean_psnr
    network = _for_training(network, device)
    step = ProxyStep(network, genotype, sources.train, seed, device, budget)
    if resumable is not None and state is not None:
        progress = _restored(step, state, resumable.path, budget, device)
    else:
        progress = Progress(0, [], torch.zeros((), device=device), 0, 0.0, untrained)
    bar = run_progress.progress_bar(budget.iterations, str(genotype), progress_lines, progress.iteration)
    start = time.perf_counter()
    save_state = None
    if resumable is not None:
        training = identity(genotype, budget, sources, seed, device, scheme)
        save_state = functools.partial(_write_state, resumable.path, step, training, start)

    def also_psnr() -> tuple[float, ...]:
        return tuple(_validated(network, pairs, genotype.scale, device).mean_psnr for pairs in also_pairs)

    def read(progress: Progress) -> None:  # a reading along the run: validated, then trained on unchanged
        scores = _validated(network, val_pairs, genotype.scale, device)
        also = also_psnr()
        _for_training(network, device)  # back to channels_last: the same parameters, so Adam's state still fits
        seconds = progress.seconds + time.perf_counter() - start
        progress.readings.append(Reading(progress.iteration, scores.mean_psnr, scores.mean_ssim, seconds, also))

    every = resumable.every if resumable is not None else 0
    if progress.iteration == 0 and read_at_start:  # the network as it starts (a resumed run has it)
        read(progress)
        if measure_untrained:
            progress.psnr_untrained = progress.readings[0].psnr
    _run_budget(step, budget, bar, progress, save_state, every, read)
    if on_cuda:
        torch.cuda.synchronize()
    seconds = progress.seconds + time.perf_counter() - start
    if bar is not None:
        bar.close()
    trained = _validated(network, val_pairs, genotype.scale, device)
    last = Reading(budget.iterations, trained.mean_psnr, trained.mean_ssim, seconds, also_psnr())
    return network.eval(), TrainResult(
        psnr=trained.mean_psnr,
        ssim=trained.mean_ssim,
        psnr_untrained=progress.psnr_untrained,
        train_seconds=seconds,
        patches_per_second=budget.iterations * budget.batch_size / seconds,
        final_loss=progress.loss_curve[-1],
        loss_curve=progress.loss_curve,
        device=device,
        precision=precision(device),
        initial_weights=scheme,
        inherited_share=None if inherited is None else inherited.share,
        fresh_modules=None if inherited is None else inherited.fresh_modules,
        psnr_bicubic=evaluate.bicubic_psnr(sources.val, genotype.scale),
        readings=(*progress.readings, last),
    )
