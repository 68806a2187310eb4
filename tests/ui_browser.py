"""Headless Chromium driven over the DevTools protocol: open a Dagster UI page, click what a user
would click, and take a screenshot, with nothing but Chromium and the `websockets` package that
Dagster's webserver already installs (no Playwright, no Selenium, no downloaded browser).

Chromium is found on PATH (`apt-get install -y chromium`); tests skip what needs it when absent.
"""

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tests.dagster_server import free_port


def chromium_available() -> bool:
    return shutil.which("chromium") is not None


class Page:
    """One browser tab: navigate, evaluate JavaScript, capture the viewport as PNG."""

    def __init__(self, ws) -> None:
        self._ws, self._id = ws, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:  # events arrive between replies: skip them
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, script: str) -> Any:
        return self.call("Runtime.evaluate", expression=script, returnByValue=True)["result"].get("value")

    def wait_for(self, script: str, timeout_s: float = 60.0) -> Any:
        """Evaluate `script` until it returns something truthy."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(script)
            if value:
                return value
            time.sleep(0.5)
        raise TimeoutError(f"still false after {timeout_s:.0f} s: {script}")

    def screenshot(self, out: Path) -> Path:
        out.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return out


@contextmanager
def browser_page(url: str, width: int = 1600, height: int = 1200) -> Iterator[Page]:
    """A headless Chromium on 127.0.0.1 showing `url`; closed on exit."""
    from websockets.sync.client import connect

    port = free_port()
    profile = tempfile.mkdtemp(prefix="chromium-")
    proc = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                             "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={port}",
                             f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                    tabs = [t for t in json.load(resp) if t.get("type") == "page"]
                if tabs:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium's DevTools endpoint did not come up")
            time.sleep(0.3)
        with connect(tabs[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            page = Page(ws)
            page.call("Page.enable")
            page.call("Page.navigate", url=url)
            page.wait_for("document.readyState === 'complete'")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def photograph_markdown(url: str, click_script: str, shot: Path, width: int = 1300, height: int = 1000) -> Path:
    """Open an asset page, run `click_script` until it returns true (it opens a metadata entry's
    "[Show Markdown]" dialog), wait for an inline image wider than 200 px, and save the page down to
    the dialog's bottom edge as `shot`. A high-density screen (2 device pixels per CSS pixel), so
    64 px tiles can be seen."""
    from PIL import Image

    with browser_page(url, width, height) as page:
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=2,
                  mobile=False)
        page.wait_for(click_script)
        page.wait_for("[...document.images].some(i => i.src.startsWith('data:image/png') && "
                      "i.getBoundingClientRect().width > 200)")
        time.sleep(2.0)  # the dialog fades in
        bottom = page.evaluate("Math.max(...[...document.querySelectorAll('[role=dialog]')]"
                               ".map(d => d.getBoundingClientRect().bottom))")
        page.screenshot(shot)
    with Image.open(shot) as im:  # the page down to the dialog's bottom edge
        im.crop((0, 0, im.width, min(im.height, int(2 * (bottom or im.height / 2)) + 40))).save(shot)
    return shot
