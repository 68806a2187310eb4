"""The `dvc` command line as a Dagster resource.

DVC lives in its own environment (.venv-dvc; its hydra pins an antlr4 runtime that breaks
Dagster's asset selection), so Dagster never imports it: it runs the command, streams the
output into the run log, and reads dvc.lock as YAML afterwards.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from spagan.config import ConfigError, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# DVC's messages when another DVC command holds the repository lock, or (while a stage runs)
# the read/write lock on that stage's dependencies and outputs.
LOCK_BUSY = ("Unable to acquire lock", "is busy, it is being blocked by")


class DvcCli(dg.ConfigurableResource):
    """Runs `dvc` in a project checkout, with this environment's `spagan` first on PATH."""

    repo: str = ""            # checkout holding dvc.yaml; "" = this project
    executable: str = ""      # dvc command; "" = <repo>/.venv-dvc/bin/dvc, else `dvc` on PATH
    lock_wait_s: float = 900  # wait this long for another DVC command to release the repo lock
    progress_every_s: float = 5.0  # at most one progress-bar line per this many seconds in the log

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

    def run(self, args: list[str], log) -> str:
        """Run `dvc ARGS`, streaming its output to `log`; waits while another DVC command holds
        the repository lock (DVC itself fails at once). Raises dg.Failure on a non-zero exit."""
        deadline = time.monotonic() + self.lock_wait_s
        while True:
            code, output = self._run_once(args, log)
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

    def _run_once(self, args: list[str], log) -> tuple[int, str]:
        cmd = [self.command(), *args]
        log.info(f"$ {' '.join(cmd)}  (in {self.root()})")
        proc = subprocess.Popen(cmd, cwd=self.root(), env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lines, pending, last_progress = [], b"", 0.0
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            pending += chunk
            while True:  # complete lines end in \n; progress bars redraw with \r
                cut = min((i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0), default=-1)
                if cut < 0:
                    break
                text, is_progress = pending[:cut].decode(errors="replace").strip(), pending[cut:cut + 1] == b"\r"
                pending = pending[cut + 1:]
                if not text:
                    continue
                if is_progress:
                    if time.monotonic() - last_progress < self.progress_every_s:
                        continue
                    last_progress = time.monotonic()
                lines.append(text)
                log.info(text)
        if pending.strip():
            lines.append(pending.decode(errors="replace").strip())
            log.info(lines[-1])
        return proc.wait(), "\n".join(lines)

    def repro(self, stage: str, log, *, upstream: bool = False, force: bool = False) -> str:
        """`dvc repro STAGE`; with upstream=False (`--single-item`) the stages before it are not
        re-run, so data materialized by the Dagster data assets is trained on as it is; force=True
        (`--force`) runs the stage even when its inputs are unchanged."""
        self.check_params()
        return self.run(["repro", *([] if upstream else ["--single-item"]), *(["--force"] if force else []), stage],
                        log)

    def check_params(self) -> None:
        """Refuse a bad params.yaml before DVC starts a stage: DVC deletes a stage's outputs before
        its command runs, so the stage's own refusal would come after the previous results are gone."""
        try:
            load_config(self.root() / "params.yaml")
        except ConfigError as exc:
            raise dg.Failure(description=str(exc)) from None
