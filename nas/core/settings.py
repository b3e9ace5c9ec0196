"""The settings sections of a search space, each a frozen dataclass whose fields carry their own range.

A field's default and allowed values are stated once, here: ``nas.core.spaces`` validates every YAML section
against these fields' metadata (``_setting``: a range, choices, a sequence or a data source), so a new setting
needs only a new field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nas.sr.protocol import BUILTIN

SAMPLERS = ("nsga2", "tpe", "random", "gp", "grid")
MAX_SEED = 2**31 - 1  # every seed (proxy, search, experiment, --seed) is 0 to this: a non-negative int32
DEFAULT_MARGIN_DB = 0.05  # the smallest PSNR difference that matters, where a space names none
DEFAULT_ALPHA = 0.05  # the family-wise error rate of every verdict
# The gain over bicubic upsampling a proxy must reach before its numbers answer anything. On the built-in images,
# sr_tiny's networks sit at -0.05 dB after 300 iterations (still learning to interpolate), +0.9 to +1.1 dB after
# 1,000 and +1.2 to +1.3 after 3,000 (bench/RESULTS.md): 0.5 dB lies well clear of both.
DEFAULT_MIN_GAIN_DB = 0.5


def ranged(default: Any, low: float, high: float, *, low_open: bool = False) -> Any:
    """A dataclass field with a default and an allowed range (``low_open``: the low end itself is excluded)."""
    return field(default=default, metadata={"range": (low, high, low_open)})


def one_of(default: str, allowed: tuple[str, ...]) -> Any:
    """A dataclass field with a default and its allowed values."""
    return field(default=default, metadata={"choices": allowed})


GATE_AT_PARENT_MEAN, GATE_AT_HALF = "parent mean", "half"  # where a constant gate starts in an inherited network
GATE_STARTS = (GATE_AT_PARENT_MEAN, GATE_AT_HALF)


@dataclass(frozen=True)
class ParentWeights:
    """Trained weights every candidate of a space starts from (``proxy.init``; ``nas.core.inheritance``).

    Either released weights of a named architecture (``arch``: ``a2n``) or a harness checkpoint (``arch`` None,
    ``nas train --save``). The file's content hash, not its path, is part of every training's identity.
    """

    path: str  # absolute (a relative one in a space file is read from the file's folder)
    sha256: str
    arch: str | None = None
    # Where a mechanism control's constant gate starts in place of a parent's gated block: GATE_AT_PARENT_MEAN, the
    # parent's gate there averaged per channel over the training images (near the parent's function), or
    # GATE_AT_HALF, sigmoid(0) as from scratch (a shock: bench/fixed_gate_start.py measures it).
    gate_start: str = GATE_AT_PARENT_MEAN

    def identity(self) -> dict[str, Any]:
        """What makes two parents the same: the file's bytes and how they are read, and where constant gates start
        (left out at ``GATE_AT_HALF``, the only start before there was a choice, so those identities stay)."""
        parent: dict[str, Any] = {"sha256": self.sha256, "arch": self.arch}
        return parent if self.gate_start == GATE_AT_HALF else {**parent, "gate_start": self.gate_start}


@dataclass(frozen=True)
class ProxyBudget:
    """How each proxy model is trained."""

    iterations: int = ranged(2000, 1, 10_000_000)
    # Earlier iterations at which the run is validated too, without stopping it: the learning curve along one run
    # (each reading costs one validation). The schedule is shaped to ``iterations``, so a reading at b is the network
    # b iterations into that run, not a training of b iterations (see nas/core/training.py). 0 reads the network
    # before its first iteration: with proxy.init, each change of the parent before any recovery.
    budgets: tuple[int, ...] = field(default=(), metadata={"range": (0, 10_000_000, False), "sequence": True})
    batch_size: int = ranged(16, 1, 4096)
    patch_size: int = ranged(64, 4, 1024)  # LR patch side
    lr: float = ranged(5.0e-4, 0.0, 1.0, low_open=True)
    # Which seeds a study trains its baselines with: a per-study choice, not part of how one training runs.
    seeds: tuple[int, ...] = field(
        default=(0,), metadata={"range": (0, MAX_SEED, False), "sequence": True, "per_study": True}
    )
    # A study's bar, not how one training runs: no verdict is drawn from arms whose mean gain over bicubic is below it.
    # A negative bar lets networks worse than bicubic answer: only to exercise the machinery on networks too small to
    # learn (the harness's own tests); every verdict read that way says so.
    min_gain_db: float = field(
        default=DEFAULT_MIN_GAIN_DB, metadata={"range": (-100.0, 100.0, False), "per_study": True}
    )
    # Trained weights to start from instead of fresh ones (fine-tuning with weight inheritance); None: from scratch.
    init: ParentWeights | None = field(default=None, metadata={"parent": True})

    def readings(self) -> tuple[int, ...]:
        """The iterations at which a run is validated, in order: ``budgets`` and the run's end, ``iterations``."""
        return tuple(sorted({*self.budgets, self.iterations}))

    def identity(self) -> dict[str, Any]:
        """The fields that say how one training runs (not a study's seed list), as JSON values; the parent by its
        content, and the readings as a list (each left out when there is none, so identities of runs without them
        stay as they were)."""
        fields_ = {spec.name: getattr(self, spec.name) for spec in fields(self) if not spec.metadata.get("per_study")}
        parent, budgets = fields_.pop("init"), fields_.pop("budgets")
        if budgets:
            fields_["budgets"] = list(self.readings())
        return fields_ if parent is None else {**fields_, "init": parent.identity()}


