"""The loopback receiver in a real browser engine: headless Chromium (Debian's) signs in to the
demo provider, so the pages, the redirect, Host and fetch metadata are what a real browser sends."""

import json
import time

from conftest import SUPPORT


def test_headless_chromium_links_the_demo_account(pixy):
    report_path = pixy.artifacts / "chromium-report.json"
    screenshot = pixy.artifacts / "chromium-callback.png"
    env = dict(pixy.env, BROWSER=str(SUPPORT / "chromium.py"),
               PIXY_CHROMIUM_REPORT=str(report_path), PIXY_CHROMIUM_SCREENSHOT=str(screenshot))
    proc, events = pixy.run_json("link", "demo", "--json", timeout=120, env=env)
    assert proc.returncode == 0, f"link exit {proc.returncode}; events {events}; stderr:\n{proc.stderr}"
    assert events[-1]["event"] == "linked", f"the last event must be linked: {events[-1]}"
    # The link ends when the callback is caught; the browser finishes its report just after.
    deadline = time.monotonic() + 30
    while not report_path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    report = json.loads(report_path.read_text())
    assert report.get("ok"), f"Chromium did not reach Pixy's page: {report}"
    assert report["heading"] == "You're connected", f"Chromium saw the wrong page: {report}"
    assert report["host"].startswith("127.0.0.1:"), f"the redirect went to the loopback listener: {report}"
    assert screenshot.stat().st_size > 1000, "a screenshot of the success page was saved"
    accounts = pixy.status_accounts()
    assert [a["provider"] for a in accounts] == ["demo"], f"one demo account is linked: {accounts}"
