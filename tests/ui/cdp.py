"""Headless Chromium driven over the Chrome DevTools Protocol: the browser of the UI tests.

Chromium comes from the OS packages (``chromium``); the protocol is spoken over a websocket with the
``websockets`` package Airflow already installs, so the browser test adds no Python dependency and needs no
driver binary. Only what the tests use is here: navigate, evaluate JavaScript, wait for a condition, click,
type, and screenshots.

The browser listens on a free loopback port chosen by Chromium itself (``--remote-debugging-port=0``, read
back from ``DevToolsActivePort``), runs in its own session with a fresh profile, and :meth:`Browser.close`
kills its process group and deletes the profile, also when the test failed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

#: the flags the project runs Chromium with: headless, no network of its own, no profile carried over
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1280,1600",
)


def chromium_binary() -> str | None:
    """The Chromium executable from the OS packages, if installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(AssertionError):
    """A page did not reach the state a test waited for, or a protocol call failed."""


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol.

    :param timeout: the default seconds a wait may take (generous: the machine is shared).
    """

    def __init__(self, timeout: float = 60.0) -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="ape-chromium-"))
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._next_id = 0
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        try:
            self._ws = self._stack.enter_context(
                connect(self._page_websocket(), max_size=None, open_timeout=timeout)
            )
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle
    def _page_websocket(self) -> str:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                port = int(port_file.read_text().splitlines()[0])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                    targets = json.loads(resp.read())
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.2)
        raise RuntimeError(f"chromium did not open its DevTools port in {self.timeout:.0f} s")

    def close(self) -> None:
        """Close the connection, kill Chromium's process group and delete its profile."""
        with contextlib.suppress(Exception):
            self._stack.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # a child that outlived the leader
            os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ protocol
    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one protocol command and return its result (events arriving meanwhile are dropped)."""
        assert self._ws is not None
        self._next_id += 1
        call_id = self._next_id
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer in {self.timeout:.0f} s")
            message = json.loads(self._ws.recv(timeout=left))
            if message.get("id") != call_id:
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            return dict(message.get("result") or {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"JavaScript failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, what: str, timeout: float | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            with contextlib.suppress(BrowserError):
                value = self.evaluate(expression)
                if value:
                    return value
            time.sleep(0.25)
        raise BrowserError(f"waited {timeout or self.timeout:.0f} s for {what}")

    # ------------------------------------------------------------------ actions
    def goto(self, url: str) -> None:
        """Open a URL and wait until its document has loaded."""
        self.call("Page.navigate", url=url)
        time.sleep(0.2)
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def click_at(self, finder: str, what: str) -> None:
        """A real mouse click in the middle of the element the JavaScript expression ``finder`` returns."""
        box = self.wait_for(
            f"""(() => {{
                const el = {finder};
                if (!el || el.offsetParent === null || el.disabled) return false;
                el.scrollIntoView({{block: 'center'}});
                const r = el.getBoundingClientRect();
                return [r.x + r.width / 2, r.y + r.height / 2];
            }})()""",
            what,
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def click_text(self, text: str, selector: str = "button") -> None:
        """Click the first visible element matching ``selector`` whose text is ``text``."""
        self.click_at(
            f"[...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.innerText.trim() === {json.dumps(text)} && e.offsetParent !== null)",
            f"a {selector} saying {text!r}",
        )

    def expand(self, text: str) -> None:
        """Open the accordion section titled ``text`` unless it is open already."""
        trigger = (
            "[...document.querySelectorAll('button[data-part=item-trigger]')]"
            f".find(e => e.innerText.trim() === {json.dumps(text)})"
        )
        if self.evaluate(f"{trigger}.getAttribute('aria-expanded')") != "true":
            self.click_at(trigger, f"the section {text!r}")
        self.wait_for(f"{trigger}.getAttribute('aria-expanded') === 'true'", f"the section {text!r} to open")

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element matching ``selector``, select what it holds, and type ``text`` over it."""
        self.wait_for(
            f"""(() => {{
                const el = document.querySelector({json.dumps(selector)});
                if (!el || el.offsetParent === null) return false;
                el.scrollIntoView({{block: 'center'}});
                el.focus();
                if (el.select) el.select();
                return document.activeElement === el;
            }})()""",
            f"an input {selector}",
        )
        self.call("Input.insertText", text=text)

    def press(self, key: str, code: str, key_code: int) -> None:
        """Press and release one key (e.g. ``press("Enter", "Enter", 13)``) in the focused element."""
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=key_code)

    def body_text(self) -> str:
        """The page's visible text."""
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the viewport) written to ``path``."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
