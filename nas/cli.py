"""The ``nas`` command line: one subcommand per harness step, built from a table of commands (``COMMANDS``: each
one's arguments beside its handler). A handler parses its arguments, calls one library function and prints its
result; what a library caller would need lives in the library, not here."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import blocks
from nas import __version__, devices
from nas.core import catalog, counting, genotypes, networks, resumable, spaces, training
from nas.core.settings import MAX_SEED, ProxyBudget, SearchSettings
from nas.errors import InputError
from nas.search import local_ray
from nas.sr import data, evaluate, protocol
from nas.study.folder import Kind, StudyFolder
from nas.trained import checkpoints, outputs, parents
from nas.trained.outputs import json_text

logger = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
# What a command that runs trials says when it stops short: a study keeps every finished run, and the next run
# of the same command records the interrupted ones and trains them again (``nas.search.run.requeue_interrupted``).
RESUME_HINT = "run the same command again to resume it: its finished runs are kept, the ones it stopped run again"
# Plain text for --help (argparse prints it as is; the module docstring may hold markup).
DESCRIPTION = (
    "Search where attention belongs in lightweight super-resolution networks: list the attention blocks, count a "
    "genotype's cost, train it, evaluate released weights, search a space, confirm the front and report. "
    "Run 'nas COMMAND --help' for a command's options."
)
GENOTYPE_HELP = (
    "genotype id (x2.c40.u24:a2b*16), 'a2n' or 'uniform:<block>'. An id fixes the architecture (widths, depth, "
    "blocks, options) and may differ from the space's; the space gives the scale (the id's must match it), the "
    "data, the proxy budget and the patch size (every block must fit it)"
)
STUDY_HELP = "study folder written by nas search (results/<space name>)"
# Counts bounded by what can run: a typo such as --seeds 99999999999 must not allocate for it while holding a lock.
MAX_TRIALS = int(SearchSettings.__dataclass_fields__["trials"].metadata["range"][1])  # as the space's search.trials
MAX_CONFIRM_SEEDS = 1000
MAX_TOP = 10_000
MAX_IMAGES = 100_000
MAX_TILE = 16_384
MAX_ITERATIONS = int(ProxyBudget.__dataclass_fields__["iterations"].metadata["range"][1])  # as the space's
# nas train's options that replace a setting of the space, and the space's key each replaces.
TRAIN_OVERRIDES = {
    "--iterations": "proxy.iterations",
    "--batch-size": "proxy.batch_size",
    "--patch-size": "proxy.patch_size",
    "--lr": "proxy.lr",
    "--train-data": "data.train",
    "--val-data": "data.val",
}


class Result(Protocol):
    """What a command prints: as text, or with ``--json`` as JSON."""

    def to_text(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


class TrialsResult(Result, Protocol):
    """What a command that runs a study's trials prints, and whether it stopped short."""

    @property
    def interrupted(self) -> bool: ...

    @property
    def kind(self) -> Kind: ...


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            allowed = f"a positive integer up to {high}" if low == 1 else f"an integer from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text}")
        return value

    return parse


def path_text(text: str) -> str:
    """An argparse type for a path: anything but empty (an empty path would name the working folder, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a path")
    return text


def port_number(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1 to 65535, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def print_result(result: Result, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """``result`` as text, or as JSON with the entries of ``extra`` added."""
    print(json_text({**result.to_json(), **(extra or {})}) if as_json else result.to_text())


# --- the block zoo and trained networks ---


def add_blocks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--channels", type=bounded_int(1, blocks.MAX_CHANNELS), default=40,
        help=f"feature width, 1 to {blocks.MAX_CHANNELS} (default 40)",
    )  # fmt: skip


def run_blocks(args: argparse.Namespace) -> int:
    print_result(catalog.catalogue(args.channels), args.json)
    return 0


def _image_progress(total: int) -> Callable[[evaluate.ImageScore], None]:
    """One stderr line per scored image: a long evaluation is never silent."""
    done = itertools.count(1)

    def show(score: evaluate.ImageScore) -> None:
        print(f"nas eval: image {next(done)}/{total} {score.name}: {score.psnr:.3f} dB", file=sys.stderr, flush=True)

    return show


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming a trained network and the images to run it on (``trained_network`` reads them)."""
    parser.add_argument("--checkpoint", type=path_text, help="a checkpoint written by nas train --save")
    parser.add_argument("--arch", choices=["a2n"], help="a released architecture, with --scale and --weights")
    parser.add_argument("--scale", type=int, choices=networks.SUPPORTED_SCALES)
    parser.add_argument(
        "--weights",
        type=path_text,
        help="released weights (state dict) for --arch, e.g. the A2N authors' (the harness never downloads)",
    )
    parser.add_argument(
        "--input-range", type=positive_float,
        help="pixel range --weights were trained on (default: A2N's 255; a checkpoint records its own)",
    )  # fmt: skip
    parser.add_argument("--data", type=path_text, required=True, help="folder of HR images (Set5, Set14, B100, ...)")


