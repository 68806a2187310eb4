"""Inception weights fetched once from a server on 127.0.0.1 (started here): cached in torch hub's
folder, sha256-checked (a tampered file is refused and removed), offline reported and survived."""

import functools
import hashlib
import http.server
import threading

import pytest
import torch

from spagan.config import load_config
from spagan.evaluation.evaluate import evaluate
from spagan.evaluation.metrics import features
from spagan.evaluation.metrics.download import OFFLINE_VAR
from spagan.evaluation.metrics.features import (
    KNOWN_WEIGHTS,
    WeightsSource,
    WeightsUnavailable,
    build_inception,
    hub_checkpoint_dir,
)
from spagan.models import build_networks
from spagan.models.checkpoint import save_checkpoint
from tests.conftest import ROOT, TINY_OVERRIDES

CHOICE = "fid"  # eval.inception_weights' default: the FID Inception papers use
NAME = KNOWN_WEIGHTS[CHOICE].file_name


class _Server:
    """http.server in a thread serving `folder`; `requests` lists the paths asked for."""

    def __init__(self, folder):
        self.requests: list[str] = []
        log = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                log.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=folder))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Random FID Inception weights (the real file's layout) written and served from 127.0.0.1."""
    folder = tmp_path_factory.mktemp("served")
    torch.manual_seed(0)
    torch.save(build_inception("fid", num_classes=1008, aux_logits=False).state_dict(), folder / NAME)
    tampered = bytearray((folder / NAME).read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    (folder / "tampered.pth").write_bytes(bytes(tampered))
    server = _Server(folder)
    yield server, hashlib.sha256((folder / NAME).read_bytes()).hexdigest()
    server.stop()


@pytest.fixture
def online(isolated_torch_hub, monkeypatch, served):
    """Downloads allowed; the fid entry points at the test server with the test file's sha256."""
    server, sha = served
    server.requests.clear()
    monkeypatch.delenv(OFFLINE_VAR, raising=False)
    monkeypatch.setitem(KNOWN_WEIGHTS, CHOICE, WeightsSource(CHOICE, NAME, f"{server.url}/{NAME}", sha))
    return server


@pytest.fixture(scope="module")
def checkpoint_and_data(tmp_path_factory):
    from tests.conftest import write_tiny_domains

    root = tmp_path_factory.mktemp("kid")
    cfg = load_config(ROOT / "params.yaml", TINY_OVERRIDES)
    nets = build_networks(cfg.model)
    ckpt = root / "checkpoint.pt"
    save_checkpoint({"networks": nets.state_dicts(), "config": cfg.to_dict()},
                    ckpt)
    return ckpt, write_tiny_domains(root / "data", n=2)


def _eval_cfg(*extra):
    return load_config(ROOT / "params.yaml", ["eval.kid_subsets=3", "eval.gallery_size=2", *extra]).eval


def test_first_use_downloads_and_caches_second_use_does_not_request(online):
    first = features.load_inception(CHOICE, download=True)
    assert online.requests == [f"/{NAME}"]
    cached = hub_checkpoint_dir() / NAME
    assert cached.is_file() and not [p for p in cached.parent.iterdir() if p.name != NAME]  # no temp file left
    second = features.load_inception(CHOICE, download=True)
    assert online.requests == [f"/{NAME}"]  # served from torch hub's cache
    assert first.identity == second.identity and first.identity["weights_file"] == NAME


@pytest.mark.slow  # Inception passes on CPU (about 20 s idle)
def test_evaluate_on_a_connected_machine_computes_kid_with_no_manual_step(online, checkpoint_and_data, tmp_path):
    ckpt, data = checkpoint_and_data
    metrics = evaluate(_eval_cfg(), ckpt, data, tmp_path / "eval", device="cpu")
    assert "mean" in metrics["a2b"]["kid_x100"] and "mean" in metrics["b2a"]["kid_x100"]
    assert online.requests == [f"/{NAME}"] and metrics["settings"]["features"]["weights_file"] == NAME


def test_mirror_url_overrides_the_official_address(online, monkeypatch, served):
    server, sha = served
    monkeypatch.setitem(KNOWN_WEIGHTS, CHOICE, WeightsSource(CHOICE, NAME, "http://127.0.0.1:9/x", sha))
    path, graph = features.resolve_weights(CHOICE, download=True, url=f"{server.url}/{NAME}")
    assert path == hub_checkpoint_dir() / NAME and graph == CHOICE and online.requests == [f"/{NAME}"]


def test_tampered_file_is_refused_and_removed(online):
    with pytest.raises(WeightsUnavailable, match="expected .*: refused and removed") as info:
        features.resolve_weights(CHOICE, download=True, url=f"{online.url}/tampered.pth")
    assert "copy it into" in info.value.fix  # the manual way stays in the message
    folder = hub_checkpoint_dir()
    assert not folder.exists() or not list(folder.iterdir())


def test_offline_and_switched_off_never_request(online, monkeypatch):
    with pytest.raises(WeightsUnavailable, match="eval.download_weights is false"):
        features.resolve_weights(CHOICE, download=False)
    monkeypatch.setenv(OFFLINE_VAR, "1")
    with pytest.raises(WeightsUnavailable, match=f"{OFFLINE_VAR} is set"):
        features.resolve_weights(CHOICE, download=True)
    assert online.requests == []


def test_stopped_server_gives_the_offline_message_and_evaluation_completes(
        isolated_torch_hub, monkeypatch, checkpoint_and_data, tmp_path):
    ckpt, data = checkpoint_and_data
    stopped = _Server(tmp_path)
    stopped.stop()
    monkeypatch.delenv(OFFLINE_VAR, raising=False)
    metrics = evaluate(_eval_cfg(f"eval.weights_url={stopped.url}/{NAME}"), ckpt, data, tmp_path / "eval",
                       device="cpu")
    kid = metrics["a2b"]["kid_x100"]
    assert kid["status"] == "unavailable" and "could not download" in kid["reason"]
    assert KNOWN_WEIGHTS[CHOICE].url in kid["fix"]
    assert (tmp_path / "eval" / "gallery" / "a2b.png").is_file() and metrics["b2a"]["success_share"] is not None
