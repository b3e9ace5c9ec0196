"""``nas export``: a genotype's network as a ``torch.export`` program that runs without the harness.

Each network is written as ``STEM.pt2`` (``torch.export.save``; ``torch.export.load(path).module()`` runs it with
torch alone, neither ``nas`` nor ``blocks`` installed), beside ``STEM.json`` (what it is: genotype, cost, weights,
the study's numbers) and, where the ``onnx`` and ``onnxscript`` packages are installed, ``STEM.onnx``. ``STEM`` is
the genotype id with every character other than letters, digits, ``.`` and ``-`` made ``_``, and a short hash of
the id, so two ids never share a file.

The program takes RGB in [0, 1], NCHW, float32, and returns the ×scale image, not clamped. The batch, height and width
are dynamic (``torch.export.Dim``): batch from 1 (a batch of 0 raises ``RuntimeError``: ``BatchChecked``), height and
width from a minimum to ``SPATIAL_MAX`` LR pixels. The minimum is the smallest of ``SPATIAL_MINIMA`` at or above every
block's ``min_size`` for which the export holds over the whole range: some blocks pool to a size that would reach 1 on
small inputs (ESA's 7×7 max pool after a stride-2 conv, LIA's soft pool), where their ops broadcast differently, so
their programs start higher (ESA at 24, LIA at 16). The range says what the program accepts, not what fits in memory
(``pam`` is quadratic in H·W).

Export runs on the CPU, in float32, with the network in eval mode and contiguous memory, and the program is
checked against the network on one input before it is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim, ExportedProgram
from torch.fx.experimental.symbolic_shapes import ConstraintViolationError

import blocks
from nas import files
from nas.core import counting, genotypes, initial_weights, networks, training
from nas.core.genotypes import Genotype
from nas.core.settings import ParentWeights
from nas.core.spaces import SearchSpace
from nas.errors import InputError
from nas.sr import protocol
from nas.sr.weight_files import file_sha256
from nas.trained import checkpoints, outputs, parents
from nas.trained.checkpoints import TrainedNetwork

logger = logging.getLogger(__name__)

SPATIAL_MAX = 2048  # LR pixels: a 4K output at ×2
SPATIAL_MINIMA = (8, 16, 24, 32, 48, 64)  # LR minima tried in turn, smallest first
EXAMPLE_SIDE = 64  # the traced input: above every minimum, so that no pooled size is 1 by chance
EXAMPLE_BATCH = 2  # a batch of 1 would be taken as a constant
CHECK_TOLERANCE = 1e-4  # program against network on one input: the same float32 ops, a different order at most
ONNX_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export(dynamo=True) needs
STEM_LENGTH = 80
# torch's loggers that write while exporting (each sets its own level, so a parent's would not silence them).
TORCH_LOGGERS = ("torch", "torch.fx.experimental.symbolic_shapes", "torch.export", "torch._export", "torch.onnx")


class ExportError(InputError):
    """A genotype whose network cannot be exported with dynamic shapes; the message names the block."""


@dataclass(frozen=True)
class ExportPaths:
    """The files of one exported network in the output folder."""

    program: Path
    record: Path
    onnx: Path

    @classmethod
    def of(cls, folder: Path, genotype: Genotype) -> ExportPaths:
        stem = file_stem(genotype)
        return cls(folder / f"{stem}.pt2", folder / f"{stem}.json", folder / f"{stem}.onnx")

    def check(self, out: str) -> None:
        """Raises:
        InputError: one of the files' names is taken by a folder, a device or a pipe, or ``out`` takes no file
        (checked before any export; ``nas.trained.outputs.checked_file``)."""
        for path in (self.program, self.record, self.onnx):
            outputs.checked_file(out, path)


def file_stem(genotype: Genotype) -> str:
    """A file name for ``genotype``: its id made safe for any file system, cut short, and an 8-digit hash of it."""
    text = str(genotype)
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", text)[:STEM_LENGTH].strip("_.")
    return f"{safe}-{hashlib.blake2b(text.encode(), digest_size=4).hexdigest()}"


def fresh_network(genotype: Genotype, seed: int, parent: networks.SRNetwork | None = None) -> nn.Module:
    """The genotype's network with the initial weights ``seed`` gives a training (``training.build_network``; with
    a space's ``parent``, its weights where they fit: ``training.inherited_network``), on the CPU in eval mode and
    contiguous memory."""
    if parent is None:
        network = training.build_network(genotype, seed, "cpu")
    else:
        network, _ = training.inherited_network(genotype, seed, "cpu", parent)
    return network.to(memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload]


def fresh_weights(seed: int, parent: ParentWeights | None = None) -> dict[str, Any]:
    """What the weights of ``fresh_network(genotype, seed, parent)`` are, for the record."""
    record = {"trained": False, "initial_weights": initial_weights.SCHEME, "seed": seed,
              "note": "freshly initialised, as a training with this seed starts: train it before use"}  # fmt: skip
    if parent is not None:
        record["inherited_from"] = {"file": parent.path, "sha256": parent.sha256, "arch": parent.arch}
        record["note"] = "the parent's weights where they fit, the rest fresh, as a fine-tuning with this seed starts"
    return record


def checkpoint_weights(path: str | Path, trained: TrainedNetwork) -> dict[str, Any]:
    """What the weights of a harness checkpoint are: its file, its content's SHA-256 and its metadata."""
    digest = file_sha256(path)
    return {"trained": True, "checkpoint": str(Path(path).resolve()), "sha256": digest, "metadata": trained.metadata}


