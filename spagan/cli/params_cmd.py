"""`spagan params check`: is params.yaml (with overrides) one every command accepts?

    spagan params check [--params P] [--set KEY=VALUE ...]
    spagan params check --dvc-args ARGS...    the -S/--set-param values of a dvc command line

scripts/dvc runs the second form before `dvc repro` and `dvc exp run`: DVC deletes a stage's
outputs before the stage's command runs, so a bad setting must be refused before DVC starts.
`python -m spagan.cli.params_cmd check ...` loads only this command (no torch, no pandas), so
the check costs a fraction of a second.
"""

import argparse
import sys
from pathlib import Path

from spagan.config import load_config

PARAMS_FILE = "params.yaml"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="check params.yaml (and overrides) as every command reads it")
    steps = p.add_subparsers(dest="params_command", required=True)
    check = steps.add_parser("check", help="exit 0 when the params load, else 2 with the one-line reason")
    check.add_argument("--params", default=PARAMS_FILE, help="params file (default: params.yaml)")
    check.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a param, as the other commands take it (repeatable)")
    check.add_argument("--dvc-args", nargs=argparse.REMAINDER, default=None,
                       help="a dvc command line: its -S/--set-param values are checked as overrides")
    check.set_defaults(func=run_check)


def dvc_overrides(args: list[str]) -> list[str]:
    """The params.yaml overrides of a dvc command line: `-S k=v`, `-Sk=v`, `--set-param k=v`,
    `--set-param=k=v`, with an optional `params.yaml:` prefix (other files are not ours)."""
    values, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg in ("-S", "--set-param") and i + 1 < len(args):
            values.append(args[i + 1])
            i += 1
        elif arg.startswith("--set-param="):
            values.append(arg.split("=", 1)[1])
        elif arg.startswith("-S") and len(arg) > 2 and not arg.startswith("--"):
            values.append(arg[2:])
        i += 1
    out = []
    for value in values:
        key = value.split("=", 1)[0]
        if ":" in key:
            file, _, rest = value.partition(":")
            if Path(file).name != PARAMS_FILE:
                continue
            value = rest
        out.append(value)
    return out


def run_check(args: argparse.Namespace) -> int:
    overrides = list(args.overrides) + dvc_overrides(args.dvc_args or [])
    load_config(args.params, overrides)  # ConfigError: one line, exit 2 (spagan.cli.main)
    return 0


if __name__ == "__main__":
    from spagan.cli import main

    sys.exit(main())  # imports only this command
