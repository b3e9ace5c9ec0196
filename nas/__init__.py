"""Neural-architecture search over where attention belongs in lightweight super-resolution networks.

The pipeline, one subpackage per stage: ``nas.sr`` (the SR evaluation protocol), ``nas.core`` (search spaces,
genotypes, networks, initial weights, cost, proxy training), ``nas.trained`` (trained networks: checkpoints,
attention ablation, attention maps), ``nas.study`` (the study folder: its records, storage and lifecycle),
``nas.search`` (the Ray Tune / Optuna search, running trials into a study) and ``nas.report`` (fronts,
statistics, the report). The entry points below are imported on first use, so that
``import nas`` loads neither Ray nor Optuna.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name → "module:attribute".
_ENTRY_POINTS = {
    "load_space": "nas.core.spaces:load",
    "Genotype": "nas.core.genotypes:Genotype",
    "network_cost": "nas.core.counting:network_cost",
    "train": "nas.core.training:train",
    "evaluate": "nas.sr.evaluate:evaluate",
    "run_search": "nas.search.run:search",
    "RunSettings": "nas.search.run:RunSettings",
    "build_report": "nas.report.build:build",
}
__all__ = ["__version__", *_ENTRY_POINTS]


def __getattr__(name: str) -> Any:
    if name not in _ENTRY_POINTS:
        raise AttributeError(f"module 'nas' has no attribute {name!r}")
    module, _, attribute = _ENTRY_POINTS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