BATCH_MESSAGE = "the batch must hold at least 1 image (NCHW with N >= 1)"


class BatchChecked(nn.Module):
    """The network with the program's lower bound on the batch checked when it runs: torch.export checks no lower
    bound of 1 or 2 on a dynamic size (it specialises 0 and 1), so a batch of 0 would run, and give an empty output
    or a reshape error by the block. The check is an op of the program (a value computed from the batch), which
    tracing cannot fold away; it raises ``RuntimeError(BATCH_MESSAGE)``."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert_async(x.new_ones(x.shape[0]).sum() > 0, BATCH_MESSAGE)
        return self.network(x)


def _export(module: nn.Module, example: torch.Tensor, minimum: int) -> ExportedProgram:
    height = Dim("height", min=minimum, max=SPATIAL_MAX)
    width = Dim("width", min=minimum, max=SPATIAL_MAX)
    return torch.export.export(module, (example,), dynamic_shapes=({0: Dim("batch", min=1), 2: height, 3: width},))


def _violates_constraints(error: BaseException) -> bool:
    """Whether an export failed only because the range holds an input size the traced ops do not cover."""
    causes = (error, error.__cause__, error.__context__)  # torch.export re-raises it as its own UserError
    return any(isinstance(cause, ConstraintViolationError) for cause in causes)


def export_program(network: nn.Module, genotype: Genotype) -> tuple[ExportedProgram, int]:
    """The network's program with a dynamic batch, height and width, and the smallest LR side it takes.

    Raises:
        ExportError: no minimum in ``SPATIAL_MINIMA`` (above the blocks' own) makes a valid program; the message
            names the first block that cannot be exported on its own.
    """
    floor = max(blocks.spec(block).min_size for block in genotype.blocks)
    minima = [m for m in SPATIAL_MINIMA if m >= floor] or [floor]
    example = torch.rand(EXAMPLE_BATCH, 3, max(EXAMPLE_SIDE, minima[-1]), max(EXAMPLE_SIDE, minima[-1]))
    for minimum in minima:
        try:
            with _quiet_export():
                return _export(BatchChecked(network), example, minimum), minimum
        except Exception as error:  # noqa: BLE001 - torch.export raises many kinds; each is diagnosed below
            if minimum == minima[-1] or not _violates_constraints(error):  # else a larger minimum may hold
                raise _diagnosis(network, genotype, minimum, error) from None
    raise ExportError(f"genotype {genotype}: no LR size range to export")  # unreachable: minima is never empty


def _diagnosis(network: nn.Module, genotype: Genotype, minimum: int, failure: Exception) -> ExportError:
    """Names the first depth whose block fails to export alone (on features of the trunk's width); if every slot
    exports, the backbone's message."""
    slots: list[nn.Module] = list(network.slots) if isinstance(network, networks.SRNetwork) else []
    example = torch.rand(EXAMPLE_BATCH, genotype.channels, max(EXAMPLE_SIDE, minimum), max(EXAMPLE_SIDE, minimum))
    tried = set()
    for depth, (block, slot) in enumerate(zip(genotype.blocks, slots, strict=False)):
        if block in tried:
            continue
        tried.add(block)
        try:
            with _quiet_export():
                _export(slot, example, minimum)
        except Exception as error:  # noqa: BLE001 - as above
            return ExportError(
                f"genotype {genotype}: block {block!r} (depth {depth}) cannot be exported with a dynamic batch, height "
                f"and width from {minimum} to {SPATIAL_MAX} ({_first_line(error)}); export a genotype without it"
            )
    return ExportError(f"genotype {genotype}: the network cannot be exported with dynamic shapes "
                       f"({_first_line(failure)})")  # fmt: skip


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """torch.export's own warnings and log lines (deprecations inside torch, the traced graph of a failed attempt)
    are kept off stderr: a failure is said once, as an ``ExportError``, and a retried minimum is no failure."""
    quieted = [logging.getLogger(name) for name in TORCH_LOGGERS]
    levels = [logger.level for logger in quieted]
    # torch.export prints a failed attempt's partial graph to sys.stderr itself, besides its loggers
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            for torch_logger in quieted:
                torch_logger.setLevel(logging.CRITICAL)
            yield
        finally:
            for torch_logger, level in zip(quieted, levels, strict=True):
                torch_logger.setLevel(level)


@torch.no_grad()
def check_program(program: ExportedProgram, network: nn.Module, minimum: int) -> dict[str, Any]:
    """Runs the program and the network on one non-square input at the smallest size the program takes.

    Raises:
        RuntimeError: they differ by more than ``CHECK_TOLERANCE`` (the export changed the computation).
    """
    generator = torch.Generator().manual_seed(0)
    sample = torch.rand(1, 3, minimum, minimum + 3, generator=generator)
    difference = float((program.module()(sample) - network(sample)).abs().max())
    if not difference <= CHECK_TOLERANCE:
        raise RuntimeError(f"the exported program differs from the network by {difference:g} on {list(sample.shape)}")
    return {"input_shape": list(sample.shape), "max_abs_difference": difference}


def _save_program(program: ExportedProgram, path: Path) -> None:
    """``torch.export.save`` to ``path``, whatever its name (torch wants a name ending in .pt2; a file written beside
    its place to be moved there has another)."""
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    path.write_bytes(buffer.getvalue())


def write_onnx(program: ExportedProgram, path: Path) -> dict[str, Any]:
    """Writes the program as ONNX where ``onnx`` and ``onnxscript`` are installed; says what happened either way."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return {"file": None, "reason": f"not written: {' and '.join(missing)} not installed "
                                        f"(pip install {' '.join(ONNX_PACKAGES)})"}  # fmt: skip
    try:
        with _quiet_export():
            files.replace_with(path, lambda temporary: torch.onnx.export(
                program, f=str(temporary), dynamo=True, external_data=False, verbose=False))  # fmt: skip
    except Exception as error:  # noqa: BLE001 - ONNX is optional: the .pt2 stands without it
        logger.warning("%s: ONNX not written (%s)", path.name, _first_line(error))
        return {"file": None, "reason": f"not written: the ONNX exporter failed ({_first_line(error)})"}
    return {"file": path.name, "reason": None}


def export_network(
    network: nn.Module, genotype: Genotype, weights: dict[str, Any], study: dict[str, Any] | None, paths: ExportPaths
) -> dict[str, Any]:
    """Exports ``network`` (the genotype's, on the CPU) to ``paths.program`` (and ``paths.onnx``); returns its record,
    which the caller writes to ``paths.record``.

    Args:
        network: The network, its weights loaded.
        genotype: Its architecture.
        weights: Where its weights come from (``fresh_weights``, ``checkpoint_weights``).
        study: The study's numbers for the genotype, or None.
        paths: Its files (checked beforehand).

    Raises:
        ExportError: a block cannot be exported with dynamic shapes.
    """
    network = network.to("cpu", memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload]
    program, minimum = export_program(network, genotype)
    check = check_program(program, network, minimum)
    files.replace_with(paths.program, lambda temporary: _save_program(program, temporary))
    onnx = write_onnx(program, paths.onnx)
    cost = counting.network_cost(genotype)
    lr_height, lr_width = counting.lr_size(cost.hr_size, genotype.scale)
    return {
        "genotype": str(genotype),
        "program": {
            "file": paths.program.name,
            "format": "torch.export ExportedProgram (torch.export.save); run: torch.export.load(FILE).module()(x)",
            "torch": torch.__version__,
            "input": "RGB float32 in [0, 1], NCHW",
            "output": f"RGB ×{genotype.scale}, NCHW, not clamped (clamp to [0, 1] before saving an image)",
            "scale": genotype.scale,
            "dynamic": {"batch": [1, None], "height": [minimum, SPATIAL_MAX], "width": [minimum, SPATIAL_MAX]},
            "check": check,
        },
        "onnx": onnx,
        "cost": {**cost.to_json(), "lr_size": [lr_height, lr_width],
                 "convention": f"MACs: multiply-adds (fvcore) for a {protocol.COST_HR_OUTPUT}; params: learnable"},
        "weights": weights,
        "study": study,
    }  # fmt: skip


def output_paths(chosen: Sequence[Genotype], space: SearchSpace, out: str) -> dict[Genotype, ExportPaths]:
    """The files of each chosen genotype in ``out`` (``--out``, created if missing), every genotype and file checked
    before any export.

    Raises:
        InputError: a genotype that does not run in ``space``, an ``out`` that cannot take the files, or a file's name
            taken by a folder.
    """
    for arch in chosen:
        genotypes.check_runs_in(arch, space, training=False)
    folder = outputs.checked_folder(out)
    paths = {arch: ExportPaths.of(folder, arch) for arch in chosen}
    for written in paths.values():
        written.check(out)
    return paths


def export_networks(
    paths: Mapping[Genotype, ExportPaths],
    space: SearchSpace,
    out: str,
    studies: Mapping[str, dict[str, Any] | None],
    trained: TrainedNetwork | None = None,
    checkpoint: str | Path | None = None,
) -> ExportResult:
    """Exports each genotype of ``paths`` (``output_paths``) and writes its record beside its program.

    Args:
        paths: Each genotype's files.
        space: The space the genotypes run in: its first proxy seed (and parent) give a fresh network's weights.
        out: The output folder, as given.
        studies: The study's numbers for each genotype id (``export_network``'s ``study``).
        trained: The trained network to export (its genotype the one of ``paths``); None: fresh networks, as a
            training with the space's first seed starts.
        checkpoint: The file ``trained`` was loaded from.

    Raises:
        ExportError: a block cannot be exported with dynamic shapes.
    """
    seed = space.proxy.seeds[0]  # a fresh network starts as a training with the space's first seed does
    records = []
    for arch, written in paths.items():
        network: nn.Module
        if trained is not None:
            if checkpoint is None:
                raise ValueError("a trained network is exported with the checkpoint it was loaded from")
            network, weights = trained.network, checkpoint_weights(checkpoint, trained)
        else:
            network, weights = fresh_network(arch, seed, parents.network(space)), fresh_weights(seed, space.proxy.init)
        record = export_network(network, arch, weights, studies[str(arch)], written)
        files.write_atomically(written.record, outputs.json_text(record))
        records.append(record)
    return ExportResult(Path(out), records)


def export_checkpoint(checkpoint: str | Path, out: str) -> ExportResult:
    """Exports the trained network of a harness checkpoint (``nas train --save``) into ``out`` without a study: its
    program, its ONNX where the packages are installed, and its record, which names no study. The folder and the
    files are checked before the export.

    Raises:
        InputError: the checkpoint cannot be loaded, or ``out`` cannot take the files.
        ExportError: a block cannot be exported with dynamic shapes.
    """
    folder = outputs.checked_folder(out)
    trained = checkpoints.load(checkpoint)
    written = ExportPaths.of(folder, trained.genotype)
    written.check(out)
    record = export_network(trained.network, trained.genotype, checkpoint_weights(checkpoint, trained), None, written)
    files.write_atomically(written.record, outputs.json_text(record))
    return ExportResult(folder, [record])


@dataclass(frozen=True)
class ExportResult:
    """The networks ``nas export`` wrote, as it prints them."""

    folder: Path
    records: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.folder), "networks": self.records}

    def to_text(self) -> str:
        lines = []
        for record in self.records:
            program, cost, weights = record["program"], record["cost"], record["weights"]
            low, high = program["dynamic"]["height"]
            made = (
                f"trained, checkpoint {weights['checkpoint']}"
                if weights["trained"]
                else f"freshly initialised ({weights['initial_weights']}, seed {weights['seed']}): train before use"
            )
            onnx = record["onnx"]["file"] or record["onnx"]["reason"]
            lines += [
                record["genotype"],
                f"  program  {self.folder / program['file']}  (batch 1+, LR height and width {low} to {high})",
                f"  onnx     {self.folder / onnx if record['onnx']['file'] else onnx}",
                f"  cost     {cost['params']:,} params, {cost['macs'] / 1e9:.2f} GMACs ({protocol.COST_HR_OUTPUT})",
                f"  weights  {made}",
                *([f"  study    {_study_text(record['study'])}"] if record["study"] else []),
            ]
        return "\n".join(lines)


def _study_text(study: dict[str, Any]) -> str:
    """The study's runs of a genotype in one line: how many trainings of each kind, and their PSNRs."""
    parts = []
    for kind, runs in study["runs"].items():
        if runs:
            psnrs = ", ".join(f"{run['psnr']:.3f}" for run in runs)
            parts.append(f"{kind} {len(runs)} run{'s' if len(runs) > 1 else ''} ({psnrs} dB)")
    front = "on the search's front" if study["on_front"] else "not on the search's front"
    return f"{front}; " + ("; ".join(parts) if parts else "no training of it in the study")
