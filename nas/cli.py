"""The ``nas`` command line: one subcommand per harness step."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import blocks
from nas.core import catalog, counting, genotypes, networks, spaces, training
from nas.errors import InputError
from nas.search import run
from nas.search.studies import StudyFolder
from nas.sr import data, evaluate
from nas.trained import checkpoints

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def run_blocks(args: argparse.Namespace) -> int:
    rows = catalog.block_rows(args.channels)
    if args.json:
        print(json.dumps({"channels": args.channels, "blocks": catalog.rows_as_dicts(rows)}, indent=2))
    else:
        print(catalog.format_table(rows, args.channels))
    return 0


def trained_network(args: argparse.Namespace) -> checkpoints.TrainedNetwork:
    """The network that ``--checkpoint`` or ``--arch a2n --scale S --weights W`` names, on ``--device``."""
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
    trained.network.to(args.device)
    return trained


def run_eval(args: argparse.Namespace) -> int:
    trained = trained_network(args)
    scale = trained.genotype.scale
    pairs = data.evaluation_pairs(data.folder_images(args.data), scale, args.lr_folder)
    result = evaluate.evaluate(trained.network, pairs, scale, args.device, tile=args.tile)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    width = max(len(score.name) for score in result.images)
    print(f"{args.arch or trained.genotype} x{scale} on {args.data} (Y channel, border {scale}, MATLAB bicubic LR)")
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
    return search_space, genotypes.Genotype.resolve(args.genotype, search_space)


def run_cost(args: argparse.Namespace) -> int:
    _, arch = _space_and_genotype(args)
    result = counting.network_cost(arch, latency_device=args.device if args.latency else None)
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
    search_space, arch = _space_and_genotype(args)
    seed = args.seed if args.seed is not None else search_space.proxy.seeds[0]
    if args.save and not Path(args.save).parent.is_dir():
        raise InputError(f"--save {args.save}: folder {Path(args.save).parent} does not exist; create it first")
    try:
        network, result = training.train_network(arch, search_space.proxy, search_space.data, seed, device=args.device)
    except training.TrainingFailed as failure:
        print(json.dumps({"genotype": str(arch), "failed": str(failure)}) if args.json else f"failed: {failure}")
        return 1
    if args.save:
        facts = {"seed": seed, "budget": asdict(search_space.proxy), "data": asdict(search_space.data)}
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


def run_search(args: argparse.Namespace) -> int:
    run.quiet_process()
    settings = run.RunSettings(
        trials=args.trials, results=Path(args.results), storage=args.storage, address=args.address, fresh=args.fresh
    )
    summary = run.search(args.space, settings)
    print(
        f"study {summary.folder}: {summary.finished} trials ({summary.trained} trained, {summary.duplicates} "
        f"duplicates, {summary.infeasible} infeasible, {summary.failed} failed); Pareto front {summary.front}"
    )
    if summary.interrupted:
        print("the search stopped early; run the same command again to resume it", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"report: nas report {summary.folder}    dashboard: nas dashboard {summary.folder}")
    return 0


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def run_confirm(args: argparse.Namespace) -> int:
    from nas.search import confirmation

    run.quiet_process()
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


def add_confirm_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
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


def run_report(args: argparse.Namespace) -> int:
    from nas.report import build  # matplotlib and plotly load only for reports

    built = build.build(StudyFolder(Path(args.study)))
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
    parser.add_argument("--weights", help="released weights (state dict) for --arch")
    parser.add_argument(
        "--input-range", type=float, default=255.0, help="pixel range --weights were trained on (A2N: 255)"
    )
    parser.add_argument("--data", required=True, help="folder of HR images (Set5, Set14, B100, ...)")
    parser.add_argument("--tile", type=positive_int, help="LR tile size, to bound memory on large images")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    blocks_parser = commands.add_parser("blocks", help="list the registered attention blocks")
    blocks_parser.add_argument("--channels", type=positive_int, default=40, help="feature width (default 40)")
    blocks_parser.add_argument("--json", action="store_true", help="machine-readable output")
    blocks_parser.set_defaults(handler=run_blocks)

    eval_parser = commands.add_parser("eval", help="evaluate a trained network with the SR protocol")
    add_network_arguments(eval_parser)
    eval_parser.add_argument("--lr-folder", help="read LR images from here instead of making them (<name>xS.png)")
    eval_parser.set_defaults(handler=run_eval)

    ablate_parser = commands.add_parser(
        "ablate", help="switch a trained network's attention off per depth and group; PSNR/SSIM lost"
    )
    add_network_arguments(ablate_parser)
    ablate_parser.add_argument("--groups", help="depths switched off together, e.g. 0-3,4-7 (default: 4 groups)")
    ablate_parser.add_argument(
        "--mode", choices=["remove", "renormalise"], help="a2b: zero the attention branch, or give the other weight 1"
    )
    ablate_parser.add_argument("--out", help="folder for ablation.json and ablation.png")
    ablate_parser.set_defaults(handler=run_ablate)

    maps_parser = commands.add_parser(
        "attention-maps", help="a trained network's attention maps and their correlation with high frequencies"
    )
    add_network_arguments(maps_parser)
    maps_parser.add_argument("--images", type=positive_int, help="only the first N images of --data")
    maps_parser.add_argument("--layers", type=depth_list, help="depths drawn in the figure, e.g. 0,7,15")
    maps_parser.add_argument("--out", help="folder for attention_maps.json and attention_maps.png")
    maps_parser.set_defaults(handler=run_attention_maps)

    genotype_help = "genotype id (x2.c40.u24:a2b*16), 'a2n' or 'uniform:<block>'"
    cost_parser = commands.add_parser("cost", help="params, MACs and ops of a genotype")
    cost_parser.add_argument("--space", required=True, help="search space YAML")
    cost_parser.add_argument("--genotype", required=True, help=genotype_help)
    cost_parser.add_argument("--latency", action="store_true", help="also time the forward pass")
    cost_parser.add_argument("--device", default=training.default_device(), help="device for --latency")
    cost_parser.add_argument("--json", action="store_true", help="machine-readable output")
    cost_parser.set_defaults(handler=run_cost)

    train_parser = commands.add_parser("train", help="train a genotype with the space's proxy budget")
    train_parser.add_argument("--space", required=True, help="search space YAML")
    train_parser.add_argument("--genotype", required=True, help=genotype_help)
    train_parser.add_argument("--seed", type=int, help="default: the space's first proxy seed")
    train_parser.add_argument("--device", help="torch device (default: GPU if present, else CPU)")
    train_parser.add_argument("--json", action="store_true", help="machine-readable output")
    train_parser.add_argument("--save", help="write the trained network here (a checkpoint for nas eval/ablate)")
    train_parser.set_defaults(handler=run_train)

    search_parser = commands.add_parser("search", help="search the space: Ray Tune trials, Optuna Pareto search")
    search_parser.add_argument("--space", required=True, help="search space YAML")
    search_parser.add_argument("--trials", type=positive_int, help="total trials of the study (default: the space's)")
    search_parser.add_argument("--results", default="results", help="results folder (default results/)")
    search_parser.add_argument("--storage", help="Optuna storage URL (default: a journal file in the study folder)")
    search_parser.add_argument("--address", help="Ray cluster address to join (default: start Ray locally)")
    search_parser.add_argument("--fresh", action="store_true", help="start a new study (the old folder is kept)")
    search_parser.set_defaults(handler=run_search)

    add_confirm_parser(commands)

    report_parser = commands.add_parser(
        "report", help="Pareto report of a study: does attention help only where it helps?"
    )
    report_parser.add_argument("study", help="study folder written by nas search (results/<space name>)")
    report_parser.set_defaults(handler=run_report)

    dashboard_parser = commands.add_parser("dashboard", help="serve optuna-dashboard on a study, live")
    dashboard_parser.add_argument("study", help="study folder written by nas search (results/<space name>)")
    dashboard_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dashboard_parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    dashboard_parser.set_defaults(handler=run_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (InputError, blocks.UnknownBlockError, blocks.BlockOptionError) as error:
        print(f"nas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
