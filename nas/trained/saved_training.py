"""``nas train`` as one call, ``train_genotype``: a genotype of a space trained with the space's proxy budget (some
of its settings replaced), from the space's trained parent where it names one, and saved as a checkpoint that
``nas eval``, ``nas ablate`` and ``nas attention-maps`` read.

While a saved training runs it keeps a resumable state beside its file (``nas.core.resumable``); the checkpoint,
written once training ends, supersedes that state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nas import devices
from nas.core import networks, resumable, spaces, training
from nas.core.genotypes import Genotype, resolve_runnable
from nas.core.settings import ProxyBudget
from nas.errors import InputError
from nas.trained import checkpoints, parents

# The settings of the space that ``nas train`` may replace: each one's option, and the space's key it replaces.
TRAIN_OVERRIDES = {
    "--iterations": "proxy.iterations",
    "--budgets": "proxy.budgets",
    "--batch-size": "proxy.batch_size",
    "--patch-size": "proxy.patch_size",
    "--lr": "proxy.lr",
    "--train-data": "data.train",
    "--val-data": "data.val",
}


def overridden_space(search_space: spaces.SearchSpace, overrides: Mapping[str, str]) -> spaces.SearchSpace:
    """``search_space`` with ``overrides`` (the space's key, as ``proxy.iterations``, to its value as typed: one
    of ``TRAIN_OVERRIDES``), each checked as the space file's own key is (a relative folder is read from the
    working folder) and named in a message by its option.

    Raises:
        InputError: a key that is not one of ``TRAIN_OVERRIDES``.
        SpaceError: a value outside the key's range, or a folder that does not exist.
    """
    unknown = sorted(set(overrides) - set(TRAIN_OVERRIDES.values()))
    if unknown:
        raise InputError(
            f"cannot replace {unknown}: the settings nas train replaces are {list(TRAIN_OVERRIDES.values())}"
        )
    values: dict[str, Any] = dict(overrides)
    if "proxy.budgets" in values:
        values["proxy.budgets"] = readings = _integers(values["proxy.budgets"])
        if "proxy.iterations" not in values and all(isinstance(reading, int) for reading in readings):
            values["proxy.iterations"] = max(readings)  # the run lasts its last reading
    elif "proxy.iterations" in values and str(values["proxy.iterations"]).isdecimal():
        # A run of another length keeps the space's readings that lie within it.
        kept = [b for b in search_space.proxy.budgets if b <= int(values["proxy.iterations"])]
        values.update({"proxy.budgets": kept} if kept else {})
    if "proxy.iterations" in values:  # the readings are set after the run's length, and checked against it
        search_space = replace(search_space, proxy=replace(search_space.proxy, budgets=()))
    for option, key in TRAIN_OVERRIDES.items():
        if key in values:
            search_space = spaces.overridden(search_space, key, values[key], option, Path.cwd())
    return search_space


def _integers(listed: str) -> list[int | str]:
    """``300,1000,3000`` as integers; an item that is no integer stays text, for the space's check to name."""
    items = [item.strip() for item in str(listed).split(",")]
    return [int(item) if item.isdecimal() else item for item in items]


@dataclass(frozen=True)
class TrainRequest:
    """What ``nas train`` trains: the genotype ``genotype`` names (an id or an alias) under the space file ``space``.

    ``seed`` defaults to the space's first proxy seed; ``save`` is the checkpoint's file (None: not saved), with
    its resumable state written every ``checkpoint_every`` iterations (None: ``nas.core.resumable``'s default) and
    continued with ``resume``; ``overrides`` replace settings of the space (``overridden_space``)."""

    space: str | Path
    genotype: str
    seed: int | None = None
    save: str | None = None
    checkpoint_every: int | None = None
    resume: bool = False
    overrides: Mapping[str, str] = field(default_factory=dict)
    space_base: Path | None = None  # where the space file's relative paths are read from (None: its own folder)


@dataclass(frozen=True)
class TrainedGenotype:
    """What ``train_genotype`` did: the genotype, its seed and budget (the space's, with the overrides), and the
    training's result, or why it failed; ``saved``: the checkpoint written, if any."""

    genotype: Genotype
    seed: int
    budget: ProxyBudget
    result: training.TrainResult | None = None
    failure: str | None = None  # why training produced no result (NaN or infinite loss)
    saved: str | None = None

    @property
    def failed(self) -> bool:
        return self.result is None

    def to_json(self) -> dict[str, Any]:
        if self.result is None:
            return {"genotype": str(self.genotype), "failed": self.failure}
        return {"genotype": str(self.genotype), "seed": self.seed, **self.result.to_json()}

    def to_text(self) -> str:
        if self.result is None:
            return f"failed: {self.failure}"
        lines = [self.result.to_text(str(self.genotype), self.seed, self.budget)]
        if self.saved:
            lines.append(f"saved           {self.saved}  (nas eval --checkpoint {self.saved} --data HR_FOLDER)")
        return "\n".join(lines)


def train_genotype(request: TrainRequest, device: str | None = None) -> TrainedGenotype:
    """``nas train``: trains the genotype of ``request`` on ``device`` (checked; default ``nas.devices.
    default_device``) with the space's proxy budget, one progress line per stage on stderr, from the space's parent
    where it has ``proxy.init``; with ``request.save``, saves the trained network there with the seed, budget and
    data it was trained with and the space keys replaced, and removes the resumable state beside it.

    A training that fails (NaN or infinite loss) is returned as such, with nothing saved.

    Raises:
        InputError: the device, the space, the genotype, an override, ``save`` or the state resumed cannot be used
            (``nas.core.resumable.resumable_training``).
    """
    chosen = devices.chosen(device)
    search_space = overridden_space(spaces.load(request.space, request.space_base), request.overrides)
    arch = resolve_runnable(request.genotype, search_space, training=True)
    seed = request.seed if request.seed is not None else search_space.proxy.seeds[0]
    budget, sources = search_space.proxy, search_space.data
    resuming = resumable.resumable_training(
        request.save, request.checkpoint_every, request.resume, arch, budget, sources, seed, chosen
    )
    parent = parents.network(search_space)
    try:
        network, result = training.train_network(
            arch, budget, sources, seed, device=chosen, progress_lines=True, resumable=resuming, parent=parent
        )
    except training.TrainingFailed as failure:
        return TrainedGenotype(arch, seed, budget, failure=str(failure))
    if request.save:
        assert isinstance(network, networks.SRNetwork)  # train_network built it from arch (networks.build)
        facts = {
            "seed": seed,
            "initial_weights": result.initial_weights,
            "budget": asdict(budget),  # as trained: the space's, with the overrides
            "data": sources.identity(),
            "overridden": [key for key in TRAIN_OVERRIDES.values() if key in request.overrides],  # the keys replaced
        }
        checkpoints.save_network(request.save, network, arch, **facts, psnr=result.psnr, ssim=result.ssim)
        resumable.resume_path(request.save).unlink(missing_ok=True)  # the trained network supersedes the state
    return TrainedGenotype(arch, seed, budget, result, saved=request.save)
