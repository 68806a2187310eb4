"""`spagan` command line: one subcommand per module in this package.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (a callable taking the parsed args and returning an exit code). User mistakes
raise SpaganError and are printed as one line with exit code 2, never a traceback.
"""

import argparse
import logging
import sys
from typing import Sequence

from spagan.errors import SpaganError

# Modules providing subcommands; each adds itself in register().
_COMMANDS = ("train_cmd", "translate_cmd", "prepare_cmd", "evaluate_cmd", "lineage_cmd", "ablation_cmd",
             "export_cmd")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available subcommand."""
    import importlib

    parser = argparse.ArgumentParser(prog="spagan", description="SPA-GAN: spatial attention GAN pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"spagan.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"spagan.cli.{name}":
                continue  # command not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `spagan` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except SpaganError as exc:
        print(f"spagan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spagan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
