"""A small Chrome DevTools Protocol client over a pipe, for the explorer's browser tests.

Chromium started with --remote-debugging-pipe reads protocol messages on its file
descriptor 3 and writes them on 4, each a JSON object ended by a NUL byte (what
Playwright and Puppeteer's `pipe: true` use). Nothing listens on a port, so parallel
runs cannot collide and nothing else on the machine can drive the browser, and the
tests need no package beyond the standard library.

    with Browser() as browser:
        page = browser.open("file:///tmp/page.html#step=end")
        page.evaluate("document.title")
        page.key("ArrowRight")
        png = page.screenshot()
        page.errors, page.requests   # console errors and exceptions; every request made

Every wait polls a condition with a generous deadline (a busy 2-core machine can be
slow); no test asserts on how long something took.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path

# the flags that work on a bare, offline machine: no sandbox (root in a container), no GPU,
# nothing that phones home (QUIC, component updates, sync, background networking)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe"]
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT = 60.0  # seconds for any one wait: generous, never an assertion about speed


def find_browser() -> str | None:
    """$BACKPROP_BROWSER, else the first Chromium-like browser on PATH."""
    chosen = os.environ.get("BACKPROP_BROWSER")
    if chosen:
        return shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
    return next((found for found in map(shutil.which, NAMES) if found), None)


class ProtocolError(RuntimeError):
    pass


def _high(fd: int) -> int:
    """A copy of fd numbered 10 or above (so moving it onto 3 or 4 cannot clobber the other)."""
    copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return copy


class Browser:
    """One headless Chromium with a fresh profile, driven over the DevTools pipe."""

    def __init__(self, executable: str | None = None):
        self.executable = executable or find_browser()
        if self.executable is None:
            raise FileNotFoundError("no Chromium found (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="backprop-chromium-")
        self.log = Path(self.profile) / "stderr.log"
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def __enter__(self) -> Browser:
        to_browser_r, to_browser_w = map(_high, os.pipe())
        from_browser_r, from_browser_w = map(_high, os.pipe())
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        actions = [(os.POSIX_SPAWN_DUP2, to_browser_r, 3), (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
                   (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, log, 2)]
        argv = [self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"]
        # posix_spawn, not fork: safe in a process with threads (torch's), and it puts the pipe on 3 and 4
        self.pid = os.posix_spawn(self.executable, argv, os.environ, file_actions=actions, setsid=True)
        for fd in (to_browser_r, from_browser_w, log):
            os.close(fd)
        self.writer, self.reader = to_browser_w, from_browser_r
        self.call("Target.setDiscoverTargets", discover=False)  # the pipe answers: the browser is up
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            if os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                os.killpg(self.pid, signal.SIGKILL)  # its own process group (setsid): the renderers too
                os.waitpid(self.pid, 0)
        for fd in (self.writer, self.reader):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- the protocol: one JSON object per NUL-terminated message ---------------------------

    def send(self, method: str, session: str | None = None, **params) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.writer, data):]
        return self.next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                raise TimeoutError(f"no message from the browser (its stderr: {self.log})")
            chunk = os.read(self.reader, 1 << 16)
            if not chunk:
                raise ProtocolError(f"the browser closed the pipe (its stderr: {self.log.read_text()[-2000:]})")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, session: str | None = None, timeout: float = TIMEOUT, **params) -> dict:
        """Send a command and wait for its answer; events that arrive meanwhile are kept."""
        wanted = self.send(method, session, **params)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise ProtocolError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def pump(self, timeout: float) -> None:
        """Read the events that arrive within timeout seconds."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(TimeoutError):
            while True:
                self.events.append(self._receive(deadline))

    def open(self, url: str, width: int = 1280, height: int = 900) -> Page:
        """A new tab, watched from before its first request, at url; returns once it has loaded."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        page.mark = len(self.events)
        self.call("Page.navigate", session, url=url)
        page.wait("document.readyState === 'complete'")
        return page


class Page:
    """One tab: evaluate JavaScript, press keys, take screenshots, read what it logged."""

    def __init__(self, browser: Browser, session: str, target: str):
        self.browser, self.session, self.target = browser, session, target
        self.mark = 0  # events before this index belong to the blank tab's setup

    def call(self, method: str, **params) -> dict:
        return self.browser.call(method, self.session, **params)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (JSON-serialisable), or the exception it raised."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = TIMEOUT):
        """Poll until the expression is truthy; its value, or TimeoutError with the last one seen."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"{expression} stayed {value!r} for {timeout} s")

    def key(self, key: str) -> None:
        """Press and release a key (ArrowRight, ArrowLeft, Home, End) in the focused page."""
        codes = {"ArrowLeft": 37, "ArrowRight": 39, "Home": 36, "End": 35}
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=codes[key], nativeVirtualKeyCode=codes[key])

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the first element the selector finds."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, full_page: bool = True) -> bytes:
        params: dict = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])

    def pdf(self) -> bytes:
        """The page as printed (its print stylesheet)."""
        return base64.b64decode(self.call("Page.printToPDF", printBackground=True)["data"])

    def _events(self) -> list[dict]:
        self.browser.pump(0.2)  # what is in flight now
        return [e for e in self.browser.events[self.mark:] if e.get("sessionId") == self.session]

    @property
    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and the browser's own error log entries."""
        found = []
        for event in self._events():
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning",
                                                                                          "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        return found

    @property
    def requests(self) -> list[str]:
        """The URL of every request the page made (the page itself included)."""
        return [e["params"]["request"]["url"] for e in self._events() if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        self.browser.call("Target.closeTarget", targetId=self.target)
