"""The `spagan` command line starts without torch: `--help`, the parser of every command and the
commands that need no network (`lineage start` in the train stage, `prepare`) import it only when
they run a model."""

import subprocess
import sys

CHECK = """
import sys
from spagan.cli import build_parser
build_parser()
import orchestration.assets.evaluation
print(sorted(m for m in ("torch", "torchvision") if m in sys.modules))
"""


def test_the_cli_parser_and_evaluation_assets_leave_torch_unimported():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_help_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "spagan.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "translate", "prepare", "evaluate", "lineage", "ablation"):
        assert command in done.stdout
