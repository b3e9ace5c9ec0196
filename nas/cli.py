"""The ``nas`` command line: one subcommand per harness step."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import blocks
from nas import catalog
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    blocks_parser = commands.add_parser("blocks", help="list the registered attention blocks")
    blocks_parser.add_argument("--channels", type=positive_int, default=40, help="feature width (default 40)")
    blocks_parser.add_argument("--json", action="store_true", help="machine-readable output")
    blocks_parser.set_defaults(handler=run_blocks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (InputError, blocks.UnknownBlockError, blocks.BlockOptionError) as error:
        print(f"nas {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