def trained_network(args: argparse.Namespace, device: str) -> checkpoints.TrainedNetwork:
    """The network that ``--checkpoint`` or ``--arch a2n --scale S --weights W`` names, on ``device``."""
    if args.checkpoint is not None:
        if args.arch is not None or args.weights is not None:
            raise InputError("give either --checkpoint PATH or --arch a2n --scale S --weights PATH, not both")
        if args.input_range is not None:
            raise InputError("--input-range is for --weights: a checkpoint records its input range; drop --input-range")
        trained = checkpoints.load(args.checkpoint)
        if args.scale is not None and args.scale != trained.genotype.scale:
            raise InputError(
                f"--scale {args.scale} differs from the checkpoint's scale {trained.genotype.scale}; drop --scale"
            )
    elif args.arch is None or args.scale is None or args.weights is None:
        raise InputError("name the network: --checkpoint PATH, or --arch a2n with --scale S and --weights PATH")
    else:
        trained = checkpoints.released_a2n(
            args.scale, args.weights, args.input_range or checkpoints.RELEASED_INPUT_RANGE
        )
    trained.network.to(device)
    return trained


def add_tile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tile", type=bounded_int(1, MAX_TILE), help="LR tile size, to bound memory on large images")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    add_tile_argument(parser)
    parser.add_argument(
        "--lr-folder", type=path_text, help="read LR images from here instead of making them (<name>xS.png)"
    )
    parser.add_argument(
        "--y", choices=protocol.Y_MODES, default=protocol.Y_FLOAT,
        help="Y kept in float (default; BasicSR, A2N's 38.06 dB) or rounded to uint8 (RCAN's MATLAB scripts)",
    )  # fmt: skip


def run_eval(args: argparse.Namespace) -> int:
    device = chosen_device(args)
    trained = trained_network(args, device)
    scale = trained.genotype.scale
    images, refused = scored_images(args.data, scale)
    pairs = data.evaluation_pairs(images, scale, args.lr_folder)
    result = evaluate.evaluate(
        trained.network, pairs, scale, device, tile=args.tile, y=args.y, on_image=_image_progress(len(pairs))
    )
    protocol_text = f"{args.y} Y channel, border {scale}, MATLAB bicubic LR"
    title = f"{args.arch or trained.genotype} x{scale} on {args.data} ({protocol_text})"
    print(json_text({**result.to_json(), **refused}) if args.json else result.to_text(title))
    return 0


def scored_images(folder: str, scale: int, count: int | None = None) -> tuple[list[data.NamedImage], dict[str, Any]]:
    """The first ``count`` images of ``folder`` (default: all) that the protocol can score at ``scale``, and the
    JSON entry that names those left out as too small (``nas.sr.evaluate.measurable_images`` warns of each).

    Raises:
        InputError: the folder holds no image, or none large enough.
    """
    kept, refused = evaluate.measurable_images(data.folder_images(folder)[:count], scale)
    return kept, {"refused_images": [asdict(image) for image in refused]}


def add_ablate_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    add_tile_argument(parser)
    parser.add_argument("--groups", help="depths switched off together, e.g. 0-3,4-7 (default: 4 groups)")
    parser.add_argument(
        "--mode",
        choices=["remove", "renormalise", "gate-mean"],
        help="one mode (default: all): branch off, other weight kept or 1; or gates at their spatial mean",
    )
    parser.add_argument("--out", type=path_text, help="folder for ablation.json and ablation.png")


