"""The whole CUDA path in one command, with one verdict per item of issue 14 (run by scripts/gpu-check).

On a machine with NVIDIA GPUs (about 10 minutes on one H100-class GPU, plus the precision runs):
  1. demo data (spagan prepare --demo);
  2. train at 64 px (demo networks) and 256 px (paper networks), each in two halves: the second
     half resumes the first on the GPU (item 1), and logs steps 1..N once each (item 7);
  3. the 64 px checkpoint resumed on the CPU (item 3);
  4. host syncs of one training step, counted by torch.cuda.set_sync_debug_mode (item 5);
  5. 2-process torchrun (NCCL) with a resume, when 2+ GPUs are present (items 2 and 6);
  6. kill -9 and resume under `dvc repro` in a throw-away git copy of the project;
  7. translate, evaluate (KID when the Inception weights are on disk: item 9), export (if the
     `spagan export` command exists);
  8. the training-step benchmark table of BENCHMARKS.md, quick version (items 4 and 8);
  9. fp32 against bf16 autocast (issue 30, item 10): short demo runs in each precision, 2 seeds
     each, their final losses and the yardstick (spagan evaluate) side by side, and whether bf16's
     difference from fp32 stays within the seed-to-seed spread. A hint for `train.amp: auto`
     (fp32 everywhere until a comparison on the real yardstick says bf16 is equal), not a verdict.
Then it prints one verdict per item 1-10 (PASS, FAIL, SKIP with the reason, or INFO) and writes
everything under --out (summary.json, bench_*.json, logs). Exit code 1 when a verdict is FAIL.

--cpu-dry runs the same sequence on the CPU at a tiny size (32 px, ngf 8, a few steps; torchrun
with 2 gloo processes), so the script itself is tested on machines without a GPU.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SPAGAN = [PY, "-m", "spagan"]
TORCHRUN = Path(PY).parent / "torchrun"
STEPS = ("data", "train", "cpu_resume", "syncs", "torchrun", "dvc", "translate", "evaluate", "export", "bench",
         "precision")
ITEMS = range(1, 11)  # issue 14's items 1-9, and 10: fp32 vs bf16 (issue 30)
# What the fp32-vs-bf16 comparison reads from each direction of `spagan evaluate`'s metrics.json.
PRECISION_MEASURES = ("object_translation", "background_l1", "attention_auc", "object_domain_probability")


@dataclass
class Profile:
    """Sizes and step counts of one mode."""

    device: str
    data: list[str]                               # spagan prepare --set overrides
    runs: list[tuple[str, int, list[str]]]        # (name, steps, train overrides)
    dvc: dict                                     # params for the dvc kill/resume copy
    dvc_total: int
    dvc_kill_after: int
    bench: list[list[str]]                        # benchmark invocations (arguments)
    eval_sets: list[str] = field(default_factory=list)
    precision_steps: int = 0                      # steps of each fp32 / bf16 run (0: its whole schedule)
    precision_sets: list[str] = field(default_factory=list)  # their train overrides


GPU = Profile(
    device="cuda",
    data=["data.demo_size=72", "data.demo_train_per_domain=32", "data.demo_test_per_domain=8"],
    runs=[("run64", 300, ["train.image_size=64", "train.load_size=72", "watch.checkpoint_every=50"]),
          ("run256", 100, ["train.image_size=256", "train.load_size=286", "model.ngf=64", "model.n_blocks=9",
                           "watch.checkpoint_every=25"])],
    dvc={"data": {"demo_size": 72, "demo_train_per_domain": 16, "demo_test_per_domain": 4},
         "model": {"ngf": 16, "ndf": 16, "n_blocks": 4},
         "train": {"image_size": 64, "load_size": 72, "max_steps": 400, "epochs": 25, "epochs_decay": 25},
         "watch": {"checkpoint_every": 20, "log_every": 1}},
    dvc_total=400, dvc_kill_after=60,
    bench=[["--sizes", "256", "--batches", "1", "--settings", "fp32", "--variants", "spagan", "cyclegan", "reference",
            "--iters", "5", "--warmup", "2", "--rounds", "1"],
           ["--sizes", "256", "--batches", "1", "4", "8", "--settings", "fp32", "bf16", "bf16+cl",
            "--variants", "spagan", "--iters", "5", "--warmup", "2", "--rounds", "1"]],
    eval_sets=["eval.kid_subsets=10"],
    # The demo's networks at the paper's geometry for 64 px, a whole schedule of 16 + 16 epochs of
    # the check's 32-image demo (about 1,000 steps): a few minutes in all on one GPU.
    precision_steps=0,
    precision_sets=["train.image_size=64", "train.load_size=72", "model.n_layers_d=auto", "train.epochs=16",
                    "train.epochs_decay=16", "watch.checkpoint_every=500", "watch.preview_every=0",
                    "train.eval_every=0"],
)

TINY_MODEL = ["model.ngf=8", "model.ndf=8", "model.n_blocks=1"]
CPU_DRY = Profile(
    device="cpu",
    data=["data.demo_size=36", "data.demo_train_per_domain=4", "data.demo_test_per_domain=4",
          "data.demo_planted_duplicates=0", "data.demo_planted_broken=0"],
    runs=[("run32", 4, ["train.image_size=32", "train.load_size=36", "train.pool_size=2", "watch.checkpoint_every=1",
                        *TINY_MODEL])],
    dvc={"data": {"demo_size": 32, "demo_train_per_domain": 8, "demo_test_per_domain": 5},
         "model": {"ngf": 8, "ndf": 8, "n_blocks": 1},
         "train": {"image_size": 32, "load_size": 36, "max_steps": 40, "pool_size": 2, "epochs": 3,
                   "epochs_decay": 2},
         "watch": {"checkpoint_every": 2, "log_every": 1}},
    dvc_total=40, dvc_kill_after=5,
    bench=[["--sizes", "32", "--ngf", "8", "--n-blocks", "1", "--batches", "1", "--settings", "fp32", "cl",
            "--variants", "spagan", "cyclegan", "--iters", "1", "--warmup", "0", "--rounds", "1"]],
    eval_sets=["eval.kid_subsets=2", "eval.kid_subset_size=2", "eval.gallery_size=2"],
    precision_steps=2,
    precision_sets=["train.image_size=32", "train.load_size=36", "train.pool_size=2", "watch.preview_every=0",
                    "train.eval_every=0", *TINY_MODEL],
)


class Check:
    """Runs the commands, keeps their logs, collects facts and verdicts."""

    def __init__(self, out: Path, profile: Profile, skip: set[str]):
        self.out, self.p, self.skip = out, profile, skip
        self.facts: dict = {}
        self.verdicts: dict[int, tuple[str, str]] = {}
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                    "DVC_NO_ANALYTICS": "1"}

    def sh(self, name: str, cmd: list, timeout: float = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        """Run cmd in `cwd` (logged to OUT/logs/NAME.log); the result, whatever its exit code."""
        started = time.perf_counter()
        res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                             env=self.env)
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ {' '.join(map(str, cmd))}\n(exit {res.returncode}, {time.perf_counter() - started:.1f} s)\n"
                       f"{res.stdout}\n--- stderr ---\n{res.stderr}")
        print(f"  {name}: exit {res.returncode} in {time.perf_counter() - started:.1f} s", flush=True)
        return res

    def verdict(self, item: int, status: str, detail: str) -> None:
        self.verdicts[item] = (status, detail)

    # --- the sequence -------------------------------------------------------------------------

    def data(self) -> Path:
        res = self.sh("prepare", [*SPAGAN, "prepare", "--demo", "--out", self.out / "data", "--params",
                                  ROOT / "params.yaml", *sum((["--set", s] for s in self.p.data), [])])
        if res.returncode:
            raise SystemExit(f"gpu-check: demo data failed, see {self.out / 'logs' / 'prepare.log'}")
        return self.out / "data" / "prepared"

    def train(self, data: Path) -> None:
        """Items 1 and 7: each size trained in two halves, the second resuming on the device."""
        ok, notes = True, []
        for name, steps, sets in self.p.runs:
            run = self.out / name
            base = [*SPAGAN, "train", "--params", ROOT / "params.yaml", "--data", data, "--out", run,
                    "--device", self.p.device, *sum((["--set", s] for s in sets), [])]
            first = self.sh(f"{name}_first", [*base, "--set", f"train.max_steps={steps // 2}"])
            second = self.sh(f"{name}_resume", [*base, "--resume", "--set", f"train.max_steps={steps}"])
            resumed = f"resuming from {run / 'checkpoint.pt'} at step {steps // 2}" in second.stderr
            log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()] if first.returncode == 0 \
                and second.returncode == 0 else []
            logged = [r["step"] for r in log]
            speed = sorted(r["images_per_s"] for r in log[len(log) // 2:])
            self.facts[name] = {"steps": steps, "resumed": resumed, "images_per_s_median": speed[len(speed) // 2]
                                if speed else None, "first_exit": first.returncode, "resume_exit": second.returncode}
            ok &= resumed and logged == list(range(1, steps + 1))
            notes.append(f"{name}: {steps // 2} + {steps // 2} steps, resumed={resumed}, "
                         f"log steps 1..{steps} once each={logged == list(range(1, steps + 1))}")
        self.verdict(1, "PASS" if ok else "FAIL", f"resume on {self.p.device}: " + "; ".join(notes))
        self.verdict(7, "PASS" if ok else "FAIL", "resumed runs are exact in state (step, schedule, log); bits are "
                     "compared only on the CPU (tests pin device=cpu)")

    def cpu_resume(self) -> None:
        """Item 3: the device run's checkpoint resumed on the CPU (train.amp=auto: fp32 on both since
        issue 30; a bf16 checkpoint resumed in fp32 is tests/test_train_state.py's)."""
        name, steps, sets = self.p.runs[0]
        src, dst = self.out / name, self.out / f"{name}_on_cpu"
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        res = self.sh(f"{name}_cpu_resume", [*SPAGAN, "train", "--params", ROOT / "params.yaml", "--data",
                                             self.out / "data" / "prepared", "--out", dst, "--device", "cpu",
                                             "--resume", *sum((["--set", s] for s in sets), []),
                                             "--set", f"train.max_steps={steps + 2}"])
        detail = f"{self.p.device} checkpoint (fp32, amp=auto) resumed on the CPU for 2 steps: exit {res.returncode}"
        self.verdict(3, "PASS" if res.returncode == 0 else "FAIL", detail)

    def syncs(self) -> None:
        """Item 5: host syncs of one step, as CUDA's sync debug mode counts them."""
        if self.p.device != "cuda":
            self.verdict(5, "SKIP", "sync counting needs CUDA; on the CPU tests/test_step.py::"
                         "test_a_step_transfers_nothing_to_the_host guards the step")
            return
        res = self.sh("syncs", [PY, __file__, "--count-syncs"])
        try:
            counted = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.verdict(5, "FAIL", f"sync counter failed, see {self.out / 'logs' / 'syncs.log'}")
            return
        self.facts["syncs"] = counted
        n = counted["syncs_per_step"]
        self.verdict(5, "PASS" if n <= 1 else "FAIL", f"{n} host sync(s) in one training step + outcome (target 1: "
                     f"the loss transfer); {counted['warnings'][:3]}")

    def torchrun(self, data: Path) -> None:
        """Items 2 and 6: 2 processes (NCCL on 2 GPUs, gloo on the CPU) with a resume."""
        import torch

        if self.p.device == "cuda" and torch.cuda.device_count() < 2:
            for item in (2, 6):
                self.verdict(item, "SKIP", f"{torch.cuda.device_count()} GPU: 2-process NCCL needs 2+ GPUs "
                             "(tests/test_distributed.py covers the gloo path and the collective device)")
            return
        name, steps, sets = self.p.runs[0]
        run = self.out / "torchrun"
        base = [TORCHRUN, "--nproc-per-node", "2", "--master-port", "29561", "-m", "spagan.cli", "train",
                "--params", ROOT / "params.yaml", "--data", data, "--out", run, "--device", self.p.device,
                *sum((["--set", s] for s in sets), [])]
        first = self.sh("torchrun_first", [*base, "--set", f"train.max_steps={max(2, steps // 4)}"])
        second = self.sh("torchrun_resume", [*base, "--resume", "--set", f"train.max_steps={max(4, steps // 2)}"])
        backend = "NCCL" if self.p.device == "cuda" else "gloo"
        if first.returncode or second.returncode:
            for item in (2, 6):
                self.verdict(item, "FAIL", f"2-process {backend} run failed, see {self.out / 'logs'}")
            return
        import torch as _t

        metrics = json.loads((run / "metrics.json").read_text())
        ranks = len(_t.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["ranks"])
        same = len(set(metrics["weights_digest_per_rank"])) == 1
        self.verdict(2, "PASS" if same else "FAIL", f"2-process {backend} ran past step 1 and resumed; weights "
                     f"identical on both ranks: {same}")
        self.verdict(6, "PASS" if ranks == 2 else "FAIL", f"checkpoint holds {ranks} ranks' pools and RNG "
                     "(the one-rank divergence stop is tested on gloo: tests/test_distributed.py)")

    def dvc(self) -> None:
        """kill -9 mid-run and resume, under `dvc repro` in a throw-away git copy."""
        if not (ROOT / ".venv-dvc" / "bin" / "dvc").exists():
            self.facts["dvc"] = "skipped: no .venv-dvc (run bash scripts/setup.sh)"
            return
        sys.path.insert(0, str(ROOT))
        from tests.dvc_project import make_project, set_params

        parent = self.out / "dvc_copy"
        shutil.rmtree(parent, ignore_errors=True)
        parent.mkdir(parents=True)
        repo = make_project(parent)
        assert repo.resolve() != ROOT, "the kill/resume check must run in a copy"
        set_params(repo, self.p.dvc)
        self.sh("dvc_git_params", ["git", "-C", repo, "commit", "-qam", "gpu-check params"])
        log = repo / "runs" / "train" / "train_log.jsonl"
        proc = subprocess.Popen([repo / "scripts" / "dvc", "repro", "train"], cwd=repo, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline, reached = time.monotonic() + 300, 0
        while time.monotonic() < deadline and proc.poll() is None and reached < self.p.dvc_kill_after:
            time.sleep(0.2)
            lines = log.read_text().splitlines() if log.exists() else []
            reached = max([json.loads(x)["step"] for x in lines if x.strip().endswith("}")] or [0])
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # In the copy: `dvc repro` run from this checkout would retrain the project itself.
        res = self.sh("dvc_resume", [repo / "scripts" / "dvc", "repro", "train"], timeout=900, cwd=repo)
        out = res.stdout + res.stderr
        resumed = "resuming from runs/train/checkpoint.pt at step" in out
        steps = [json.loads(x)["step"] for x in log.read_text().splitlines()] if log.exists() else []
        self.facts["dvc"] = {"killed_at_logged_step": reached, "resumed": resumed, "exit": res.returncode,
                             "log_complete": steps == list(range(1, self.p.dvc_total + 1))}
        self.verdicts.setdefault(1, ("PASS", ""))
        status, detail = self.verdicts[1]
        good = resumed and res.returncode == 0 and self.facts["dvc"]["log_complete"]
        prefix = f"{detail}; " if detail else ""
        self.verdict(1, status if good else "FAIL", f"{prefix}dvc repro after kill -9 at step ~{reached}: "
                     f"resumed={resumed}, exit {res.returncode}, steps 1..{self.p.dvc_total} logged once each="
                     f"{self.facts['dvc']['log_complete']}")

    def translate_evaluate_export(self, data: Path) -> None:
        run = self.out / self.p.runs[0][0]
        if "translate" not in self.skip:
            res = self.sh("translate", [*SPAGAN, "translate", "--checkpoint", run, "--direction", "a2b", "--input",
                                        data / "testA", "--output", self.out / "translated", "--device",
                                        self.p.device])
            self.facts["translate"] = {"exit": res.returncode,
                                       "images": len(list((self.out / "translated").glob("*.png")))}
        if "evaluate" not in self.skip:
            res = self.sh("evaluate", [*SPAGAN, "evaluate", "--checkpoint", run, "--data", data, "--out",
                                       self.out / "eval", "--params", ROOT / "params.yaml", "--device", self.p.device,
                                       *sum((["--set", s] for s in self.p.eval_sets), []), "--json"])
            metrics_path = self.out / "eval" / "metrics.json"
            features = json.loads(metrics_path.read_text())["settings"]["features"] if metrics_path.exists() else {}
            self.facts["evaluate"] = {"exit": res.returncode, "features": features}
            from spagan.evaluation.metrics.features import numerics_tag

            expected = numerics_tag(self.p.device)
            if res.returncode:
                self.verdict(9, "FAIL", f"evaluate failed, see {self.out / 'logs' / 'evaluate.log'}")
            elif features.get("status") == "unavailable":
                self.verdict(9, "SKIP", f"no Inception weights on disk (KID unavailable); the cache key here would "
                             f"end in -{expected} (tests/test_features.py checks the key)")
            else:
                got = features.get("numerics")
                self.verdict(9, "PASS" if got == expected else "FAIL",
                             f"KID features recorded as {got}, cache keyed by it (expected {expected})")
        if "export" not in self.skip:
            has_export = subprocess.run([*SPAGAN, "export", "--help"], capture_output=True, cwd=ROOT,
                                        env=self.env).returncode == 0
            if not has_export:
                self.facts["export"] = "skipped: this build has no `spagan export`"
            else:
                res = self.sh("export", [*SPAGAN, "export", "--checkpoint", run, "--direction", "a2b", "--out",
                                         self.out / "a2b.onnx"])
                self.facts["export"] = {"exit": res.returncode, "onnx": (self.out / "a2b.onnx").is_file()}

    def bench(self) -> None:
        """Items 4 and 8: the training-step table (quick version)."""
        rows = []
        for i, args in enumerate(self.p.bench):
            out = self.out / f"bench_{i}.json"
            res = self.sh(f"bench_{i}", [PY, ROOT / "benchmarks" / "train_step.py", "--device", self.p.device,
                                         *args, "--json", out], timeout=900)
            if res.returncode == 0:
                rows += json.loads(out.read_text())["rows"]
                print(res.stdout)
        self.facts["bench_rows"] = rows
        if not rows:
            for item in (4, 8):
                self.verdict(item, "FAIL", f"benchmark failed, see {self.out / 'logs'}")
            return
        backends = {json.dumps(r["backend"], sort_keys=True) for r in rows}
        if self.p.device == "cuda":
            labelled = all("TF32" in r["label"] for r in rows if "bf16" not in r["setting"])
            self.verdict(8, "PASS" if labelled and len(backends) == 1 else "FAIL",
                         f"float32 rows labelled TF32: {labelled}; one backend setting for all rows "
                         f"(yardstick included): {len(backends) == 1} {sorted(backends)}")
        else:
            self.verdict(8, "INFO", "CPU rows carry no TF32 label or CUDA flags (labels tested in "
                         "tests/test_benchmarks.py)")
        pairs = []  # (text, speed ratio of the channels_last setting over the same without it)
        for r in rows:
            if "cl" not in r["setting"].split("+"):
                continue
            base_setting = "+".join(x for x in r["setting"].split("+") if x != "cl") or "fp32"
            base = next((b for b in rows if b["setting"] == base_setting and b["size"] == r["size"]
                         and b["batch"] == r["batch"] and b["variant"] == r["variant"]), None)
            if base:
                ratio = base["s_per_step"] / r["s_per_step"]
                pairs.append((f"{r['size']}px b{r['batch']} {r['variant']} {r['setting']}: {ratio:.2f}x the speed "
                              f"of {base_setting}", ratio))
        listed = "; ".join(t for t, _ in pairs)
        if self.p.device != "cuda":
            self.verdict(4, "INFO", f"CPU dry-run timings (one tiny step, not evidence): {listed}")
            return
        faster = [text for text, ratio in pairs if ratio > 1.02]
        # Not a failure either way: the measurement decides what `auto` should mean on CUDA.
        self.verdict(4, "INFO" if faster else "PASS",
                     ("channels_last is faster on this GPU: consider train.channels_last auto = on for CUDA. "
                      if faster else "channels_last is no faster: auto = off confirmed. ") + listed)

    def precision(self, data: Path) -> None:
        """Item 10 (issue 30): fp32 against bf16 autocast, 2 seeds each, on losses and the yardstick."""
        runs: dict[tuple[str, int], dict] = {}
        for amp, label in (("off", "fp32"), ("on", "bf16")):
            for seed in (0, 1):
                name = f"precision_{label}_seed{seed}"
                run, ev = self.out / name, self.out / f"{name}_eval"
                trained = self.sh(name, [*SPAGAN, "train", "--params", ROOT / "params.yaml", "--data", data, "--out",
                                         run, "--device", self.p.device, "--set", f"train.amp={amp}",
                                         "--set", f"train.seed={seed}", "--set",
                                         f"train.max_steps={self.p.precision_steps}",
                                         *sum((["--set", s] for s in self.p.precision_sets), [])])
                if trained.returncode:
                    self.verdict(10, "FAIL", f"{name} failed, see {self.out / 'logs' / (name + '.log')}")
                    return
                evaluated = self.sh(f"{name}_eval", [*SPAGAN, "evaluate", "--checkpoint", run, "--data", data,
                                                     "--out", ev, "--params", ROOT / "params.yaml", "--device",
                                                     self.p.device, *sum((["--set", s] for s in self.p.eval_sets), []),
                                                     "--json"])
                if evaluated.returncode:
                    self.verdict(10, "FAIL", f"{name}_eval failed, see {self.out / 'logs' / (name + '_eval.log')}")
                    return
                runs[(label, seed)] = precision_facts(run, ev)
        self.facts["precision"] = {f"{label}_seed{seed}": facts for (label, seed), facts in runs.items()}
        verdict = compare_precisions(runs)
        self.facts["precision_comparison"] = verdict["rows"]
        where = "" if self.p.device == "cuda" else "CPU dry run (a few tiny steps, not evidence): "
        self.verdict(10, "INFO", f"{where}bf16 within the seed spread of fp32 on every measure: "
                     f"{verdict['within_noise']}; " + "; ".join(r["text"] for r in verdict["rows"]))

    def run(self) -> int:
        import torch

        self.facts["machine"] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                                 "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                                 "mode": "gpu" if self.p.device == "cuda" else "cpu-dry"}
        print(f"gpu-check ({self.facts['machine']['mode']}) into {self.out}: {self.facts['machine']}", flush=True)
        data = self.data()
        if "train" not in self.skip:
            self.train(data)
        if "cpu_resume" not in self.skip and "train" not in self.skip:
            self.cpu_resume()
        if "syncs" not in self.skip:
            self.syncs()
        if "torchrun" not in self.skip and "train" not in self.skip:
            self.torchrun(data)
        if "dvc" not in self.skip:
            self.dvc()
        if "train" not in self.skip:
            self.translate_evaluate_export(data)
        if "bench" not in self.skip:
            self.bench()
        if "precision" not in self.skip:
            self.precision(data)
        for item in ITEMS:
            self.verdicts.setdefault(item, ("SKIP", "its step was skipped (--skip)"))
        (self.out / "summary.json").write_text(json.dumps(
            {"facts": self.facts, "verdicts": {str(k): {"status": v[0], "detail": v[1]}
                                               for k, v in sorted(self.verdicts.items())}}, indent=2, default=str))
        print("\nVerdicts (issue 14: items 1-9; issue 30: item 10):")
        for item, (status, detail) in sorted(self.verdicts.items()):
            print(f"item {item} [{status}]: {detail}")
        for key in ("dvc", "translate", "evaluate", "export"):
            if key in self.facts:
                print(f"{key}: {json.dumps(self.facts[key], default=str)[:300]}")
        print(f"details: {self.out / 'summary.json'}, logs in {self.out / 'logs'}")
        return 1 if any(v[0] == "FAIL" for v in self.verdicts.values()) else 0


def precision_facts(run: Path, evaluation: Path) -> dict:
    """One precision run: its losses (mean of the last quarter of the logged steps), images/s and
    the yardstick's measures per direction."""
    log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines() if x.strip()]
    tail = log[-max(1, len(log) // 4):]
    losses = {k: sum(r[k] for r in tail) / len(tail) for k in ("G", "cycle", "D_A", "D_B")}
    speed = sorted(r["images_per_s"] for r in tail)
    metrics = json.loads((evaluation / "metrics.json").read_text())
    measures = {f"{d}.{m}": metrics[d][m] for d in ("a2b", "b2a") for m in PRECISION_MEASURES
                if isinstance(metrics[d].get(m), (int, float))}
    return {"losses_last_quarter": losses, "images_per_s_median": speed[len(speed) // 2], "measures": measures}


def compare_precisions(runs: dict[tuple[str, int], dict]) -> dict:
    """Per measure (losses and yardstick): the fp32 and bf16 means over seeds, their difference and
    the seed spread (the largest |seed 0 - seed 1| within one precision); bf16 is `within_noise`
    when every difference is at most the spread."""
    def values(label: str, key: str) -> list[float]:
        out = []
        for (lab, _), facts in sorted(runs.items()):
            if lab == label:
                flat = {**{f"loss.{k}": v for k, v in facts["losses_last_quarter"].items()}, **facts["measures"]}
                if key in flat:
                    out.append(flat[key])
        return out

    keys = sorted({*(f"loss.{k}" for f in runs.values() for k in f["losses_last_quarter"]),
                   *(k for f in runs.values() for k in f["measures"])})
    rows, within = [], True
    for key in keys:
        fp32, bf16 = values("fp32", key), values("bf16", key)
        if len(fp32) < 2 or len(bf16) < 2:
            continue
        spread = max(abs(fp32[0] - fp32[1]), abs(bf16[0] - bf16[1]))
        diff = sum(bf16) / len(bf16) - sum(fp32) / len(fp32)
        ok = abs(diff) <= spread
        within &= ok
        rows.append({"measure": key, "fp32": fp32, "bf16": bf16, "difference": diff, "seed_spread": spread,
                     "within_noise": ok,
                     "text": f"{key} fp32 {sum(fp32) / 2:.3f} bf16 {sum(bf16) / 2:.3f} (diff {diff:+.3f}, "
                             f"seed spread {spread:.3f})"})
    return {"rows": rows, "within_noise": within and bool(rows)}


def count_syncs() -> None:
    """(--count-syncs, CUDA) Host syncs in one step + its outcome, after warm-up steps."""
    import warnings

    import torch

    sys.path.insert(0, str(ROOT))
    from spagan.config import load_config
    from spagan.core.device import autocast_factory
    from spagan.training.distributed import DistInfo, step_outcome
    from spagan.training.image_pool import ImagePool
    from spagan.training.state import build_trainables
    from spagan.training.step import SpaGanStep

    cfg = load_config(ROOT / "params.yaml", ["train.image_size=64"])
    dev = torch.device("cuda")
    nets, opt_G, opt_D, fmt = build_trainables(cfg, dev)
    step = SpaGanStep(nets, cfg.model, cfg.train, opt_G, opt_D, ImagePool(cfg.train.pool_size),
                      ImagePool(cfg.train.pool_size), autocast_factory(cfg.train.amp, dev))
    real_a, real_b = (torch.rand(1, 3, 64, 64, device=dev) * 2 - 1 for _ in range(2))
    for _ in range(3):
        step_outcome(step.losses(real_a, real_b), False, DistInfo())
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        step_outcome(step.losses(real_a, real_b), False, DistInfo())
        torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message)[:120] for w in caught if "synchroniz" in str(w.message).lower()]
    print(json.dumps({"syncs_per_step": len(syncs), "warnings": syncs}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-dry", action="store_true", help="the same sequence on the CPU at a tiny size")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "gpu-check", help="work folder (emptied first)")
    p.add_argument("--skip", nargs="*", default=[], choices=STEPS, help="leave steps out")
    p.add_argument("--count-syncs", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.count_syncs:
        return count_syncs()
    import torch

    if not args.cpu_dry and not torch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA device here; use --cpu-dry to run the same sequence on the CPU")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    started = time.perf_counter()
    code = Check(args.out, CPU_DRY if args.cpu_dry else GPU, set(args.skip)).run()
    print(f"gpu-check: {time.perf_counter() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
