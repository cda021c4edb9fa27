#!/usr/bin/env python3
"""A real browser as $BROWSER: headless Chromium, driven through chromedriver (W3C WebDriver over
plain HTTP), opens the authorization URL, presses the demo provider's Approve button, and waits
for Pixy's success page on the loopback listener.

    BROWSER=tests/support/chromium.py pixy link demo

It reports what it saw to the JSON file named by $PIXY_CHROMIUM_REPORT (the page heading and the
final URL's host and path, never the query), saves a screenshot to $PIXY_CHROMIUM_SCREENSHOT when
set, and stops the browser and driver it started. Python standard library only."""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CHROMEDRIVER = os.environ.get("PIXY_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("PIXY_CHROMIUM", "/usr/bin/chromium")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}").get("value")


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def main():
    url = sys.argv[-1]
    report = {"ok": False}
    port = free_port()
    profile = tempfile.mkdtemp(prefix="pixy-chromium-")
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    session = None
    try:
        wait_for("chromedriver", lambda: _up(base))
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}", "--window-size=900,700"]}}}}
        session = call(base, "POST", "/session", caps)["sessionId"]
        s = f"/session/{session}"
        call(base, "POST", s + "/url", {"url": url})
        button = wait_for("the Approve button", lambda: _find(base, s, "button[value='approve']"))
        call(base, "POST", f"{s}/element/{button}/click", {})
        heading = wait_for("Pixy's page", lambda: _text(base, s, "h1"))
        current = urllib.parse.urlsplit(call(base, "GET", s + "/url"))
        report = {"ok": True, "heading": heading, "host": current.netloc, "path": current.path}
        shot = os.environ.get("PIXY_CHROMIUM_SCREENSHOT")
        if shot:
            with open(shot, "wb") as f:
                f.write(base64.b64decode(call(base, "GET", s + "/screenshot")))
    except Exception as e:  # Reported to the test, which asserts on it.
        report = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    finally:
        if session:
            try:
                call(base, "DELETE", f"/session/{session}")
            except Exception:
                pass
        driver.terminate()
        driver.wait(10)
        path = os.environ.get("PIXY_CHROMIUM_REPORT")
        if path:
            with open(path, "w") as f:
                json.dump(report, f)
    return 0 if report.get("ok") else 1


def _up(base):
    try:
        return call(base, "GET", "/status").get("ready")
    except Exception:
        return False


def _find(base, s, css):
    try:
        found = call(base, "POST", s + "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))
    except Exception:
        return None


def _text(base, s, css):
    element = _find(base, s, css)
    if not element:
        return None
    try:
        text = call(base, "GET", f"{s}/element/{element}/text")
    except Exception:
        return None
    # The demo's own pages have headings too; wait for Pixy's listener page.
    current = urllib.parse.urlsplit(call(base, "GET", s + "/url"))
    return text if current.path == "/callback" else None


if __name__ == "__main__":
    sys.exit(main())