def run_ablate(args: argparse.Namespace) -> int:
    from nas.trained import ablation
    from nas.trained import network_figures as figures  # matplotlib loads only for these analyses

    outputs.output_folder(args.out, "ablation")
    device = chosen_device(args)
    trained = trained_network(args, device)
    groups = ablation.resolve_groups(trained, args.groups)
    images, refused = scored_images(args.data, trained.genotype.scale)
    pairs = data.evaluation_pairs(images, trained.genotype.scale)
    modes = (args.mode,) if args.mode else ablation.MODES
    result = ablation.ablate(trained, pairs, groups, modes, device, args.tile)
    print_result(result, args.json, refused)  # before the files: a failed write loses nothing already shown
    record = {**result.to_json(), **refused}
    outputs.write_outputs(args.out, "ablation", record, lambda path: figures.ablation_figure(result, path))
    return 0


def depth_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be depths separated by commas, e.g. 0,7,15; got {text}") from None


def add_attention_maps_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    parser.add_argument("--images", type=bounded_int(1, MAX_IMAGES), help="only the first N images of --data")
    parser.add_argument("--layers", type=depth_list, help="depths drawn in the figure, e.g. 0,7,15")
    parser.add_argument("--out", type=path_text, help="folder for attention_maps.json and attention_maps.png")


def run_attention_maps(args: argparse.Namespace) -> int:
    from nas.trained import attention_maps
    from nas.trained import network_figures as figures  # matplotlib loads only for these analyses

    outputs.output_folder(args.out, "attention_maps")
    device = chosen_device(args)
    trained = trained_network(args, device)
    images, refused = scored_images(args.data, trained.genotype.scale, args.images)
    pairs = data.evaluation_pairs(images, trained.genotype.scale)
    maps = attention_maps.collect(trained, pairs, device, args.layers)
    print_result(maps, args.json, refused)  # before the files: a failed write loses nothing already shown
    record = {**maps.to_json(), **refused}
    outputs.write_outputs(args.out, "attention_maps", record, lambda to: figures.attention_map_figure(maps.grid, to))
    return 0


# --- one genotype of a space ---


def add_genotype_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", type=path_text, required=True, help="search space YAML")
    parser.add_argument("--genotype", required=True, help=GENOTYPE_HELP)


def _space_and_genotype(args: argparse.Namespace) -> tuple[spaces.SearchSpace, genotypes.Genotype]:
    search_space = spaces.load(args.space)
    if args.command == "train":
        search_space = overridden_space(search_space, args)
    arch = genotypes.Genotype.resolve(args.genotype, search_space)
    genotypes.check_runs_in(arch, search_space, training=args.command == "train")
    return search_space, arch


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    add_genotype_arguments(parser)
    parser.add_argument("--latency", action="store_true", help="also time the forward pass (on --device)")


def run_cost(args: argparse.Namespace) -> int:
    device = chosen_device(args) if args.latency else None
    _, arch = _space_and_genotype(args)
    result = counting.network_cost(arch, latency_device=device)
    if args.json:
        print(json_text({"genotype": str(arch), **result.to_json()}))
    else:
        print(result.to_text(str(arch), device))
    return 0


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_genotype_arguments(parser)
    parser.add_argument(
        "--seed", type=bounded_int(0, MAX_SEED), help=f"0 to {MAX_SEED}; default: the space's first proxy seed"
    )
    parser.add_argument(
        "--save", metavar="FILE",
        help=f"write the trained network here (a checkpoint for nas eval/ablate), and while it trains a resumable "
        f"state beside it, FILE{resumable.RESUME_SUFFIX}",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint-every", type=bounded_int(1, MAX_ITERATIONS), metavar="N",
        help=f"with --save: write the resumable state every N iterations (default: every tenth of the run, at most "
        f"every {resumable.MAX_STATE_GAP})",
    )  # fmt: skip
    parser.add_argument(
        "--resume", action="store_true",
        help=f"with --save FILE: continue the training FILE{resumable.RESUME_SUFFIX} holds, given the same options; "
        "it ends as a run never stopped would, to the last bit",
    )  # fmt: skip
    overrides = parser.add_argument_group(
        "budget and data", "replace a setting of the space's proxy: or data: section, checked as that key is there"
    )
    for option, key in TRAIN_OVERRIDES.items():
        section, name = key.split(".")
        if section == "data":
            overrides.add_argument(option, metavar="DIR", help=f"the space's {key}: a folder of HR images or builtin")
        else:
            overrides.add_argument(option, metavar=name.upper(), help=f"the space's {key}")


