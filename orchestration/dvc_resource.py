"""The `dvc` command line as a Dagster resource.

DVC lives in its own environment (.venv-dvc; its hydra pins an antlr4 runtime that breaks
Dagster's asset selection), so Dagster never imports it: it runs the command and reads dvc.lock as
YAML afterwards. DVC's raw output goes to the step's stdout, which Dagster's compute log manager
captures (the run's stdout/stderr view); the structured run log gets the lines that matter (the
command, errors, "Running stage", the final status) and a progress line at most every
`progress_every_s` seconds.

Cancellation: DVC runs in a session (process group) of its own. When Dagster interrupts the step
(a terminated run: DagsterExecutionInterruptedError or KeyboardInterrupt in the step process), the
whole group gets SIGINT (`spagan train` stops after the step in progress and writes a checkpoint;
DVC ignores SIGINT while a stage runs and fails the stage once its command exits), SIGTERM after
`interrupt_grace_s`, SIGKILL after as long again; once no process of the group is left, DVC's
stale read/write-lock entries are removed, "cancelled at step N of M" is logged and the interrupt
is raised again, so Dagster marks the run CANCELED. The work folder keeps the checkpoint: the next
`dvc repro train` resumes from it.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from orchestration.dvc_stop import (
    cancel_summary,
    release_stale_locks,
    session_processes,
    signal_group,
    signals_held,
    wait_gone,
)
from spagan.config import ConfigError, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# DVC's messages when another DVC command holds the repository lock, or (while a stage runs)
# the read/write lock on that stage's dependencies and outputs.
TICK_S = 5.0  # seconds between on_tick calls while DVC runs (watching a training)
LOCK_BUSY = ("Unable to acquire lock", "is busy, it is being blocked by")
# Lines of DVC's (and its stages') output that go to the structured run log; the rest is in the
# compute logs only.
IMPORTANT = re.compile(
    r"^(ERROR|WARNING|CRITICAL|Traceback)|error:|Error\b|failed|Running stage|^Stage '|^> |Updating lock file"
    r"|Use `dvc push`|up to date|didn't change|resuming from|starting fresh|stopped by|received: stopping|published "
    r"|interrupted|" + "|".join(re.escape(m) for m in LOCK_BUSY))
# A progress bar's redraw (tqdm): "42%|####  | 42/100" or "17step [00:03, 5.1step/s]".
PROGRESS = re.compile(r"\d+%\||\|\s*\d+/\d+|\d+\w* \[\d+:\d+")


class DvcCli(dg.ConfigurableResource):
    """Runs `dvc` in a project checkout, with this environment's `spagan` first on PATH."""

    repo: str = ""            # checkout holding dvc.yaml; "" = this project
    executable: str = ""      # dvc command; "" = <repo>/.venv-dvc/bin/dvc, else `dvc` on PATH
    lock_wait_s: float = 900  # wait this long for another DVC command to release the repo lock
    progress_every_s: float = 5.0  # at most one progress-bar line per this many seconds in the log
    interrupt_grace_s: float = 30.0  # on cancel: SIGINT, SIGTERM this much later, SIGKILL as much again

    def root(self) -> Path:
        """The project checkout DVC runs in."""
        return Path(self.repo).resolve() if self.repo else PROJECT_ROOT

    def command(self) -> str:
        """The dvc executable used."""
        if self.executable:
            return self.executable
        local = self.root() / ".venv-dvc" / "bin" / "dvc"
        return str(local) if local.exists() else "dvc"

    def env(self) -> dict[str, str]:
        """Stage commands run `spagan` from this Python environment, importing this checkout's code."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(self.root()), env.get("PYTHONPATH", "")] if p)
        env.setdefault("DVC_NO_ANALYTICS", "1")
        return env

    def run(self, args: list[str], log, *, on_tick: Callable[[], None] | None = None) -> str:
        """Run `dvc ARGS` (output: see the module docstring) and return its output; waits while
        another DVC command holds the repository lock (DVC itself fails at once). Raises dg.Failure
        on a non-zero exit; an interrupt stops DVC's process group and is raised again. on_tick()
        is called in this thread every TICK_S seconds while DVC runs (what it raises is logged)."""
        deadline = time.monotonic() + self.lock_wait_s
        while True:
            code, output = self._run_once(args, log, on_tick)
            if code == 0:
                return output
            busy = any(msg in output for msg in LOCK_BUSY)
            if busy and time.monotonic() < deadline:
                log.info("another DVC command holds the repository lock; waiting")
                time.sleep(3.0)
                continue
            tail = "\n".join(output.splitlines()[-30:])
            why = f" (still locked by another DVC command after {self.lock_wait_s:.0f} s)" if busy else ""
            raise dg.Failure(description=f"`dvc {' '.join(args)}` failed with exit code {code}{why}",
                             metadata={"output": dg.MetadataValue.md(f"```\n{tail}\n```")})

    def _run_once(self, args: list[str], log, on_tick: Callable[[], None] | None = None) -> tuple[int, str]:
        cmd = [self.command(), *args]
        log.info(f"$ {' '.join(cmd)}  (in {self.root()})")
        started = time.time()
        proc = subprocess.Popen(cmd, cwd=self.root(), env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        assert proc.stdout is not None
        output = None
        try:
            output = _Output(proc.stdout, log, self.progress_every_s, on_tick)
            output.follow()
            return proc.wait(), output.text()
        except BaseException:  # Dagster's interrupt (or anything else): DVC must not outlive the step
            with signals_held():
                output = output or _Output(proc.stdout, log, self.progress_every_s)
                self._stop(proc, output, log)
                log.info(cancel_summary(self.root(), output.text(), started, args))
            raise

    def _stop(self, proc: subprocess.Popen, output: "_Output", log) -> None:
        """SIGINT to DVC's process group, SIGTERM after the grace period, then SIGKILL; returns once
        no process of the group is left (the output read to its end), stale lock entries removed."""
        pgid = proc.pid  # start_new_session: DVC leads its own session and process group
        seen: set[int] = set()
        log.info(f"interrupted: stopping DVC's process group {pgid} (SIGINT; SIGTERM after "
                 f"{self.interrupt_grace_s:g} s; then SIGKILL)")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            seen |= session_processes(pgid)
            if not signal_group(pgid, sig):
                break
            log.info(f"sent {sig.name} to DVC's process group {pgid}")
            if wait_gone(proc, pgid, output, self.interrupt_grace_s if sig != signal.SIGKILL else 30.0):
                break
        else:
            log.info(f"DVC's process group {pgid} is still there 30 s after SIGKILL")
        output.follow(timeout=5.0)  # the rest of the output (the pipe closes with the last writer)
        removed = release_stale_locks(self.root(), seen | {pgid})
        if removed:
            log.info(f"removed DVC lock entries of the stopped processes: {', '.join(removed)}")

    def repro(self, stage: str, log, *, upstream: bool = False, force: bool = False,
              on_tick: Callable[[], None] | None = None) -> str:
        """`dvc repro STAGE`; with upstream=False (`--single-item`) the stages before it are not
        re-run, so data materialized by the Dagster data assets is trained on as it is; force=True
        (`--force`) runs the stage even when its inputs are unchanged."""
        self.check_params()
        return self.run(["repro", *([] if upstream else ["--single-item"]), *(["--force"] if force else []), stage],
                        log, on_tick=on_tick)

    def check_params(self) -> None:
        """Refuse a bad params.yaml before DVC starts a stage: DVC deletes a stage's outputs before
        its command runs, so the stage's own refusal would come after the previous results are gone."""
        try:
            load_config(self.root() / "params.yaml")
        except ConfigError as exc:
            raise dg.Failure(description=str(exc)) from None


