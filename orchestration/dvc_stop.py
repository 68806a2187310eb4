"""Stopping a DVC command and what it leaves: its process group signalled and waited for, DVC's
stale read/write-lock entries removed, and the step a cancelled training reached (used by
orchestration.dvc_resource.DvcCli when Dagster interrupts a step)."""

import fcntl
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import yaml

class Followed(Protocol):
    """Output being read while the processes stop (orchestration.dvc_resource._Output)."""

    done: bool

    def follow(self, timeout: float | None = None) -> None: ...


# What `spagan train` prints when a signal stopped it (spagan/cli/train_cmd.py).
STOPPED = re.compile(r"spagan train: stopped by (\w+) at step (\d+) of (\d+); checkpoint (\S+)")


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM recorded, not raised, while DVC is being stopped (Dagster may interrupt
    again); the handlers come back afterwards. Main thread only (signals are its)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _proc_stat(pid: str) -> tuple[str, int, int] | None:
    """(state, process group, session) of a process, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0].decode(), int(fields[2]), int(fields[3])


def session_processes(sid: int) -> set[int]:
    """Live (not zombie) processes of session `sid`, or of process group `sid` where there is no /proc."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(sid, 0)
            return {sid}
        except (ProcessLookupError, PermissionError):
            return set()
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (stat := _proc_stat(pid)) and stat[0] != "Z" and sid in (stat[1], stat[2]):
            found.add(int(pid))
    return found


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to the process group (and to any process of its session that left the group);
    False when none is left."""
    members = session_processes(pgid)
    if not members:
        return False
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    for pid in members:
        stat = _proc_stat(str(pid))
        if stat and stat[1] != pgid:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    return True


def wait_gone(proc: subprocess.Popen, pgid: int, output: "Followed", timeout: float) -> bool:
    """Wait up to `timeout` s for the session to empty, taking output meanwhile; True when it did."""
    deadline = time.monotonic() + timeout
    while True:
        proc.poll()  # reap DVC itself: a zombie leader still holds the group
        if not session_processes(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        output.follow(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        if output.done:
            time.sleep(0.05)


def release_stale_locks(repo: Path, pids: set[int]) -> list[str]:
    """Remove the entries of `pids` (stopped processes) from DVC's read/write lock file
    (.dvc/tmp/rwlock), holding the lock DVC edits it under (.dvc/tmp/rwlock.lock, an flock taken
    by zc.lockfile); returns 'PID n: path' for each removed entry.

    What a killed DVC leaves: its repository lock (.dvc/tmp/lock) is an flock the kernel releases
    with the process (the file stays, harmless), but rwlock keeps its entries; DVC drops entries
    of PIDs that no longer exist (with a warning), which a recycled PID would defeat."""
    tmp = repo / ".dvc" / "tmp"
    path = tmp / "rwlock"
    if not path.is_file() or not pids:
        return []
    removed: list[str] = []
    with open(tmp / "rwlock.lock", "a+") as guard:
        deadline = time.monotonic() + 10
        while True:
            try:
                fcntl.flock(guard.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return []  # another DVC is editing it; DVC drops dead PIDs' entries itself
                time.sleep(0.1)
        try:
            try:
                lock = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return []
            for mode in ("read", "write"):
                entries = lock.get(mode) or {}
                for where in list(entries):
                    infos = entries[where]
                    listed = infos if isinstance(infos, list) else [infos]
                    keep = [i for i in listed if int(i.get("pid", -1)) not in pids]
                    removed += [f"PID {i.get('pid')}: {where}" for i in listed if i not in keep]
                    if not keep:
                        del entries[where]
                    elif isinstance(infos, list):
                        entries[where] = keep
            if removed:
                tmp_path = path.with_name(".rwlock.tmp")
                tmp_path.write_text(json.dumps(lock), encoding="utf-8")
                os.replace(tmp_path, path)
        finally:
            fcntl.flock(guard.fileno(), fcntl.LOCK_UN)
    return removed


def cancel_summary(repo: Path, output: str, started: float, args: list[str]) -> str:
    """'cancelled at step N of M ...' from what `spagan train` printed when it stopped, else from
    the last line of a training log (train_log.jsonl in the `--out` folder of a stage's
    `spagan train`) written during this command; else which DVC command was cancelled."""
    if found := STOPPED.findall(output):
        sig, step, total, ckpt = found[-1]
        return (f"cancelled at step {step} of {total}: `spagan train` stopped on {sig} and wrote {ckpt}; "
                f"the next materialization resumes from step {step}")
    for work in _training_folders(repo):
        log_path = work / "train_log.jsonl"
        try:
            if log_path.stat().st_mtime < started:
                continue
            lines = log_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            try:
                rec = json.loads(line)
                step, total = int(rec["step"]), int(rec["total_steps"])
            except (ValueError, KeyError, TypeError):
                continue
            return (f"cancelled at step {step} of {total} (the last step in {log_path.relative_to(repo)}); "
                    f"the next materialization resumes from the last checkpoint in {work.relative_to(repo)}")
    return f"cancelled: `dvc {' '.join(args)}` stopped"


def _training_folders(repo: Path) -> list[Path]:
    """The `--out` folders of the `spagan train` commands in dvc.yaml's stages."""
    try:
        stages = (yaml.safe_load((repo / "dvc.yaml").read_text()) or {}).get("stages") or {}
    except (OSError, yaml.YAMLError):
        return []
    folders = []
    for stage in stages.values():
        cmds = stage.get("cmd") if isinstance(stage, dict) else None
        for cmd in [cmds] if isinstance(cmds, str) else cmds or []:
            words = str(cmd).split()
            if "train" in words and "--out" in words[:-1] and any(w.endswith("spagan") for w in words):
                folders.append(repo / words[words.index("--out") + 1])
    return folders
