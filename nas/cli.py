"""The ``nas`` command line: one subcommand per harness step."""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

import blocks
from nas import __version__, devices
from nas.core import catalog, counting, genotypes, networks, spaces, training
from nas.core.settings import MAX_SEED
from nas.errors import InputError
from nas.search import local_ray
from nas.search.studies import StudyFolder
from nas.sr import data, evaluate, protocol
from nas.trained import checkpoints

AddCommand = Callable[..., argparse.ArgumentParser]  # a subparsers action's add_parser: one more command

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
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


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


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


def port_number(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1 to 65535, got {text}")
    return value


def run_blocks(args: argparse.Namespace) -> int:
    rows = catalog.block_rows(args.channels)
    if args.json:
        print(json.dumps({"channels": args.channels, "blocks": catalog.rows_as_dicts(rows)}, indent=2))
    else:
        print(catalog.format_table(rows, args.channels))
    return 0


def _image_progress(total: int) -> Callable[[evaluate.ImageScore], None]:
    """One stderr line per scored image: a long evaluation is never silent."""
    done = itertools.count(1)

    def show(score: evaluate.ImageScore) -> None:
        print(f"nas eval: image {next(done)}/{total} {score.name}: {score.psnr:.3f} dB", file=sys.stderr, flush=True)

    return show


def trained_network(args: argparse.Namespace) -> checkpoints.TrainedNetwork:
    """The network that ``--checkpoint`` or ``--arch a2n --scale S --weights W`` names, on ``--device`` (checked)."""
    device = devices.check_device(args.device)
    if args.checkpoint is not None:
        if args.arch is not None or args.weights is not None:
            raise InputError("give either --checkpoint PATH or --arch a2n --scale S --weights PATH, not both")
        trained = checkpoints.load(args.checkpoint)
        if args.scale is not None and args.scale != trained.genotype.scale:
            raise InputError(
                f"--scale {args.scale} differs from the checkpoint's scale {trained.genotype.scale}; drop --scale"
            )
    elif args.arch is None or args.scale is None or args.weights is None:
        raise InputError("name the network: --checkpoint PATH, or --arch a2n with --scale S and --weights PATH")
    else:
        trained = checkpoints.released_a2n(args.scale, args.weights, args.input_range)
    trained.network.to(device)
    return trained


def run_eval(args: argparse.Namespace) -> int:
    trained = trained_network(args)
    scale = trained.genotype.scale
    pairs = data.evaluation_pairs(data.folder_images(args.data), scale, args.lr_folder)
    progress = _image_progress(len(pairs))
    result = evaluate.evaluate(trained.network, pairs, scale, args.device, tile=args.tile, y=args.y, on_image=progress)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    width = max(len(score.name) for score in result.images)
    network_name = args.arch or trained.genotype
    print(f"{network_name} x{scale} on {args.data} ({args.y} Y channel, border {scale}, MATLAB bicubic LR)")
    print(f"{'image'.ljust(width)}  {'PSNR':>7}  {'SSIM':>6}")
    for score in result.images:
        print(f"{score.name.ljust(width)}  {score.psnr:7.3f}  {score.ssim:.4f}")
    print(f"{'mean'.ljust(width)}  {result.mean_psnr:7.3f}  {result.mean_ssim:.4f}")
    return 0


def _write_outputs(out: str | None, name: str, record: dict, draw: Callable[[Path], None]) -> None:
    """With ``--out DIR``: ``DIR/NAME.json`` holds ``record`` and ``draw(DIR/NAME.png)`` draws the figure."""
    if out is None:
        return
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2))
    draw(folder / f"{name}.png")
    print(f"wrote {folder / name}.json and {folder / name}.png", file=sys.stderr)


def run_ablate(args: argparse.Namespace) -> int:
    from nas.trained import ablation, figures  # matplotlib loads only for these analyses

    trained = trained_network(args)
    groups = ablation.resolve_groups(trained, args.groups)
    pairs = data.evaluation_pairs(data.folder_images(args.data), trained.genotype.scale)
    modes = (args.mode,) if args.mode else ablation.MODES
    result = ablation.ablate(trained, pairs, groups, modes, args.device, args.tile)
    record = result.to_json()
    _write_outputs(args.out, "ablation", record, lambda path: figures.ablation_figure(result, path))
    print(json.dumps(record, indent=2) if args.json else ablation.format_table(result))
    return 0


def depth_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be depths separated by commas, e.g. 0,7,15; got {text}") from None


