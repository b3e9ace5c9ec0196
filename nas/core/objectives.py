"""The objectives a search can optimise and constrain: one record each; the code lists them nowhere else.

PSNR is the one objective maximised; every other objective is a cost, minimised, and a space file may cap it under
``constraints:``. Counted costs (MACs, params) follow from the genotype alone and are exact, so a space's
costliest genotype bounds them; latency is measured on a device and varies from run to run.

Adding an objective is adding its record here, and, where it is measured rather than counted, the code that
measures it: a value of that name on the training's result (``source`` TRAINING) or on the genotype's cost
(``nas.core.counting.Cost``, ``source`` COST). Trial records, the trials CSV, the report's frame and tables and the
dashboard's metric names all read the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from nas.sr.protocol import COST_HR_OUTPUT


@dataclass(frozen=True)
class Objective:
    """One objective: which way is better, what a value is, how a space caps it and how reports show it."""

    name: str  # the trial record's field and the space file's ``objectives:`` entry
    maximized: bool
    unit: str
    measure: str  # what one value is, in words
    constraint: str | None  # the space file's ``constraints:`` key that caps it; None: it cannot be capped
    counted: bool  # an exact count from the genotype alone; False: measured, so it varies between runs
    axis: tuple[float, str]  # figure axis: divisor of the values and label
    source: Literal["training", "cost"]  # where a trial's value comes from: the training's result, or the cost's
    column: tuple[str, float, str]  # a report table's column: heading, divisor of the values, format of a cell
    text_scale: tuple[float, str] = (1.0, "")  # divisor and SI prefix of its values in report text

    def limit(self, constraints: Mapping[str, float]) -> float | None:
        """The cap that a space's ``constraints`` put on this objective; None without one."""
        return None if self.constraint is None else constraints.get(self.constraint)

    def cell(self, value: float) -> str:
        """``value`` as a report table's cell shows it."""
        _, divisor, spec = self.column
        return format(value / divisor, spec)


_REGISTRY: dict[str, Objective] = {objective.name: objective for objective in (
    Objective("psnr", True, "dB", "mean proxy PSNR over the validation images (Y channel, border = scale)", None,
              False, (1.0, "proxy PSNR (dB, Y channel)"), "training", ("PSNR (single run)", 1.0, ".3f")),
    Objective("macs", False, "MACs", f"multiply-adds for a {COST_HR_OUTPUT}", "max_macs", True,
              (1e9, f"GMACs (multiply-adds, {COST_HR_OUTPUT})"), "cost", ("GMACs", 1e9, ".3f"), (1e9, "G")),
    Objective("params", False, "parameters", "learnable parameters", "max_params", True, (1e3, "parameters (K)"),
              "cost", ("params", 1.0, ",.0f")),
    Objective("latency_ms", False, "ms", f"median forward time for a {COST_HR_OUTPUT} on the trial's device",
              "max_latency_ms", False, (1.0, f"latency (ms, median forward, {COST_HR_OUTPUT})"), "cost",
              ("latency (ms)", 1.0, ".1f")),
)}  # fmt: skip
# The registry, read live: the names below are taken once, at import, from the records above.
OBJECTIVES: Mapping[str, Objective] = MappingProxyType(_REGISTRY)
DEFAULT_OBJECTIVES = ("psnr", "macs")  # a space's objectives when its file names none
COSTS = tuple(name for name, objective in OBJECTIVES.items() if not objective.maximized)  # as imported
COUNTED_COSTS = tuple(name for name, objective in OBJECTIVES.items() if objective.counted)
_BY_CONSTRAINT = {objective.constraint: objective for objective in OBJECTIVES.values() if objective.constraint}
CONSTRAINT_KEYS = tuple(_BY_CONSTRAINT)


def of_constraint(key: str) -> Objective:
    """The objective that the space-file constraint ``key`` (``max_macs``...) caps; KeyError for an unknown key."""
    return _BY_CONSTRAINT[key]


def maximized() -> tuple[str, ...]:
    """The registry's maximised objectives, in its order."""
    return tuple(name for name, objective in OBJECTIVES.items() if objective.maximized)


def costs() -> tuple[str, ...]:
    """The registry's costs (minimised), in its order."""
    return tuple(name for name, objective in OBJECTIVES.items() if not objective.maximized)


def of_source(source: str) -> tuple[str, ...]:
    """The objectives whose trial values come from ``source`` (``training`` or ``cost``)."""
    return tuple(name for name, objective in OBJECTIVES.items() if objective.source == source)


def register(objective: Objective) -> None:
    """Adds ``objective`` to the registry as if its record stood above (a test's planted objective; the names taken
    at import, ``COSTS`` and the like, stay as they were)."""
    _REGISTRY[objective.name] = objective


def unregister(name: str) -> None:
    """Removes the objective ``register`` added."""
    del _REGISTRY[name]