def overridden_space(search_space: spaces.SearchSpace, args: argparse.Namespace) -> spaces.SearchSpace:
    """``search_space`` with the settings that ``nas train``'s budget and data options give, each checked as the
    space file's own key is (a relative folder is read from the working folder).

    Raises:
        SpaceError: a value outside the key's range, or a folder that does not exist.
    """
    for option, value in _overrides_given(args).items():
        search_space = spaces.overridden(search_space, TRAIN_OVERRIDES[option], value, option, Path.cwd())
    return search_space


def _overrides_given(args: argparse.Namespace) -> dict[str, str]:
    """The budget and data options this command gives, with their values as typed."""
    given = {option: getattr(args, option.removeprefix("--").replace("-", "_")) for option in TRAIN_OVERRIDES}
    return {option: value for option, value in given.items() if value is not None}


def run_train(args: argparse.Namespace) -> int:
    device = chosen_device(args)
    search_space, arch = _space_and_genotype(args)
    seed = args.seed if args.seed is not None else search_space.proxy.seeds[0]
    resuming = resumable.resumable_training(
        args.save, args.checkpoint_every, args.resume, arch, search_space.proxy, search_space.data, seed, device
    )
    parent = parents.network(search_space)
    try:
        network, result = training.train_network(
            arch, search_space.proxy, search_space.data, seed, device=device, progress_lines=True, resumable=resuming,
            parent=parent,
        )  # fmt: skip
    except training.TrainingFailed as failure:
        print(json_text({"genotype": str(arch), "failed": str(failure)}) if args.json else f"failed: {failure}")
        return 1
    if args.save:
        assert isinstance(network, networks.SRNetwork)  # train_network built it from arch (networks.build)
        facts = {
            "seed": seed,
            "initial_weights": result.initial_weights,
            "budget": asdict(search_space.proxy),  # as trained: the space's, with the options' overrides
            "data": asdict(search_space.data),
            "overridden": [TRAIN_OVERRIDES[option] for option in _overrides_given(args)],  # the space keys replaced
        }
        checkpoints.save_network(args.save, network, arch, **facts, psnr=result.psnr, ssim=result.ssim)
        resumable.resume_path(args.save).unlink(missing_ok=True)  # the trained network supersedes the state
    if args.json:
        print(json_text({"genotype": str(arch), "seed": seed, **result.to_json()}))
        return 0
    print(result.to_text(str(arch), seed, search_space.proxy))
    if args.save:
        print(f"saved           {args.save}  (nas eval --checkpoint {args.save} --data HR_FOLDER)")
    return 0


# --- a study folder ---


def trial_runner(address: str | None) -> ModuleType:
    """``nas.search.run`` for a command that runs trials: imported (with Ray) only once the environment of a Ray
    started here is set, and with the process quieted."""
    local_ray.prepare(address)
    with local_ray.importing_ray():
        from nas.search import run

    run.quiet_process()
    return run


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", type=path_text, required=True, help="search space YAML")
    parser.add_argument(
        "--trials", type=bounded_int(1, MAX_TRIALS), help="total trials of the study (default: the space's)"
    )
    parser.add_argument("--results", type=path_text, default="results", help="results folder (default results/)")
    parser.add_argument("--storage", help="Optuna storage URL (default: a journal file in the study folder)")
    parser.add_argument("--fresh", action="store_true", help="start a new study (the old folder is kept)")


def run_search(args: argparse.Namespace) -> int:
    run = trial_runner(args.address)
    settings = run.RunSettings(
        trials=args.trials, results=Path(args.results), storage=args.storage, address=args.address, fresh=args.fresh
    )
    return print_trials(run.search(args.space, settings), args.json)


def add_study_argument(parser: argparse.ArgumentParser, optional: str | None = None) -> None:
    """The study folder a command reads (``optional``: when it may be left out, said in its help), and whether the
    plugin files its space names may be imported."""
    parser.add_argument("study", type=path_text, nargs="?" if optional else None, help=f"{STUDY_HELP}{optional or ''}")
    parser.add_argument(
        "--trust-plugins", action="store_true",
        help="import the plugin files the study's space names (Python code); without it they are refused",
    )  # fmt: skip