class _Output:
    """DVC's output, read by a thread: raw to this process's stdout (the compute logs), lines to
    the caller's thread, which logs the important ones and a throttled progress line."""

    def __init__(self, stream, log, progress_every_s: float, on_tick: Callable[[], None] | None = None) -> None:
        self._lines: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self._kept: list[str] = []
        self._log, self._every = log, progress_every_s
        self._progress: str | None = None  # latest progress line not yet logged
        self._progress_at = 0.0
        self._done = False
        self._on_tick, self._tick_at, self._tick_failed = on_tick, time.monotonic(), False
        self._thread = threading.Thread(target=self._read, args=(stream,), name="dvc-output", daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        pending = b""
        try:
            while chunk := stream.read1(65536):
                try:
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()
                except (OSError, ValueError):
                    pass  # no stdout to copy to: the structured log still gets the lines
                pending += chunk
                while True:  # complete lines end in \n; progress bars redraw with \r
                    cut = min((i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0), default=-1)
                    if cut < 0:
                        break
                    text, redraw = pending[:cut].decode(errors="replace").strip(), pending[cut:cut + 1] == b"\r"
                    pending = pending[cut + 1:]
                    if text:
                        self._lines.put((text, redraw))
            if pending.strip():
                self._lines.put((pending.decode(errors="replace").strip(), False))
        finally:
            stream.close()
            self._lines.put(None)

    def follow(self, timeout: float | None = None) -> None:
        """Take lines until the output ends (or `timeout` seconds passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            self._tick()
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                return
            try:
                item = self._lines.get(timeout=left)
            except queue.Empty:
                self._flush_progress(force=False)
                continue
            if item is None:
                self._done = True
                self._flush_progress(force=True)
                return
            self._take(*item)

    def _tick(self) -> None:
        """on_tick() every TICK_S seconds (a failure is logged once and never stops the command)."""
        if self._on_tick is None or time.monotonic() - self._tick_at < TICK_S:
            return
        self._tick_at = time.monotonic()
        try:
            self._on_tick()
        except Exception as exc:  # an observer must never fail the training it watches
            if not self._tick_failed:
                self._log.warning(f"watching the run failed ({type(exc).__name__}: {exc}); DVC goes on")
                self._tick_failed = True

    def _take(self, text: str, redraw: bool) -> None:
        if not redraw and IMPORTANT.search(text):  # also "<bar>INFO ... resuming from": a bar with no \r after it
            self._flush_progress(force=True)
            self._kept.append(text)
            self._log.info(text)
        elif redraw or PROGRESS.search(text):
            self._progress = text
            self._flush_progress(force=False)
        else:
            self._kept.append(text)  # compute logs and the returned text only

    def _flush_progress(self, force: bool) -> None:
        if self._progress is None or (not force and time.monotonic() - self._progress_at < self._every):
            return
        self._progress_at = time.monotonic()
        self._kept.append(self._progress)
        self._log.info(self._progress)
        self._progress = None

    @property
    def done(self) -> bool:
        """The output has ended (every process holding the pipe is gone or closed it)."""
        return self._done

    def text(self) -> str:
        """The lines kept: every line but progress redraws, and the progress lines logged."""
        return "\n".join(self._kept)
