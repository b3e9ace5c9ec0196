"""The ``nas`` command line: one subcommand per harness step, built from a table of commands (``COMMANDS``: each
one's arguments beside its handler). A handler parses its arguments, calls one library function and prints its
result; what a library caller would need lives in the library, not here."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import blocks
from nas import __version__, cli_process, devices
from nas.cli_options import (
    address_option,
    bounded_int,
    depth_list,
    device_option,
    json_option,
    message_options,
    path_text,
    port_number,
    positive_float,
)
from nas.core import catalog, counting, networks, resumable, training
from nas.core.settings import MAX_SEED, ProxyBudget, SearchSettings
from nas.errors import InputError
from nas.search import local_ray
from nas.sr import protocol
from nas.study.folder import Kind, StudyFolder, written_from
from nas.trained import analyses, saved_training
from nas.trained.outputs import json_text

logger = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
# What a command that runs trials says when it stops short: a study keeps every finished run, and the next run
# of the same command records the interrupted ones and trains them again (``nas.study.lifecycle.requeue_interrupted``).
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
MAX_RANDOM_REPEATS = 100
MAX_IMAGES = 100_000
MAX_TILE = 16_384
MAX_ITERATIONS = int(ProxyBudget.__dataclass_fields__["iterations"].metadata["range"][1])  # as the space's


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


def print_result(result: Result, as_json: bool) -> None:
    """``result`` as text, or as JSON."""
    print(json_text(result.to_json()) if as_json else result.to_text())


def printer(as_json: bool) -> Callable[[Result], None]:
    """``print_result``, for a library function to call before it writes its files: a failed write loses nothing."""
    return lambda result: print_result(result, as_json)


# --- the block zoo and trained networks ---


def add_blocks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--channels", type=bounded_int(1, blocks.MAX_CHANNELS), default=40,
        help=f"feature width, 1 to {blocks.MAX_CHANNELS} (default 40)",
    )  # fmt: skip


def run_blocks(args: argparse.Namespace) -> int:
    print_result(catalog.catalogue(args.channels), args.json)
    return 0


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming a trained network (``nas.trained.analyses.NetworkSource``) and the images to run it on."""
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


def network_source(args: argparse.Namespace) -> analyses.NetworkSource:
    """The network ``--checkpoint``, or ``--arch``, ``--scale``, ``--weights`` and ``--input-range`` name."""
    return analyses.NetworkSource(args.checkpoint, args.arch, args.scale, args.weights, args.input_range)


def run_eval(args: argparse.Namespace) -> int:
    source = network_source(args)
    result = analyses.evaluate_network(source, args.data, args.device, args.tile, args.y, args.lr_folder)
    print_result(result, args.json)
    return 0


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
    source = network_source(args)
    analyses.ablate_network(
        source, args.data, args.groups, args.mode, args.device, args.tile, args.out, printer(args.json)
    )
    return 0


def add_attention_maps_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    parser.add_argument("--images", type=bounded_int(1, MAX_IMAGES), help="only the first N images of --data")
    parser.add_argument("--layers", type=depth_list, help="depths drawn in the figure, e.g. 0,7,15")
    parser.add_argument("--out", type=path_text, help="folder for attention_maps.json and attention_maps.png")


def run_attention_maps(args: argparse.Namespace) -> int:
    source = network_source(args)
    analyses.map_attention(source, args.data, args.images, args.layers, args.device, args.out, printer(args.json))
    return 0


# --- one genotype of a space ---


def add_genotype_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", type=path_text, required=True, help="search space YAML")
    parser.add_argument("--genotype", required=True, help=GENOTYPE_HELP)


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    add_genotype_arguments(parser)
    parser.add_argument("--latency", action="store_true", help="also time the forward pass (on --device)")


def run_cost(args: argparse.Namespace) -> int:
    device = devices.chosen(args.device) if args.latency else None
    print_result(counting.genotype_cost(args.space, args.genotype, device), args.json)
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
    for option, key in saved_training.TRAIN_OVERRIDES.items():
        section, name = key.split(".")
        if section == "data":
            overrides.add_argument(option, metavar="DIR", help=f"the space's {key}: a folder of HR images or builtin")
        elif name == "budgets":
            overrides.add_argument(
                option, metavar="N,N,...",
                help=f"the space's {key}: validate along the run at these iterations too (the run lasts the largest, "
                "unless --iterations says otherwise)",
            )  # fmt: skip
        else:
            keeps = "; the space's proxy.budgets within it are kept" if name == "iterations" else ""
            overrides.add_argument(option, metavar=name.upper(), help=f"the space's {key}{keeps}")


def run_train(args: argparse.Namespace) -> int:
    given = {key: vars(args)[option[2:].replace("-", "_")] for option, key in saved_training.TRAIN_OVERRIDES.items()}
    overrides = {key: value for key, value in given.items() if value is not None}
    request = saved_training.TrainRequest(
        args.space, args.genotype, args.seed, args.save, args.checkpoint_every, args.resume, overrides,
        space_base=written_from(Path(args.space)),  # a study folder's copy of its space file: the original's folder
    )  # fmt: skip
    trained = saved_training.train_genotype(request, args.device)
    print_result(trained, args.json)
    return 1 if trained.failed else 0


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
        "--seeds",
        type=bounded_int(1, MAX_CONFIRM_SEEDS),
        default=3,
        help="fresh seeds per genotype (default 3)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--front-only", action="store_true", help="every front genotype (the default)")
    which.add_argument(
        "--top", type=bounded_int(1, MAX_TOP), help="only the N front genotypes of largest hypervolume share"
    )
    parser.add_argument(
        "--budget-scale",
        type=positive_float,
        default=1.0,
        help="iterations × F of the search's budget (default 1)",
    )