def add_confirm_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_argument(parser)
    parser.add_argument(
        "--seeds", type=bounded_int(1, MAX_CONFIRM_SEEDS), default=3, help="fresh seeds per genotype (default 3)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--front-only", action="store_true", help="every front genotype (the default)")
    which.add_argument(
        "--top", type=bounded_int(1, MAX_TOP), help="only the N front genotypes of largest hypervolume share"
    )
    parser.add_argument(
        "--budget-scale", type=positive_float, default=1.0, help="iterations × F of the search's budget (default 1)"
    )


def run_confirm(args: argparse.Namespace) -> int:
    trial_runner(args.address)
    from nas.search import confirm_runs as confirmation

    top = None if args.front_only else args.top
    folder = StudyFolder(Path(args.study), plugins_trusted=args.trust_plugins)
    confirmed = confirmation.confirm(
        folder, args.seeds, top, args.budget_scale, args.address, training.train, sys.stderr
    )
    return print_trials(confirmed, args.json)


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", type=path_text, required=True, help="search space YAML with an experiment: section")
    parser.add_argument("--results", type=path_text, default="results", help="results folder (default results/)")
    parser.add_argument("--plan", action="store_true", help="print the arms, runs, wall time and power; train nothing")


def run_experiment(args: argparse.Namespace) -> int:
    if args.plan:
        return run_experiment_plan(args)
    run = trial_runner(args.address)
    from nas.search import experiment

    settings = run.RunSettings(results=Path(args.results), address=args.address)
    return print_trials(experiment.run_experiment(args.space, settings), args.json)


def run_experiment_plan(args: argparse.Namespace) -> int:
    """``nas experiment --plan``: the arms, runs and wall time (``nas.search``) with the power the study's noise gives
    them (``nas.report``); the search stage imports no report, so the two meet here."""
    run = trial_runner(args.address)
    from nas.report import experiment_section
    from nas.search import experiment

    prepared = experiment.prepare(args.space, run.RunSettings(results=Path(args.results), address=args.address))
    power = experiment_section.planned_power(prepared.folder, prepared.design)
    return print_trials(experiment.plan(prepared, power), args.json)


def print_trials(result: TrialsResult, as_json: bool) -> int:
    """Prints what a command that runs a study's trials did; its exit status: 130 where it stopped short."""
    print_result(result, as_json)
    if result.interrupted:
        logger.warning("%s stopped early; %s", result.kind.activity, RESUME_HINT)
        return EXIT_INTERRUPTED
    return 0


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_argument(parser)
    parser.add_argument(
        "--to-dashboard", action="store_true", help="also save the plots and verdict into the study for nas dashboard"
    )


def run_report(args: argparse.Namespace) -> int:
    from nas.report import build  # matplotlib and plotly load only for reports

    folder = StudyFolder(Path(args.study), plugins_trusted=args.trust_plugins)
    print_result(build.build(folder, to_dashboard=args.to_dashboard), args.json)
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_argument(parser, "; with --checkpoint it may be left out (it adds the genotype's runs in the study)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--front", action="store_true", help="every genotype on the search's Pareto front")
    which.add_argument("--trial", type=bounded_int(0, MAX_TRIALS), help="the genotype of search trial N")
    which.add_argument("--genotype", help="genotype id, 'a2n' or 'uniform:<block>' (at the study's scale)")
    which.add_argument(
        "--checkpoint",
        type=path_text,
        help="a checkpoint written by nas train --save: its trained network (else freshly initialised)",
    )
    parser.add_argument(
        "--out", type=path_text, required=True, help="folder for each network's .pt2 program, .json and .onnx"
    )


def run_export(args: argparse.Namespace) -> int:
    from nas.report import study_export  # reads the study as the report does: pandas, plotly

    choice = study_export.Choice(args.front, args.trial, args.genotype, args.checkpoint)
    print_result(study_export.export_study(args.study, choice, args.out, args.trust_plugins), args.json)
    return 0


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", type=path_text, help=STUDY_HELP)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")


def run_dashboard(args: argparse.Namespace) -> int:
    from nas.report import dashboard

    dashboard.serve(StudyFolder(Path(args.study)), args.host, args.port)
    return 0