def run_attention_maps(args: argparse.Namespace) -> int:
    from nas.trained import attention_maps, figures  # matplotlib loads only for these analyses

    trained = trained_network(args)
    images = data.folder_images(args.data)[: args.images]
    pairs = data.evaluation_pairs(images, trained.genotype.scale)
    maps = attention_maps.collect(trained, pairs, args.device, args.layers)
    record = maps.to_json()
    _write_outputs(args.out, "attention_maps", record, lambda path: figures.attention_map_figure(maps.grid, path))
    print(json.dumps(record, indent=2) if args.json else attention_maps.format_table(maps))
    return 0


def _space_and_genotype(args: argparse.Namespace) -> tuple[spaces.SearchSpace, genotypes.Genotype]:
    search_space = spaces.load(args.space)
    arch = genotypes.Genotype.resolve(args.genotype, search_space)
    genotypes.check_runs_in(arch, search_space, training=args.command == "train")
    return search_space, arch


def run_cost(args: argparse.Namespace) -> int:
    device = devices.check_device(args.device) if args.latency else None
    _, arch = _space_and_genotype(args)
    result = counting.network_cost(arch, latency_device=device)
    if args.json:
        print(json.dumps({"genotype": str(arch), **result.to_json()}, indent=2))
        return 0
    height, width = result.hr_size
    print(f"genotype   {arch}")
    print(f"params     {result.params:,}")
    print(f"MACs       {result.macs / 1e9:.2f} G  (multiply-adds for a {width}x{height} HR output)")
    print(f"ops        {result.ops / 1e9:.2f} G  (all arithmetic ops, 2 per multiply-add)")
    if result.latency_ms is not None:
        print(f"latency    {result.latency_ms:.1f} ms  (median forward on {args.device})")
    return 0


def run_train(args: argparse.Namespace) -> int:
    device = devices.check_device(args.device) if args.device is not None else None
    search_space, arch = _space_and_genotype(args)
    seed = args.seed if args.seed is not None else search_space.proxy.seeds[0]
    if args.save and not Path(args.save).parent.is_dir():
        raise InputError(f"--save {args.save}: folder {Path(args.save).parent} does not exist; create it first")
    try:
        network, result = training.train_network(
            arch, search_space.proxy, search_space.data, seed, device=device, progress_lines=True
        )
    except training.TrainingFailed as failure:
        print(json.dumps({"genotype": str(arch), "failed": str(failure)}) if args.json else f"failed: {failure}")
        return 1
    if args.save:
        assert isinstance(network, networks.SRNetwork)  # train_network built it from arch (networks.build)
        facts = {
            "seed": seed,
            "initial_weights": result.initial_weights,
            "budget": asdict(search_space.proxy),
            "data": asdict(search_space.data),
        }
        checkpoints.save(args.save, network, arch, **facts, psnr=result.psnr, ssim=result.ssim)
    if args.json:
        print(json.dumps({"genotype": str(arch), "seed": seed, **result.to_json()}, indent=2))
        return 0
    budget = search_space.proxy
    print(f"genotype        {arch}")
    patches = f"{budget.batch_size} patches of {budget.patch_size}px"
    print(f"budget          {budget.iterations} iterations x {patches}, seed {seed}")
    print(f"PSNR / SSIM     {result.psnr:.3f} dB / {result.ssim:.4f}  (untrained {result.psnr_untrained:.3f} dB)")
    print(f"training        {result.train_seconds:.1f} s, {result.images_per_second:.0f} patches/s on {result.device}")
    if args.save:
        print(f"saved           {args.save}  (nas eval --checkpoint {args.save} --data HR_FOLDER)")
    return 0


def trial_runner(address: str | None) -> ModuleType:
    """``nas.search.run`` for a command that runs trials: imported (with Ray) only once the environment of a Ray
    started here is set, and with the process quieted."""
    local_ray.prepare(address)
    from nas.search import run

    run.quiet_process()
    return run


