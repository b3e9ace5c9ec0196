"""The objectives a search can optimise and constrain: one record each; the code lists them nowhere else.

PSNR is the one objective maximised; every other objective is a cost, minimised, and a space file may cap it under
``constraints:``. Counted costs (MACs, params) follow from the genotype alone and are exact, so a space's
costliest genotype bounds them; latency is measured on a device and varies from run to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

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
    text_scale: tuple[float, str] = (1.0, "")  # divisor and SI prefix of its values in report text

    def limit(self, constraints: Mapping[str, float]) -> float | None:
        """The cap that a space's ``constraints`` put on this objective; None without one."""
        return None if self.constraint is None else constraints.get(self.constraint)


OBJECTIVES: Mapping[str, Objective] = MappingProxyType({objective.name: objective for objective in (
    Objective("psnr", True, "dB", "mean proxy PSNR over the validation images (Y channel, border = scale)", None,
              False, (1.0, "proxy PSNR (dB, Y channel)")),
    Objective("macs", False, "MACs", f"multiply-adds for a {COST_HR_OUTPUT}", "max_macs", True,
              (1e9, f"GMACs (multiply-adds, {COST_HR_OUTPUT})"), (1e9, "G")),
    Objective("params", False, "parameters", "learnable parameters", "max_params", True, (1e3, "parameters (K)")),
    Objective("latency_ms", False, "ms", f"median forward time for a {COST_HR_OUTPUT} on the trial's device",
              "max_latency_ms", False, (1.0, f"latency (ms, median forward, {COST_HR_OUTPUT})")),
)})  # fmt: skip
DEFAULT_OBJECTIVES = ("psnr", "macs")  # a space's objectives when its file names none
COSTS = tuple(name for name, objective in OBJECTIVES.items() if not objective.maximized)
COUNTED_COSTS = tuple(name for name, objective in OBJECTIVES.items() if objective.counted)
_BY_CONSTRAINT = {objective.constraint: objective for objective in OBJECTIVES.values() if objective.constraint}
CONSTRAINT_KEYS = tuple(_BY_CONSTRAINT)


def of_constraint(key: str) -> Objective:
    """The objective that the space-file constraint ``key`` (``max_macs``...) caps; KeyError for an unknown key."""
    return _BY_CONSTRAINT[key]