# --- options every command of a kind shares (argparse parents) ---


def _message_options() -> argparse.ArgumentParser:
    """-q / -v, which every command takes: how much the harness says on stderr."""
    parent = argparse.ArgumentParser(add_help=False)
    amount = parent.add_mutually_exclusive_group()
    amount.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=logging.WARNING, default=logging.INFO,
        help="of the harness's messages on stderr, only warnings (progress lines and results still print)",
    )  # fmt: skip
    amount.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=logging.DEBUG, help="also say debug messages"
    )
    return parent


def _json_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print the result as JSON (machine-readable)")
    return parent


def _address_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--address", help="Ray cluster address to join (default: start Ray locally)")
    return parent


def _device_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--device", help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if present, else cpu)")
    return parent


def chosen_device(args: argparse.Namespace) -> str:
    """``--device``, checked, or the default device (``nas.devices.default_device``)."""
    return devices.check_device(args.device or devices.default_device())


@dataclass(frozen=True)
class Command:
    """One subcommand: its arguments beside its handler, and the shared options (parents) it takes."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    options: tuple[Callable[[], argparse.ArgumentParser], ...] = ()
    runs_trials: bool = False  # a study's trials: a stopped run says how to resume it


COMMANDS = (
    Command("blocks", "list the registered attention blocks", add_blocks_arguments, run_blocks, (_json_option,)),
    Command("eval", "evaluate a trained network with the SR protocol", add_eval_arguments, run_eval,
            (_json_option, _device_option)),
    Command("ablate", "switch a trained network's attention off per depth and group; PSNR/SSIM lost",
            add_ablate_arguments, run_ablate, (_json_option, _device_option)),
    Command("attention-maps", "a trained network's attention maps and their correlation with high frequencies",
            add_attention_maps_arguments, run_attention_maps, (_json_option, _device_option)),
    Command("cost", "params, MACs and ops of a genotype", add_cost_arguments, run_cost, (_json_option, _device_option)),
    Command("train", "train a genotype with the space's proxy budget", add_train_arguments, run_train,
            (_json_option, _device_option)),
    Command("search", "search the space: Ray Tune trials, Optuna Pareto search", add_search_arguments, run_search,
            (_json_option, _address_option), runs_trials=True),
    Command("confirm", "retrain the front and the uniform placements with fresh seeds (the search verdict's data)",
            add_confirm_arguments, run_confirm, (_json_option, _address_option), runs_trials=True),
    Command("experiment", "train the space's designed experiment (arms × seeds) to test where attention helps",
            add_experiment_arguments, run_experiment, (_json_option, _address_option), runs_trials=True),
    Command("report", "Pareto report of a study: does attention help only where it helps?", add_report_arguments,
            run_report, (_json_option,)),
    Command("export", "a study's genotypes as torch.export programs (and ONNX) that run without the harness",
            add_export_arguments, run_export, (_json_option,)),
    Command("dashboard", "serve optuna-dashboard on a study, live", add_dashboard_arguments, run_dashboard),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        parents = [_message_options(), *(option() for option in command.options)]
        subparser = commands.add_parser(command.name, help=command.help, parents=parents)
        command.arguments(subparser)
        subparser.set_defaults(handler=command.handler, runs_trials=command.runs_trials)
    return parser


class CommandFormatter(logging.Formatter):
    """The harness's messages as this command says them: ``nas COMMAND: [warning: ]message``."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.prefix = f"nas {command}: "

    def format(self, record: logging.LogRecord) -> str:
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"{self.prefix}{level}{record.getMessage()}"


@contextlib.contextmanager
def _messages_said(command: str, verbosity: int) -> Iterator[None]:
    """While a command runs, the library's messages (loggers under ``nas``) go to stderr prefixed with the command,
    and only there; afterwards the ``nas`` logger is as it was (a caller embedding ``main`` keeps its own setup)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CommandFormatter(command))
    logger = logging.getLogger("nas")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(verbosity)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, a job scheduler) stops as cleanly as Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with _messages_said(args.command, args.verbosity):
            return args.handler(args)
    except (InputError, blocks.UnknownBlockError, blocks.BlockOptionError) as error:
        print(f"nas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        resume = f"; {RESUME_HINT}" if args.runs_trials else ""
        print(f"nas {args.command}: stopped{resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
