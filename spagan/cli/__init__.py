"""`spagan` command line: one subcommand per module in this package.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (a callable taking the parsed args and returning an exit code). User mistakes
raise SpaganError and are printed as one line with exit code 2, never a traceback.
"""

import argparse
import logging
import sys
from typing import Sequence

from spagan.core.errors import SpaganError

# Subcommand -> the module providing it; each adds itself in register().
_COMMANDS = {"train": "train_cmd", "translate": "translate_cmd", "prepare": "prepare_cmd",
             "evaluate": "evaluate_cmd", "lineage": "lineage_cmd", "ablation": "ablation_cmd",
             "params": "params_cmd", "export": "export_cmd"}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv (the first word that is not an option), if it is a known one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in _COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand, or with just `only`.

    Running one command imports only its module: a DVC stage then runs exactly the code it lists
    as deps, and `spagan lineage start` does not pay for importing the training stack.
    """
    import importlib

    parser = argparse.ArgumentParser(prog="spagan", description="SPA-GAN: spatial attention GAN pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in _COMMANDS.items():
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"spagan.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"spagan.cli.{module_name}":
                continue  # command not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `spagan` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_chosen(argv)).parse_args(argv)
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