def run_search(args: argparse.Namespace) -> int:
    run = trial_runner(args.address)
    settings = run.RunSettings(
        trials=args.trials, results=Path(args.results), storage=args.storage, address=args.address, fresh=args.fresh
    )
    summary = run.search(args.space, settings)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print(
            f"study {summary.folder}: {summary.finished} trials ({summary.trained} trained, {summary.duplicates} "
            f"duplicates, {summary.infeasible} infeasible, {summary.failed} failed); Pareto front {summary.front}"
        )
    if summary.interrupted:
        print("the search stopped early; run the same command again to resume it", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        return 0
    print(f"report: nas report {summary.folder}    dashboard: nas dashboard {summary.folder}")
    return 0


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def run_confirm(args: argparse.Namespace) -> int:
    trial_runner(args.address)
    from nas.search import confirmation

    folder = StudyFolder(Path(args.study))
    top = None if args.front_only else args.top
    confirmed, summary = confirmation.confirm(
        folder, args.seeds, top, args.budget_scale, args.address, training.train, sys.stderr
    )
    genotypes_ = len({r.genotype for r in confirmed.runs})
    print(
        f"confirmation of {folder.root}: {genotypes_} genotypes (front and uniform placements) × seeds "
        f"{list(confirmed.seeds)} at budget × {confirmed.budget_scale:g}; {summary.finished} runs ({summary.trained} "
        f"trained, {summary.duplicates} duplicates, {summary.failed} failed)"
    )
    if summary.interrupted:
        print("the confirmation stopped early; run the same command again to resume it", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"report: nas report {folder.root}")
    return 0


def add_confirm_parser(add_command: AddCommand) -> None:
    parser = add_command(
        "confirm", help="retrain the front and the uniform placements with fresh seeds (the search verdict's data)"
    )
    parser.add_argument("study", help="study folder written by nas search (results/<space name>)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="fresh seeds per genotype (default 3)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--front-only", action="store_true", help="every front genotype (the default)")
    which.add_argument("--top", type=positive_int, help="only the N front genotypes of largest hypervolume share")
    parser.add_argument(
        "--budget-scale", type=positive_float, default=1.0, help="iterations × F of the search's budget (default 1)"
    )
    parser.add_argument("--address", help="Ray cluster address to join (default: start Ray locally)")
    parser.set_defaults(handler=run_confirm)


def run_experiment(args: argparse.Namespace) -> int:
    run = trial_runner(args.address)
    from nas.search import experiment

    settings = run.RunSettings(results=Path(args.results), address=args.address)
    if args.plan:
        return _print_plan(experiment.prepare(args.space, settings), args.json)
    prepared, summary = experiment.run_experiment(args.space, settings)
    runs = {
        "study": str(prepared.folder.root), "arms": len(prepared.arms), "seeds": list(prepared.design.seeds),
        "runs": summary.finished, "trained": summary.trained, "duplicates": summary.duplicates,
        "failed": summary.failed,
    }  # fmt: skip
    print(json.dumps(runs, indent=2) if args.json else (
        f"experiment of {runs['study']}: {runs['arms']} arms × seeds {runs['seeds']}: {runs['runs']} runs "
        f"({runs['trained']} trained, {runs['duplicates']} duplicates, {runs['failed']} failed)"
    ))  # fmt: skip
    if summary.interrupted:
        print("the experiment stopped early; run the same command again to resume it", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"report: nas report {prepared.folder.root}", file=sys.stderr)
    return 0


def _print_plan(prepared: Any, as_json: bool) -> int:
    """``nas experiment --plan``: arms, runs, wall time and power of ``prepared`` (an ``ExperimentRuns``)."""
    from nas.report import experiment_section
    from nas.report.experiment import seeds_text
    from nas.search import experiment

    settings = prepared.space.experiment
    left = experiment.runs_left(prepared)
    time = experiment.estimate_time(prepared, len(left))
    power = experiment_section.planned_power(prepared.folder, prepared.design)
    plan = {
        "study": str(prepared.folder.root),
        "arms": [{"label": arm.label, "genotype": arm.genotype} for arm in prepared.arms],
        "seeds": list(settings.seeds), "runs": len(prepared.runs), "runs_left": len(left),
        "estimated_seconds": time.seconds, "per_run_seconds": time.per_run_seconds, "parallel": time.parallel,
        "time_source": time.source, "noise_db": power.noise_db, "noise_source": power.noise_source,
        "intra_seed_correlation": power.correlation, "correlation_source": power.correlation_source,
        "contrasts": power.contrasts, "margin_db": settings.margin_db,
        "detectable_db_at_80_percent_power": power.detectable_db, "seeds_to_detect_margin": power.seeds_for_margin,
    }  # fmt: skip
    if as_json:
        print(json.dumps(plan, indent=2))
        return 0
    print(f"experiment plan for {plan['study']} (nothing is trained)")
    for arm in prepared.arms:
        print(f"  arm {arm.label:<28} {arm.genotype}")
    print(f"runs            {len(prepared.arms)} arms × {len(settings.seeds)} seeds = {plan['runs']} "
          f"({plan['runs_left']} still to train)")  # fmt: skip
    print(f"wall time       about {time.seconds / 60:.1f} min ({time.per_run_seconds:.1f} s a run, {time.parallel} "
          f"at once; {time.source})")  # fmt: skip
    print(f"seed noise      {power.noise_db:.3f} dB beyond the seed ({power.noise_source})")
    correlation = "unknown" if power.correlation is None else f"{power.correlation:.2f}"
    print(f"pairing         intra-seed correlation {correlation} ({power.correlation_source})")
    print(f"power           with {len(settings.seeds)} seeds, effects of {power.detectable_db:.3f} dB are detected "
          f"with 80 % power ({power.contrasts} contrasts, Bonferroni); detecting the margin "
          f"{settings.margin_db:g} dB needs {seeds_text(power.seeds_for_margin)} seeds")  # fmt: skip
    return 0


def add_experiment_parser(add_command: AddCommand) -> None:
    parser = add_command(
        "experiment", help="train the space's designed experiment (arms × seeds) to test where attention helps"
    )
    parser.add_argument("--space", required=True, help="search space YAML with an experiment: section")
    parser.add_argument("--results", default="results", help="results folder (default results/)")
    parser.add_argument("--address", help="Ray cluster address to join (default: start Ray locally)")
    parser.add_argument("--plan", action="store_true", help="print the arms, runs, wall time and power; train nothing")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run_experiment)


def run_report(args: argparse.Namespace) -> int:
    from nas.report import build  # matplotlib and plotly load only for reports

    built = build.build(StudyFolder(Path(args.study)), to_dashboard=args.to_dashboard)
    if args.json:
        print(json.dumps(built.to_json(), indent=2))
        return 0
    print(built.markdown.split("## What the numbers measure")[0].strip())
    print(f"\nreport: {built.folder / 'index.html'}  ({built.folder / 'report.md'}, figures/, pareto.csv)")
    return 0


def run_dashboard(args: argparse.Namespace) -> int:
    from nas.report import dashboard

    dashboard.serve(StudyFolder(Path(args.study)), args.host, args.port)
    return 0


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming a trained network and the images to run it on (``trained_network`` reads them)."""
    parser.add_argument("--checkpoint", help="a checkpoint written by nas train --save")
    parser.add_argument("--arch", choices=["a2n"], help="a released architecture, with --scale and --weights")
    parser.add_argument("--scale", type=int, choices=networks.SUPPORTED_SCALES)
    parser.add_argument(
        "--weights",
        help="released weights (state dict) for --arch, e.g. the A2N authors' (the harness never downloads)",
    )
    parser.add_argument(
        "--input-range", type=positive_float, default=255.0, help="pixel range --weights were trained on (A2N: 255)"
    )
    parser.add_argument("--data", required=True, help="folder of HR images (Set5, Set14, B100, ...)")
    parser.add_argument("--tile", type=positive_int, help="LR tile size, to bound memory on large images")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _message_options() -> argparse.ArgumentParser:
    """-q / -v, which every command takes (an argparse parent): how much the harness says on stderr."""
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command = functools.partial(commands.add_parser, parents=[_message_options()])
    _add_network_commands(add_command)
    _add_genotype_commands(add_command)
    _add_study_commands(add_command)
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


def _add_network_commands(add_command: AddCommand) -> None:
    """The block zoo and trained networks: ``blocks``, ``eval``, ``ablate``, ``attention-maps``."""
    blocks_parser = add_command("blocks", help="list the registered attention blocks")
    blocks_parser.add_argument(
        "--channels",
        type=bounded_int(1, blocks.MAX_CHANNELS),
        default=40,
        help=f"feature width, 1 to {blocks.MAX_CHANNELS} (default 40)",
    )
    blocks_parser.add_argument("--json", action="store_true", help="machine-readable output")
    blocks_parser.set_defaults(handler=run_blocks)

    eval_parser = add_command("eval", help="evaluate a trained network with the SR protocol")
    add_network_arguments(eval_parser)
    eval_parser.add_argument("--lr-folder", help="read LR images from here instead of making them (<name>xS.png)")
    eval_parser.add_argument(
        "--y", choices=protocol.Y_MODES, default=protocol.Y_FLOAT,
        help="Y kept in float (default; BasicSR, A2N's 38.06 dB) or rounded to uint8 (RCAN's MATLAB scripts)",
    )  # fmt: skip
    eval_parser.set_defaults(handler=run_eval)

    ablate_parser = add_command(
        "ablate", help="switch a trained network's attention off per depth and group; PSNR/SSIM lost"
    )
    add_network_arguments(ablate_parser)
    ablate_parser.add_argument("--groups", help="depths switched off together, e.g. 0-3,4-7 (default: 4 groups)")
    ablate_parser.add_argument(
        "--mode", choices=["remove", "renormalise"], help="a2b: zero the attention branch, or give the other weight 1"
    )
    ablate_parser.add_argument("--out", help="folder for ablation.json and ablation.png")
    ablate_parser.set_defaults(handler=run_ablate)

    maps_parser = add_command(
        "attention-maps", help="a trained network's attention maps and their correlation with high frequencies"
    )
    add_network_arguments(maps_parser)
    maps_parser.add_argument("--images", type=positive_int, help="only the first N images of --data")
    maps_parser.add_argument("--layers", type=depth_list, help="depths drawn in the figure, e.g. 0,7,15")
    maps_parser.add_argument("--out", help="folder for attention_maps.json and attention_maps.png")
    maps_parser.set_defaults(handler=run_attention_maps)


def _add_genotype_commands(add_command: AddCommand) -> None:
    """One genotype of a space: ``cost``, ``train``."""
    cost_parser = add_command("cost", help="params, MACs and ops of a genotype")
    cost_parser.add_argument("--space", required=True, help="search space YAML")
    cost_parser.add_argument("--genotype", required=True, help=GENOTYPE_HELP)
    cost_parser.add_argument("--latency", action="store_true", help="also time the forward pass")
    cost_parser.add_argument("--device", default=training.default_device(), help="device for --latency")
    cost_parser.add_argument("--json", action="store_true", help="machine-readable output")
    cost_parser.set_defaults(handler=run_cost)

    train_parser = add_command("train", help="train a genotype with the space's proxy budget")
    train_parser.add_argument("--space", required=True, help="search space YAML")
    train_parser.add_argument("--genotype", required=True, help=GENOTYPE_HELP)
    train_parser.add_argument(
        "--seed", type=bounded_int(0, MAX_SEED), help=f"0 to {MAX_SEED}; default: the space's first proxy seed"
    )
    train_parser.add_argument("--device", help="torch device (default: GPU if present, else CPU)")
    train_parser.add_argument("--json", action="store_true", help="machine-readable output")
    train_parser.add_argument("--save", help="write the trained network here (a checkpoint for nas eval/ablate)")
    train_parser.set_defaults(handler=run_train)


def _add_study_commands(add_command: AddCommand) -> None:
    """A study folder: ``search``, ``confirm``, ``experiment``, ``report``, ``dashboard``."""
    search_parser = add_command("search", help="search the space: Ray Tune trials, Optuna Pareto search")
    search_parser.add_argument("--space", required=True, help="search space YAML")
    search_parser.add_argument("--trials", type=positive_int, help="total trials of the study (default: the space's)")
    search_parser.add_argument("--results", default="results", help="results folder (default results/)")
    search_parser.add_argument("--storage", help="Optuna storage URL (default: a journal file in the study folder)")
    search_parser.add_argument("--address", help="Ray cluster address to join (default: start Ray locally)")
    search_parser.add_argument("--fresh", action="store_true", help="start a new study (the old folder is kept)")
    search_parser.add_argument("--json", action="store_true", help="print the study summary as JSON")
    search_parser.set_defaults(handler=run_search)

    add_confirm_parser(add_command)
    add_experiment_parser(add_command)

    report_parser = add_command("report", help="Pareto report of a study: does attention help only where it helps?")
    report_parser.add_argument("study", help="study folder written by nas search (results/<space name>)")
    report_parser.add_argument(
        "--to-dashboard", action="store_true", help="also save the plots and verdict into the study for nas dashboard"
    )
    report_parser.add_argument("--json", action="store_true", help="print the verdict, labels and front as JSON")
    report_parser.set_defaults(handler=run_report)

    dashboard_parser = add_command("dashboard", help="serve optuna-dashboard on a study, live")
    dashboard_parser.add_argument("study", help="study folder written by nas search (results/<space name>)")
    dashboard_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dashboard_parser.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")
    dashboard_parser.set_defaults(handler=run_dashboard)


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
        resume = "; run the same command again to resume it" if args.command == "search" else ""
        print(f"nas {args.command}: stopped{resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