@dataclass(frozen=True)
class DataSources:
    """``builtin`` or a folder path, for training and validation HR images; ``also_val``: further validation sources
    every reading is scored on too, reported per source (the search and every verdict read ``val``)."""

    train: str = field(default=BUILTIN, metadata={"source": True})
    val: str = field(default=BUILTIN, metadata={"source": True})
    also_val: tuple[str, ...] = field(default=(), metadata={"source": True, "sequence": True})

    def identity(self) -> dict[str, Any]:
        """The sources as a training's identity holds them, lists as lists; an empty list is left out, so the
        identities of trainings made before a list field existed stay as they were."""
        values = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        return {
            name: list(value) if isinstance(value, tuple) else value for name, value in values.items() if value != ()
        }


@dataclass(frozen=True)
class SearchSettings:
    sampler: str = one_of("nsga2", SAMPLERS)
    trials: int = ranged(200, 1, 1_000_000)
    seed: int = ranged(0, 0, MAX_SEED)
    population: int = ranged(50, 2, 100_000)  # NSGA-II generation size


EFFECT_KINDS = ("uniform", "only", "drop")  # the arm kinds of a designed experiment that have effects


@dataclass(frozen=True)
class ExperimentSettings:
    """A designed experiment on attention placement (the ``experiment:`` section; see search_spaces/README.md).

    For each block under test: ``uniform:none``, ``uniform:X``, and per depth group g, X only at g and X everywhere
    but g (of these, the arm ``kinds`` listed); the ``control`` block (capacity matched, no attention) and the
    mechanism control (the block with its gate a learned constant) at the same arms. Every arm with every seed.
    """

    blocks: tuple[str, ...]  # attention blocks under test
    groups: tuple[tuple[int, ...], ...]  # disjoint sets of depth indices
    seeds: tuple[int, ...]  # every arm is trained with every seed (paired); disjoint from proxy.seeds
    margin_db: float = DEFAULT_MARGIN_DB  # the smallest PSNR difference that matters (the equivalence margin)
    control: str | None = "conv"  # the capacity control block; None for no control
    mechanism: bool = True  # give each tested block with a single gate its mechanism control (``fixed_<block>``)
    # The arm kinds trained beside ``none``: fewer kinds buy more seeds for the rest (a parent design has no uniform).
    kinds: tuple[str, ...] = EFFECT_KINDS
    # Looks at this question, this experiment included: an inconclusive experiment followed by a larger one is a
    # second look, and each look gets alpha / looks so the family-wise rate over all of them stays alpha.
    looks: int = 1

    @property
    def alpha(self) -> float:
        """The family-wise error rate of this experiment's tests and intervals."""
        return DEFAULT_ALPHA / self.looks


@dataclass(frozen=True)
class Resources:
    """Ray Tune resources of one trial; fractional GPUs let several trials share one GPU."""

    cpu: float = ranged(1.0, 0.0, 1024, low_open=True)
    gpu: float = ranged(0.0, 0.0, 64)
