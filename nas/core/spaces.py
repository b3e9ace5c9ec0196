"""Search spaces: a YAML file validated into a typed ``SearchSpace`` before anything is trained.

Every error names the file, the key path, the bad value and what is allowed. Hostile files (alias bombs,
enormous numbers, binary data, an empty file, a list instead of a mapping) are rejected before any work.
See ``search_spaces/README.md`` for every key.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

import blocks
from nas import paths
from nas.core.objectives import CONSTRAINT_KEYS, DEFAULT_OBJECTIVES, OBJECTIVES
from nas.core.safe_yaml import load_yaml
from nas.core.settings import (
    DEFAULT_MARGIN_DB,
    EFFECT_KINDS,
    GATE_AT_PARENT_MEAN,
    GATE_STARTS,
    MAX_SEED,
    DataSources,
    ExperimentSettings,
    ParentWeights,
    ProxyBudget,
    Resources,
    SearchSettings,
)
from nas.core.space_checker import Checker, SpaceError
from nas.sr.protocol import BUILTIN
from nas.sr.weight_files import file_sha256

MAX_FILE_BYTES = 1_000_000
PARENT_ARCHES = ("a2n",)  # released weights a space's proxy.init may name, by architecture
MAX_DEPTH = 64  # block slots of a network (a space's depth, a genotype id's block count)
EXPERIMENT_KEYS = tuple(ExperimentSettings.__dataclass_fields__)
DEFAULT_EXPERIMENT_SEEDS = 4  # fresh seeds from FIRST_EXPERIMENT_SEED up, skipping the search's proxy seeds
FIRST_EXPERIMENT_SEED = 100
MAX_LOOKS = 100  # looks at one question: each is tested at alpha / looks
# Quadratic attention holds batch × (patch²)² float32 scores per block during training; above this a trial
# would exhaust a 24 GiB machine or most GPUs.
MAX_ATTENTION_BYTES = 4 * 2**30
# The checkout this harness runs from. A study pins the paths its space names relative to it wherever they lie
# inside the checkout's parent folder (the checkout itself, or reference data beside it), so a study folder
# committed on one machine reads the same files in any clone on another (``nas.core.pinned_spaces``).
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space; ``choices_at(depth)`` gives the blocks allowed at each depth."""

    name: str
    scale: int
    channels: int
    upsampler_channels: int
    depth: int
    choices: tuple[str, ...]
    overrides: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    block_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    proxy: ProxyBudget = ProxyBudget()
    data: DataSources = DataSources()
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    constraints: Mapping[str, float] = field(default_factory=dict)
    search: SearchSettings = SearchSettings()
    resources: Resources = Resources()
    plugins: tuple[str, ...] = ()  # Python files that register extra blocks, imported on load
    experiment: ExperimentSettings | None = None  # a designed experiment (``nas experiment``), when the file has one
    source: str = "<memory>"

    def choices_at(self, depth: int) -> tuple[str, ...]:
        return self.overrides.get(depth, self.choices)

    def options_for(self, block: str) -> dict[str, Any]:
        return dict(self.block_options.get(block, {}))

    def all_blocks(self) -> list[str]:
        """Every block that can appear at some depth, in first-seen order."""
        seen: dict[str, None] = {}
        for depth in range(self.depth):
            seen.update(dict.fromkeys(self.choices_at(depth)))
        return list(seen)

    def uses(self, objective: str) -> bool:
        """Whether trials of this space need ``objective``: the space optimises it or caps it."""
        return objective in self.objectives or OBJECTIVES[objective].limit(self.constraints) is not None


