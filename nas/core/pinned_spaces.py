"""A validated space as a study pins it (``space.json``) and as workers and reports read it back.

The study is written once on one machine and read on others (a committed study, a cluster's workers): the files and
folders its space names are pinned relative to the checkout where they lie in it or beside it, and read back as
absolute paths of the checkout that reads them.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nas.core.settings import (
    EFFECT_KINDS,
    GATE_AT_HALF,
    DataSources,
    ExperimentSettings,
    ParentWeights,
    ProxyBudget,
    Resources,
    SearchSettings,
)
from nas.core.spaces import REPOSITORY, SearchSpace, import_plugin
from nas.sr.protocol import BUILTIN


def pinned_path(path: str) -> str:
    """``path`` as a study pins and shows it: relative to the repository where it lies inside the repository's
    parent folder, else as it is (``builtin``, a path elsewhere on this machine)."""
    named = Path(path)
    if not named.is_absolute() or not named.is_relative_to(REPOSITORY.parent):
        return path
    return os.path.relpath(named, REPOSITORY)


def _unpinned(path: str) -> str:
    """The absolute path ``pinned_path`` stands for (``builtin`` stays)."""
    if path == BUILTIN or Path(path).is_absolute():
        return path
    return os.path.normpath(REPOSITORY / path)


def to_json(space: SearchSpace) -> dict[str, Any]:
    """The validated space as JSON: what a study pins and its workers and reports read back with ``from_json``.

    Its files and folders are pinned with ``pinned_path``: no absolute path of this machine where a relative one
    reads the same file in another checkout.
    """
    document = asdict(space)
    document["overrides"] = {str(depth): list(choices) for depth, choices in space.overrides.items()}
    document["data"] = {  # an empty list left out, as spaces pinned before it existed had it
        key: [pinned_path(p) for p in value] if isinstance(value, list) else pinned_path(value)
        for key, value in space.data.identity().items()
    }
    if document["proxy"]["init"]:
        document["proxy"]["init"]["path"] = pinned_path(document["proxy"]["init"]["path"])
    document["plugins"] = [pinned_path(plugin) for plugin in space.plugins]
    document["source"] = pinned_path(space.source)
    return document


def _data_from_json(data: dict[str, Any]) -> DataSources:
    values: dict[str, Any] = {
        key: tuple(_unpinned(p) for p in value) if isinstance(value, list) else _unpinned(value)
        for key, value in data.items()
    }
    return DataSources(**values)


def from_json(document: dict[str, Any]) -> SearchSpace:
    """The space ``to_json`` wrote, not validated again (its data folders may have moved since); its plugins are
    imported, so the blocks they register can be built."""
    plugins = tuple(_unpinned(plugin) for plugin in document["plugins"])
    for plugin in plugins:
        import_plugin(Path(plugin))
    return SearchSpace(**{
        **document,
        "choices": tuple(document["choices"]),
        "overrides": {int(depth): tuple(choices) for depth, choices in document["overrides"].items()},
        "proxy": _proxy_from_json(document["proxy"]),
        "data": _data_from_json(document["data"]),
        "objectives": tuple(document["objectives"]),
        "search": SearchSettings(**document["search"]),
        "resources": Resources(**document["resources"]),
        "plugins": plugins,
        "experiment": _experiment_from_json(document.get("experiment")),
    })  # fmt: skip


def _proxy_from_json(document: dict[str, Any]) -> ProxyBudget:
    parent = document.get("init")
    init = None
    if parent:  # a space pinned before gate starts could be chosen started its constant gates at half
        init = ParentWeights(**{"gate_start": GATE_AT_HALF, **parent, "path": _unpinned(parent["path"])})
    budgets = tuple(document.get("budgets", ()))  # a space pinned before readings along a run existed has none
    return ProxyBudget(**{**document, "seeds": tuple(document["seeds"]), "budgets": budgets, "init": init})


def _experiment_from_json(document: dict[str, Any] | None) -> ExperimentSettings | None:
    if document is None:
        return None
    groups = tuple(tuple(group) for group in document["groups"])
    kinds = tuple(document.get("kinds", EFFECT_KINDS))  # a space pinned before arm kinds could be chosen has all
    return ExperimentSettings(**{**document, "blocks": tuple(document["blocks"]), "groups": groups,
                                 "seeds": tuple(document["seeds"]), "kinds": kinds})  # fmt: skip
