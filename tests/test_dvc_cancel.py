"""Cancellation of `DvcCli` for real: an interrupt delivered the way Dagster delivers it (SIGINT to
the step process, raised as DagsterExecutionInterruptedError) stops DVC's whole process group
(SIGINT, SIGTERM after the grace period, SIGKILL), then is raised again.

One test runs a process tree that ignores SIGINT and SIGTERM (the escalation, timed); the other
a real `dvc repro train` (`spagan train` stops at a checkpoint on SIGINT, the lock is free after,
the next `dvc repro train` resumes from it). tests/test_dagster_cancel.py does the same through a
real `dagster dev`.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from orchestration.dvc_stop import release_stale_locks
from tests.dvc_project import ROOT, dvc, make_project, set_params

# The step process's side: DvcCli.run inside Dagster's interrupt handling (as a step runs user code).
DRIVER = textwrap.dedent("""
    import json, sys
    from dagster._core.errors import DagsterExecutionInterruptedError, raise_execution_interrupts
    from orchestration.dvc_resource import DvcCli

    class Log:
        def info(self, msg):
            print("LOG: " + msg, file=sys.stderr, flush=True)  # stdout: DVC's raw output

    resource, args = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    try:
        with raise_execution_interrupts():
            DvcCli(**resource).run(args, Log())
    except DagsterExecutionInterruptedError:
        print("RERAISED", file=sys.stderr, flush=True)
        sys.exit(3)
""")

# A stand-in for `dvc`: prints like DVC, starts a child, and both ignore SIGINT and SIGTERM
# (recording them), so only SIGKILL ends them.
TREE = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    role, record = sys.argv[1], sys.argv[2]

    def note(what):
        with open(record, "a") as f:
            f.write(f"{role} {what} {time.monotonic()}\\n")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: note(signal.Signals(signum).name))
    if role == "parent":
        subprocess.Popen([sys.executable, __file__, "child", record])
        print("Running stage 'tree':", flush=True)
        print("a plain line for the compute logs only", flush=True)
        for i in range(3):
            print(f"\\rtree: {i * 50}%|#####     | {i}/2", end="", flush=True)
        print(flush=True)
    note("ready")
    while True:
        time.sleep(0.1)
""")


