"""The ``nas`` command line: one subcommand per harness step."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import blocks
from nas import catalog, checkpoint, data, evaluate, model
from nas.errors import InputError

EXIT_BAD_INPUT = 2


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


def run_eval(args: argparse.Namespace) -> int:
    network = model.a2n(args.scale, input_range=args.input_range)
    state = model.from_official_keys(checkpoint.read_state_dict(args.weights))
    checkpoint.load_exactly(network, state, args.weights)
    pairs = data.evaluation_pairs(data.folder_images(args.data), args.scale, args.lr_folder)
    result = evaluate.evaluate(network.to(args.device), pairs, args.scale, args.device, tile=args.tile)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    width = max(len(score.name) for score in result.images)
    print(f"{args.arch} x{args.scale} on {args.data} (Y channel, border {args.scale}, MATLAB bicubic LR)")
    print(f"{'image'.ljust(width)}  {'PSNR':>7}  {'SSIM':>6}")
    for score in result.images:
        print(f"{score.name.ljust(width)}  {score.psnr:7.3f}  {score.ssim:.4f}")
    print(f"{'mean'.ljust(width)}  {result.mean_psnr:7.3f}  {result.mean_ssim:.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    blocks_parser = commands.add_parser("blocks", help="list the registered attention blocks")
    blocks_parser.add_argument("--channels", type=positive_int, default=40, help="feature width (default 40)")
    blocks_parser.add_argument("--json", action="store_true", help="machine-readable output")
    blocks_parser.set_defaults(handler=run_blocks)

    eval_parser = commands.add_parser("eval", help="evaluate a released checkpoint with the SR protocol")
    eval_parser.add_argument("--arch", choices=["a2n"], required=True, help="network architecture")
    eval_parser.add_argument("--scale", type=int, choices=model.SUPPORTED_SCALES, required=True)
    eval_parser.add_argument("--weights", required=True, help="checkpoint (state dict) path")
    eval_parser.add_argument("--data", required=True, help="folder of HR images (Set5, Set14, B100, ...)")
    eval_parser.add_argument("--lr-folder", help="read LR images from here instead of making them (<name>xS.png)")
    eval_parser.add_argument("--tile", type=positive_int, help="LR tile size, to bound memory on large images")
    eval_parser.add_argument(
        "--input-range", type=float, default=255.0, help="pixel range the weights were trained on (A2N: 255)"
    )
    eval_parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    eval_parser.add_argument("--json", action="store_true", help="machine-readable output")
    eval_parser.set_defaults(handler=run_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (InputError, blocks.UnknownBlockError, blocks.BlockOptionError) as error:
        print(f"nas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
