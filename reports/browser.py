"""Open an HTML file in headless Chromium over the DevTools protocol (a pipe: no websocket, no
extra package) and report what happened: console errors, exceptions, log errors, every
network request that is not file:/data:, the counts of tables and loaded images, and a
full-page screenshot.

    python -m reports.browser report.html --screenshot shot.png     # exit 1 on errors or requests

Chromium is Debian's `chromium` (`apt-get install -y chromium`); `CHROMIUM=/path` overrides.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         # nothing can leave the machine even if the page asked: every host name fails to resolve
         "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe"]
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "devtools:")


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
    os.close(fd)
    return high


class _Pipe:
    """The DevTools protocol over --remote-debugging-pipe: JSON messages ending in NUL,
    browser reads fd 3 and writes fd 4."""

    def __init__(self, chromium: str, user_data_dir: str, width: int, height: int):
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        # move the browser's ends above any fd the redirections below touch (3 and 4)
        to_r, from_w = [_high_fd(fd) for fd in (to_r, from_w)]
        args = [chromium, *FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"]
        shell = f'exec "$0" "$@" 3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-'
        self.proc = subprocess.Popen(["bash", "-c", shell, *args], pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events[i]
        while True:
            m = self._read(deadline)
            self.events.append(m)
            if m.get("method") == method:
                return m

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_r], [], [], left)
            if ready:
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium exited: {self.stderr_tail()}")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def stderr_tail(self) -> str:
        try:
            self.proc.kill()
            return (self.proc.stderr.read() or b"").decode(errors="replace")[-2000:]
        except Exception:  # noqa: BLE001
            return ""

    def close(self) -> None:
        try:
            os.write(self._to_w, json.dumps({"id": 10**6, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._to_w, self._from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.stderr:
            self.proc.stderr.close()


def inspect(html_file: str | Path, screenshot: str | Path | None = None, *, chromium: str | None = None,
            width: int = 1280, height: int = 1000, settle_s: float = 0.5, timeout: float = 60) -> dict:
    """Load `html_file` and return {console_errors, exceptions, log_errors, requests (non-local
    URLs), tables, images, images_loaded, title, screenshot}."""
    chromium = chromium or find_chromium()
    if not chromium:
        raise FileNotFoundError("chromium not found (apt-get install -y chromium, or set CHROMIUM)")
    url = Path(html_file).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="reports-chromium-") as profile:
        pipe = _Pipe(chromium, profile, width, height)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.events.clear()
            pipe.send("Page.navigate", {"url": url}, session=session)
            pipe.wait_event("Page.loadEventFired", timeout)
            pipe.drain(settle_s)
            js = ("JSON.stringify({tables: document.querySelectorAll('table').length,"
                  " images: document.images.length,"
                  " loaded: Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length,"
                  " title: document.title, height: document.documentElement.scrollHeight})")
            page = json.loads(pipe.send("Runtime.evaluate", {"expression": js, "returnByValue": True},
                                        session=session)["result"]["value"])
            shot = None
            if screenshot is not None:
                full = min(int(page["height"]), 16000)
                pipe.send("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": full, "deviceScaleFactor": 1, "mobile": False}, session=session)
                data = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                 session=session, timeout=timeout)["data"]
                Path(screenshot).write_bytes(base64.b64decode(data))
                shot = str(screenshot)
            pipe.drain(0.1)
        finally:
            pipe.close()
    ev = pipe.events
    console = [e["params"] for e in ev if e.get("method") == "Runtime.consoleAPICalled"
               and e["params"].get("type") in ("error", "assert")]
    return {
        "console_errors": [" ".join(str(a.get("value", a.get("description", ""))) for a in c.get("args", []))
                           for c in console],
        "exceptions": [e["params"]["exceptionDetails"].get("text", "") for e in ev
                       if e.get("method") == "Runtime.exceptionThrown"],
        "log_errors": [e["params"]["entry"].get("text", "") for e in ev if e.get("method") == "Log.entryAdded"
                       and e["params"]["entry"].get("level") == "error"],
        "requests": [e["params"]["request"]["url"] for e in ev if e.get("method") == "Network.requestWillBeSent"
                     and not e["params"]["request"]["url"].startswith(LOCAL_SCHEMES)],
        "tables": page["tables"], "images": page["images"], "images_loaded": page["loaded"],
        "title": page["title"], "screenshot": shot,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m reports.browser", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("html", type=Path)
    p.add_argument("--screenshot", type=Path)
    args = p.parse_args(argv)
    result = inspect(args.html, args.screenshot)
    print(json.dumps(result, indent=2))
    bad = result["console_errors"] or result["exceptions"] or result["log_errors"] or result["requests"]
    return 1 if bad or result["images_loaded"] < result["images"] else 0


if __name__ == "__main__":
    sys.exit(main())