def run_confirm(args: argparse.Namespace) -> int:
    trial_runner(args.address)
    from nas.search import confirm_runs as confirmation

    folder = StudyFolder(Path(args.study), plugins_trusted=args.trust_plugins)
    confirmed = confirmation.confirm(
        folder, args.seeds, args.top, args.budget_scale, args.address, training.train, sys.stderr
    )
    return print_trials(confirmed, args.json)


def add_random_search_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_argument(parser)
    parser.add_argument(
        "--repeats",
        type=bounded_int(1, MAX_RANDOM_REPEATS),
        default=1,
        help="random searches the baseline holds in all (default 1); a larger number later adds the missing ones",
    )


def run_random_search(args: argparse.Namespace) -> int:
    trial_runner(args.address)
    from nas.search import random_search

    folder = StudyFolder(Path(args.study), plugins_trusted=args.trust_plugins)
    result = random_search.random_search(folder, args.repeats, args.address, training.train, sys.stderr)
    return print_trials(result, args.json)


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", type=path_text, required=True, help="search space YAML with an experiment: section")
    parser.add_argument("--results", type=path_text, default="results", help="results folder (default results/)")
    parser.add_argument("--plan", action="store_true", help="print the arms, runs, wall time and power; train nothing")
    parser.add_argument(
        "--paired-sd",
        type=positive_float,
        metavar="DB",
        help="with --plan: the paired sd (dB) to size the seeds for, for every contrast family (such as one "
        "bench/learning_curve.py measured), instead of the study's own estimate",
    )


def run_experiment(args: argparse.Namespace) -> int:
    if args.plan:
        return run_experiment_plan(args)
    if args.paired_sd is not None:
        raise InputError("--paired-sd sizes a plan: give it with --plan (a run trains the seeds its space lists)")
    run = trial_runner(args.address)
    from nas.search import experiment

    settings = run.RunSettings(results=Path(args.results), address=args.address)
    return print_trials(experiment.run_experiment(args.space, settings), args.json)


def run_experiment_plan(args: argparse.Namespace) -> int:
    """``nas experiment --plan``: the plan, given the report's reading of the study's noise as its power."""
    run = trial_runner(args.address)
    from nas.report import experiment_section
    from nas.search import experiment

    settings = run.RunSettings(results=Path(args.results), address=args.address)
    given = args.paired_sd
    power = experiment_section.planned_power if given is None else experiment_section.given_power(given)
    return print_trials(experiment.plan_experiment(args.space, settings, power), args.json)


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
    Command("blocks", "list the registered attention blocks", add_blocks_arguments, run_blocks, (json_option,)),
    Command("eval", "evaluate a trained network with the SR protocol", add_eval_arguments, run_eval,
            (json_option, device_option)),
    Command("ablate", "switch a trained network's attention off per depth and group; PSNR/SSIM lost",
            add_ablate_arguments, run_ablate, (json_option, device_option)),
    Command("attention-maps", "a trained network's attention maps and their correlation with high frequencies",
            add_attention_maps_arguments, run_attention_maps, (json_option, device_option)),
    Command("cost", "params, MACs and ops of a genotype", add_cost_arguments, run_cost, (json_option, device_option)),
    Command("train", "train a genotype with the space's proxy budget", add_train_arguments, run_train,
            (json_option, device_option)),
    Command("search", "search the space: Ray Tune trials, Optuna Pareto search", add_search_arguments, run_search,
            (json_option, address_option), runs_trials=True),
    Command("confirm", "retrain the front and the uniform placements with fresh seeds (the search verdict's data)",
            add_confirm_arguments, run_confirm, (json_option, address_option), runs_trials=True),
    Command("random-search", "random searches of the study's space, its trial count and seed (the search's reference)",
            add_random_search_arguments, run_random_search, (json_option, address_option), runs_trials=True),
    Command("experiment", "train the space's designed experiment (arms × seeds) to test where attention helps",
            add_experiment_arguments, run_experiment, (json_option, address_option), runs_trials=True),
    Command("report", "Pareto report of a study: does attention help only where it helps?", add_report_arguments,
            run_report, (json_option,)),
    Command("export", "a study's genotypes as torch.export programs (and ONNX) that run without the harness",
            add_export_arguments, run_export, (json_option,)),
    Command("dashboard", "serve optuna-dashboard on a study, live", add_dashboard_arguments, run_dashboard),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        parents = [message_options(), *(option() for option in command.options)]
        subparser = commands.add_parser(command.name, help=command.help, parents=parents)
        command.arguments(subparser)
        subparser.set_defaults(handler=command.handler, runs_trials=command.runs_trials)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, cli_process.stop_on_sigterm)
    try:
        with cli_process.messages_said(args.command, args.verbosity):
            return args.handler(args)
    except (InputError, blocks.UnknownBlockError, blocks.BlockOptionError) as error:
        print(f"nas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:
        if not cli_process.raised_while_stopping(error):
            raise
        return _stopped(args)
    except KeyboardInterrupt:
        return _stopped(args)


def _stopped(args: argparse.Namespace) -> int:
    resume = f"; {RESUME_HINT}" if args.runs_trials else ""
    print(f"nas {args.command}: stopped{resume}", file=sys.stderr)
    return EXIT_INTERRUPTED