def _read_document(path: Path) -> Any:
    example = "pass a YAML file such as search_spaces/sr_tiny.yaml"
    problem = paths.kind(path) or (paths.FOLDER if path.is_dir() else None)
    if problem is not None:
        raise SpaceError(f"{path}: {problem}; {example}")
    size = paths.file_size(path)  # before reading: a huge file is refused unread
    if size > MAX_FILE_BYTES:
        raise SpaceError(f"{path}: file is {size:,} bytes; a search space is at most {MAX_FILE_BYTES:,} bytes")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SpaceError(f"{path}: cannot read the file ({error.strerror}); check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpaceError(f"{path}: not a text file (invalid UTF-8); a search space is a YAML text file") from None
    try:
        document = load_yaml(text)
    except yaml.YAMLError as error:
        raise SpaceError(f"{path}: not valid YAML: {error}".replace("\n", " ")) from None
    if document is None:
        raise SpaceError(f"{path}: file is empty (no keys); see search_spaces/README.md for the keys")
    return document


def load(path: str | Path, base_dir: Path | None = None) -> SearchSpace:
    """Reads and validates a search-space file; the relative paths it names are read from ``base_dir`` (default: the
    file's own folder; a study folder's copy of its space file names ``nas.study.folder.written_from``'s).

    Raises:
        SpaceError: anything wrong with the file, naming the key path, the value and what is allowed.
    """
    path = paths.not_empty(path, "--space", "search_spaces/sr_tiny.yaml")
    return parse(_read_document(path), str(path), base_dir=path.parent if base_dir is None else base_dir)


def _in_space_folder(value: str, base_dir: Path) -> Path:
    """The absolute path a space file names: ``~`` expanded, a relative one read from the file's folder, links
    followed (a link loop is left as it is, for the caller's check of what the path is, ``nas.paths.kind``)."""
    named = Path(value).expanduser()
    absolute = named if named.is_absolute() else base_dir / named
    try:
        return absolute.resolve()
    except (RuntimeError, OSError):  # a symbolic link loop
        return absolute


def _data_source(check: Checker, value: Any, path: str, base_dir: Path) -> str:
    if value == BUILTIN:
        return value
    if not isinstance(value, str) or not value:
        raise check.fail(path, value, f"expected {BUILTIN!r} or the path of an image folder")
    folder = _in_space_folder(value, base_dir)
    problem = paths.kind(folder) or (None if folder.is_dir() else paths.FILE)
    if problem is not None:
        raise check.fail(path, value, f"folder {folder} {problem}; use {BUILTIN!r} or an existing folder")
    return str(folder)


def _parent(check: Checker, value: Any, path: str, base_dir: Path) -> ParentWeights:
    """``proxy.init``: ``{weights: FILE, arch: a2n}`` (released weights) or ``{checkpoint: FILE}`` (a harness
    checkpoint), the file read from the space file's folder when relative and named by its content hash. Whether
    the weights fit their architecture and the space is checked where they are loaded (``nas.trained.parents``)."""
    if not isinstance(value, dict) or set(value) - {"gate_start"} not in ({"weights", "arch"}, {"checkpoint"}):
        raise check.fail(path, value, f"expected {{weights: FILE, arch: {PARENT_ARCHES[0]}}} or {{checkpoint: FILE}}, "
                         "either with gate_start")  # fmt: skip
    gate_start = check.choice(value.get("gate_start", GATE_AT_PARENT_MEAN), f"{path}.gate_start", GATE_STARTS)
    key = "checkpoint" if "checkpoint" in value else "weights"
    arch = None
    if key == "weights":
        arch = check.choice(value["arch"], f"{path}.arch", PARENT_ARCHES)
    name = value[key]
    if not isinstance(name, str) or not name:
        raise check.fail(f"{path}.{key}", name, "expected the path of a weights file")
    file = _in_space_folder(name, base_dir)
    problem = paths.kind(file) or (paths.FOLDER if file.is_dir() else None)
    if problem is not None:
        fix = "the harness never downloads weights" if problem == paths.MISSING else "give a weights file"
        raise check.fail(f"{path}.{key}", name, f"file {file} {problem}; {fix}")
    return ParentWeights(str(file), file_sha256(file), arch, gate_start)


def _import_plugin(check: Checker, value: Any, path: str, base_dir: Path) -> str:
    """Imports a Python file that registers blocks (``@blocks.register``), once per process."""
    if not isinstance(value, str) or not value.endswith(".py"):
        raise check.fail(path, value, "expected the path of a Python file (.py) that registers blocks")
    file = _in_space_folder(value, base_dir)
    problem = paths.kind(file) or (paths.FOLDER if file.is_dir() else None)
    if problem is not None:
        raise check.fail(path, value, f"file {file} {problem}")
    try:
        import_plugin(file)
    except SystemExit as stop:  # a plugin that calls sys.exit would otherwise end the process without a word
        reason = f"importing it failed: it called sys.exit({stop.code!r}); a plugin must only register blocks"
        raise check.fail(path, value, reason) from None
    except Exception as error:
        raise check.fail(path, value, f"importing it failed: {type(error).__name__}: {error}") from None
    return str(file)


def import_plugin(file: Path) -> None:
    """Imports a Python file that registers blocks (``@blocks.register``), once per process."""
    module_name = "nas_plugin_" + hashlib.sha1(str(file).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{file} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    blocks.register_fixed_variants()  # the plugin's gated blocks get their mechanism controls too


def parse(document: Any, source: str = "<memory>", base_dir: Path = Path(".")) -> SearchSpace:
    """Validates a parsed YAML document into a ``SearchSpace``.

    Raises:
        SpaceError: as ``load``.
    """
    check = Checker(source)
    known = tuple(key for key in SearchSpace.__dataclass_fields__ if key != "source")
    document = check.mapping(document, "", known)
    for required in ("name", "scale", "channels", "depth", "choices"):
        if required not in document:
            raise check.fail(required, None, "this key is required")
    depth = check.integer(document["depth"], "depth", 1, MAX_DEPTH)
    plugins = _plugins(check, document.get("plugins", []), base_dir)  # before the choices: they register blocks
    space = SearchSpace(
        name=_name(check, document["name"]),
        scale=check.integer(document["scale"], "scale", 2, 4),
        channels=check.integer(document["channels"], "channels", 4, blocks.MAX_CHANNELS),
        upsampler_channels=check.integer(
            document.get("upsampler_channels", 24), "upsampler_channels", 1, blocks.MAX_CHANNELS
        ),
        depth=depth,
        choices=check.block_list(document["choices"], "choices"),
        overrides=_overrides(check, document.get("overrides", {}) or {}, depth),
        block_options=_block_options(check, document.get("block_options", {}) or {}),
        proxy=_section(check, document, "proxy", ProxyBudget, base_dir),
        data=_section(check, document, "data", DataSources, base_dir),
        objectives=_objectives(check, document.get("objectives", list(SearchSpace.objectives))),
        constraints={
            key: check.number(value, f"constraints.{key}", 0.0, 1e18, low_open=True)
            for key, value in check.section(document, "constraints", CONSTRAINT_KEYS).items()
        },
        search=_section(check, document, "search", SearchSettings, base_dir),
        resources=_section(check, document, "resources", Resources, base_dir),
        plugins=plugins,
        source=source,
    )
    _check_blocks_fit(space, check)
    _check_budgets(space.proxy, check)
    _check_validation_sources(space.data, check)
    return replace(space, experiment=_experiment(check, document.get("experiment"), space))


def _check_validation_sources(sources: DataSources, check: Checker) -> None:
    """Each further validation source is read once, and is not ``data.val`` (it would only repeat its verdict)."""
    for index, source in enumerate(sources.also_val):
        if source == sources.val or source in sources.also_val[:index]:
            raise check.fail(f"data.also_val[{index}]", source, "a source data.val or data.also_val names already")


def _check_budgets(budget: ProxyBudget, check: Checker) -> None:
    """Every reading of ``proxy.budgets`` lies within the run: the run lasts ``proxy.iterations``."""
    for index, reading in enumerate(budget.budgets):
        if reading > budget.iterations:
            raise check.fail(
                f"proxy.budgets[{index}]", reading,
                f"a reading along the run, at most proxy.iterations ({budget.iterations}), the run's length",
            )  # fmt: skip


def _experiment(check: Checker, value: Any, space: SearchSpace) -> ExperimentSettings | None:
    """The ``experiment:`` section, checked against the space: blocks it offers, depths it has, fresh seeds."""
    if value is None:
        return None
    section = check.mapping(value, "experiment", EXPERIMENT_KEYS)
    attention = tuple(block for block in space.all_blocks() if block != blocks.NO_ATTENTION)
    tested = check.block_list(section["blocks"], "experiment.blocks") if "blocks" in section else attention
    for index, block in enumerate(tested):
        if block not in attention:
            raise check.fail(f"experiment.blocks[{index}]", block, f"not an attention choice of this space; its "
                             f"attention choices: {', '.join(attention) or 'none'}")  # fmt: skip
    control = section.get("control", "conv")
    if control is not None:
        control = check.choice(control, "experiment.control", tuple(blocks.names()))
        if control in tested:
            raise check.fail("experiment.control", control, "the control must not be a block under test")
    return ExperimentSettings(
        blocks=tested,
        groups=_groups(check, section.get("groups"), space, tested),
        seeds=_experiment_seeds(check, section.get("seeds"), space.proxy.seeds),
        margin_db=check.number(
            section.get("margin_db", DEFAULT_MARGIN_DB), "experiment.margin_db", 0.0, 10.0, low_open=True
        ),
        control=control,
        mechanism=check.boolean(section.get("mechanism", True), "experiment.mechanism"),
        kinds=_kinds(check, section.get("kinds"), space),
        looks=check.integer(section.get("looks", 1), "experiment.looks", 1, MAX_LOOKS),
    )


def _kinds(check: Checker, value: Any, space: SearchSpace) -> tuple[str, ...]:
    """The arm kinds to train, in their canonical order (by default all; a parent design, ``proxy.init``, has no
    ``uniform`` arm to list)."""
    if value is None:
        return EFFECT_KINDS
    offered = EFFECT_KINDS if space.proxy.init is None else EFFECT_KINDS[1:]
    if not isinstance(value, list) or not value:
        raise check.fail("experiment.kinds", value, f"expected a non-empty list of arm kinds from {', '.join(offered)}")
    kinds = {check.choice(kind, f"experiment.kinds[{i}]", offered) for i, kind in enumerate(value)}
    if space.proxy.init is None and "drop" in kinds and "uniform" not in kinds:
        raise check.fail("experiment.kinds", value, "a drop arm is read against the uniform arm: list uniform too")
    return tuple(kind for kind in offered if kind in kinds)


def _groups(check: Checker, value: Any, space: SearchSpace, tested: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """Disjoint, non-empty groups of depth indices; by default each depth that offers every tested block, alone."""
    depth = space.depth
    if value is None:
        offering = tuple((d,) for d in range(depth) if all(block in space.choices_at(d) for block in tested))
        if not offering:
            raise check.fail("experiment.groups", value, "no depth offers every tested block; list the groups")
        return offering
    if not isinstance(value, list) or not value:
        raise check.fail("experiment.groups", value, "expected a non-empty list of lists of depth indices")
    groups: list[tuple[int, ...]] = []
    seen: set[int] = set()
    for g, group in enumerate(value):
        if not isinstance(group, list) or not group:
            raise check.fail(f"experiment.groups[{g}]", group, "expected a non-empty list of depth indices")
        depths = tuple(check.integer(d, f"experiment.groups[{g}][{i}]", 0, depth - 1) for i, d in enumerate(group))
        overlap = sorted(seen.intersection(depths))
        if overlap or len(set(depths)) != len(depths):
            raise check.fail(f"experiment.groups[{g}]", group, f"depth {overlap[0] if overlap else depths[0]} is "
                             "in two groups (or twice in one); groups must not overlap")  # fmt: skip
        seen.update(depths)
        groups.append(depths)
    return tuple(groups)


def _experiment_seeds(check: Checker, value: Any, search_seeds: tuple[int, ...]) -> tuple[int, ...]:
    """Every arm's training seeds: given, or the first DEFAULT_EXPERIMENT_SEEDS from 100 up; never a search seed."""
    if value is None:
        fresh = (s for s in range(FIRST_EXPERIMENT_SEED, FIRST_EXPERIMENT_SEED + 1000) if s not in search_seeds)
        return tuple(next(fresh) for _ in range(DEFAULT_EXPERIMENT_SEEDS))
    if not isinstance(value, list) or len(value) < 2:
        raise check.fail("experiment.seeds", value, "expected a list of at least two seeds (the seed noise needs them)")
    seeds = tuple(check.integer(s, f"experiment.seeds[{i}]", 0, MAX_SEED) for i, s in enumerate(value))
    if len(set(seeds)) != len(seeds):
        raise check.fail("experiment.seeds", value, "list each seed once")
    if set(seeds) & set(search_seeds):
        allowed = f"use seeds the search does not (proxy.seeds is {list(search_seeds)}): fresh seeds only"
        raise check.fail("experiment.seeds", value, allowed)
    return seeds


def _name(check: Checker, name: Any) -> str:
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum() or len(name) > 64:
        raise check.fail("name", name, "expected a short name of letters, digits, '_' and '-' (the study folder)")
    return name


def _plugins(check: Checker, value: Any, base_dir: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise check.fail("plugins", value, "expected a list of Python files that register blocks")
    return tuple(_import_plugin(check, v, f"plugins[{i}]", base_dir) for i, v in enumerate(value))


def _overrides(check: Checker, value: Any, depth: int) -> dict[int, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise check.fail("overrides", value, "expected a mapping of depth index to a list of blocks")
    return {
        check.integer(key, f"overrides.{key}", 0, depth - 1): check.block_list(blocks_, f"overrides.{key}")
        for key, blocks_ in value.items()
    }


def _block_options(check: Checker, value: Any) -> dict[str, dict[str, Any]]:
    """Each block's options under their canonical names and values (``blocks.canonical_options``)."""
    checked = {}
    for block, options in check.mapping(value, "block_options", tuple(blocks.names())).items():
        path = f"block_options.{block}"
        entry = blocks.spec(block)
        check.mapping(options, path, (*entry.default_options(), *(old for old, _ in entry.aliases)))
        # YAML 1.1 reads 1e-4 as a string; a string that spells a number is that number, as elsewhere in the file.
        numbers = {key: check._parse_number(v) if isinstance(v, str) else v for key, v in options.items()}
        try:
            checked[block] = blocks.canonical_options(block, numbers)
        except blocks.BlockOptionError as error:
            raise check.fail(path, options, str(error)) from None
    return checked


def _objectives(check: Checker, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise check.fail("objectives", value, f"expected a list from: {', '.join(OBJECTIVES)}")
    objectives = tuple(check.choice(o, f"objectives[{i}]", tuple(OBJECTIVES)) for i, o in enumerate(value))
    if objectives[0] != "psnr" or len(set(objectives)) != len(objectives):
        raise check.fail("objectives", value, "psnr first, then distinct cost objectives")
    return objectives


def _section(check: Checker, document: dict, key: str, settings: type, base_dir: Path) -> Any:
    """A settings dataclass from the YAML section ``key``; keys it leaves out take the fields' defaults."""
    section = check.section(document, key, tuple(f.name for f in fields(settings)))
    return settings(**{
        spec.name: _setting(check, section[spec.name], f"{key}.{spec.name}", spec, base_dir)
        for spec in fields(settings) if spec.name in section
    })  # fmt: skip


def overridden(space: SearchSpace, key: str, value: Any, source: str, base_dir: Path) -> SearchSpace:
    """``space`` with one setting, ``key`` (``proxy.iterations``, ``data.train``, ...), set to ``value``, checked as
    that key of a space file is: the same range, the same message, ``source`` naming where the value came from (an
    option) and a relative folder read from ``base_dir``.

    Raises:
        SpaceError: the value is outside the setting's range, or names no folder.
    """
    section_name, name = key.split(".")
    section = getattr(space, section_name)
    spec = next(spec for spec in fields(section) if spec.name == name)
    check = Checker(source)
    changed = replace(space, **{section_name: replace(section, **{name: _setting(check, value, key, spec, base_dir)})})
    _check_budgets(changed.proxy, check)
    return changed


def _setting(check: Checker, value: Any, path: str, spec: Field, base_dir: Path) -> Any:
    """One field's value, checked against the range or choices its metadata states."""
    if "choices" in spec.metadata:
        return check.choice(value, path, spec.metadata["choices"])
    if spec.metadata.get("source") and spec.metadata.get("sequence"):
        if not isinstance(value, list):
            raise check.fail(path, value, f"expected a list of image folders (or {BUILTIN!r})")
        return tuple(_data_source(check, item, f"{path}[{i}]", base_dir) for i, item in enumerate(value))
    if spec.metadata.get("source"):
        return _data_source(check, value, path, base_dir)
    if spec.metadata.get("parent"):
        return _parent(check, value, path, base_dir)
    low, high, low_open = spec.metadata["range"]
    if spec.metadata.get("sequence"):
        if not isinstance(value, list) or not value:
            raise check.fail(path, value, f"expected a non-empty list of integers from {low} to {high}")
        return tuple(check.integer(item, f"{path}[{i}]", low, high) for i, item in enumerate(value))
    if spec.type == "int":
        return check.integer(value, path, low, high)
    return check.number(value, path, low, high, low_open=low_open)


def _check_blocks_fit(space: SearchSpace, check: Checker) -> None:
    """Every block must build at this width with its options, and every chosen one run on the patches."""
    chosen = space.all_blocks()
    for block in dict.fromkeys([*chosen, *space.block_options]):
        options = space.options_for(block)
        try:
            blocks.create(block, space.channels, **options)
        except blocks.BlockOptionError as error:
            where = f"block_options.{block}" if options else "choices"
            raise check.fail(where, options or block, f"cannot build at channels={space.channels}: {error}") from None
    for block in chosen:
        problem = patch_problem(block, space.proxy)
        if problem:
            raise check.fail("proxy.patch_size", space.proxy.patch_size, problem)


def patch_problem(block: str, budget: ProxyBudget) -> str | None:
    """Why ``block`` cannot train on ``budget``'s patches (below its minimum input, or all-pairs attention too
    large for memory), or None."""
    entry = blocks.spec(block)
    if budget.patch_size < entry.min_size:
        return f"block {block!r} needs patches of at least {entry.min_size}×{entry.min_size} LR pixels"
    if entry.quadratic:
        pixels = budget.patch_size**2
        attention_bytes = budget.batch_size * pixels * pixels * 4
        if attention_bytes > MAX_ATTENTION_BYTES:
            return (
                f"block {block!r} attends over all pixel pairs: {attention_bytes / 2**30:.1f} GiB of scores per "
                f"block at batch {budget.batch_size}; use patch_size and batch_size with "
                f"batch·patch⁴·4 B <= {MAX_ATTENTION_BYTES / 2**30:.0f} GiB, or drop {block!r}"
            )
    return None