def _alive_with(text: str) -> list[str]:
    """Command lines of live (not zombie) processes that mention `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z" and int(pid) != os.getpid():
            found.append(f"{pid}: {cmdline}")
    return found


def _driver(repo: Path, resource: dict, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}
    return subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps({"repo": str(repo), **resource}),
                             json.dumps(args)], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stop_driver(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_interrupt_escalates_sigint_sigterm_sigkill_over_the_process_group(tmp_path):
    script, record, grace = tmp_path / "fake-dvc.py", tmp_path / "signals.txt", 1.5
    script.write_text(TREE)
    fake = tmp_path / "dvc"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} {script} parent {record}\n")
    fake.chmod(0o755)
    proc = _driver(tmp_path, {"executable": str(fake), "interrupt_grace_s": grace, "progress_every_s": 60}, ["x"])
    try:
        deadline = time.monotonic() + 60
        while not (record.exists() and record.read_text().count("ready") == 2):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)  # what Dagster's termination thread does to the step process
        raw, out = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        _stop_driver(proc)
    assert proc.returncode == 3 and out.rstrip().endswith("RERAISED"), out
    assert not _alive_with(str(script)), _alive_with(str(script))

    # Both processes got SIGINT, then SIGTERM one grace period later; SIGKILL ended them another later.
    notes = [line.split() for line in record.read_text().splitlines()]
    got = {(role, what): float(t) for role, what, t in notes}
    assert [what for role, what, _ in notes if role == "parent"] == ["ready", "SIGINT", "SIGTERM"], notes
    assert [what for role, what, _ in notes if role == "child"] == ["ready", "SIGINT", "SIGTERM"], notes
    for role in ("parent", "child"):
        assert grace - 0.2 <= got[role, "SIGTERM"] - got[role, "SIGINT"] <= grace + 1.5, notes
        assert got[role, "SIGINT"] - sent < 1.5, notes
    assert 2 * grace - 0.2 <= took <= 2 * grace + 5, took
    logged = [line[5:] for line in out.splitlines() if line.startswith("LOG: ")]
    sent_lines = [line for line in logged if line.startswith("sent SIG")]
    assert [line.split()[1] for line in sent_lines] == ["SIGINT", "SIGTERM", "SIGKILL"], logged
    assert logged[-1] == "cancelled: `dvc x` stopped", logged

    # DVC's raw output went to stdout (the compute logs); the run log got the important lines and
    # progress lines (the first at once, then at most one per progress_every_s: here the last, at the
    # end), not the plain line nor every redraw.
    raw = raw.splitlines()
    assert "a plain line for the compute logs only" in raw and "Running stage 'tree':" in raw
    assert "Running stage 'tree':" in logged and "a plain line for the compute logs only" not in logged
    assert [line for line in logged if "%|" in line] == ["tree: 0%|#####     | 0/2", "tree: 100%|#####     | 2/2"]


def test_interrupted_dvc_repro_train_stops_at_a_checkpoint_and_resumes(tmp_path):
    total = 8  # 0.5-2 s a step on 2 busy cores
    repo = make_project(tmp_path)
    set_params(repo, {"train": {"max_steps": total, "epochs": 2, "epochs_decay": 1}, "watch": {"checkpoint_every": 2}})
    dvc(repo, "repro", "prepare", "select")  # what `--single-item train` depends on
    work = repo / "runs" / "train"
    proc = _driver(repo, {"interrupt_grace_s": 30}, ["repro", "--single-item", "train"])
    try:
        deadline = time.monotonic() + 180
        while not (work / "checkpoint.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        _, out = proc.communicate(timeout=90)
        took = time.monotonic() - sent
    finally:
        _stop_driver(proc)
    print(f"SIGINT to the step process -> DVC's process group gone: {took:.1f} s\n{out}")
    assert proc.returncode == 3, out
    assert not _alive_with(str(repo)), _alive_with(str(repo))
    # Graceful: SIGINT was enough; `spagan train` wrote a checkpoint of the step it stopped at.
    assert "sent SIGTERM" not in out, out
    stopped = re.search(r"LOG: cancelled at step (\d+) of (\d+): `spagan train` stopped on SIGINT", out)
    assert stopped and int(stopped[2]) == total, out
    step = int(stopped[1])
    assert 2 <= step < total
    assert torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=True)["step"] == step

    # The lock is free (DVC released it on its way out, nothing is left to clean) and the next
    # `dvc repro train` resumes from the checkpoint.
    assert release_stale_locks(repo, {proc.pid}) == []
    assert dvc(repo, "repro", "--dry", "train").returncode == 0
    out = dvc(repo, "repro", "train").stdout
    assert f"resuming from runs/train/checkpoint.pt at step {step} of {total}" in out
    assert json.loads((repo / "models" / "spagan" / "lineage.json").read_text())["model"]["steps"] == total


def test_stale_rwlock_entries_of_stopped_processes_are_removed(tmp_path):
    """What a SIGKILLed DVC leaves in .dvc/tmp/rwlock: its entries go, other processes' stay."""
    tmp = tmp_path / ".dvc" / "tmp"
    tmp.mkdir(parents=True)
    other = {"pid": os.getpid(), "cmd": "dvc repro evaluate"}
    lock = {"read": {"data/prepared": [{"pid": 999_999_1, "cmd": "dvc repro train"}, other]},
            "write": {"models/spagan": {"pid": 999_999_1, "cmd": "dvc repro train"}, "eval": other}}
    (tmp / "rwlock").write_text(json.dumps(lock))
    removed = release_stale_locks(tmp_path, {999_999_1})
    assert sorted(removed) == ["PID 9999991: data/prepared", "PID 9999991: models/spagan"]
    assert json.loads((tmp / "rwlock").read_text()) == {"read": {"data/prepared": [other]}, "write": {"eval": other}}
