"""The documents' commands run from any clone: no machine-specific (absolute or home) paths."""

import re

import pytest

from tests.conftest import ROOT

# An absolute or home path inside a code span or block: ` /work/...`, `=/tmp/x`, `~/x`. URLs
# (scheme://host/...) are not paths on this machine and are left alone.
MACHINE_PATH = re.compile(r"(?:^|[\s=(\"'`])(?:/(?!/)[A-Za-z]|~/)")


def code_of(markdown: str) -> list[str]:
    """The text of every fenced block and inline code span."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", markdown, flags=re.S)
    rest = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return blocks + re.findall(r"`([^`\n]+)`", rest)


@pytest.mark.parametrize("name", ["BENCHMARKS.md"])
def test_commands_name_no_machine_specific_paths(name):
    bad = [code for code in code_of((ROOT / name).read_text(encoding="utf-8")) if MACHINE_PATH.search(code)]
    assert bad == []
