#!/usr/bin/env python3
"""The window's cost, side by side with the smallest Tauri window (tests/bench/minimal-window, built
here from its template with the workspace's Cargo.lock) in one run, under Xvfb:

- start to first paint: from spawning the process until its window shows its indigo mark (polled
  with screenshots, the same way for both; the median of several starts, alternating);
- memory while open: the RSS of the process and its WebKit children, 5 s after it painted;
- the daemon's idle RSS before the window is opened and after it was opened and closed once.

The tray's "Open Pixy" spawns the same binary with no arguments, which is what is measured.
Run it through tests/support/with-session.sh (a private D-Bus session with a Secret Service)."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from desktop import (Started, descendants, find_colour, indigo, request_close, screenshot,  # noqa: E402
                     start_xvfb, stop_pids, windows_named)

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "pixy" / "target"))
STARTS = 5


def build(tmp):
    subprocess.run(["npm", "--prefix", str(REPO / "ui"), "run", "build"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "pixy-cli", "-p", "pixy-desktop"], check=True,
                   cwd=REPO)
    app = tmp / "minimal-window"
    shutil.copytree(REPO / "tests" / "bench" / "minimal-window", app)
    shutil.copy(REPO / "Cargo.lock", app / "Cargo.lock")
    (app / "icons").mkdir()
    for icon in ("32x32.png", "128x128.png"):
        shutil.copy(REPO / "icons" / icon, app / "icons" / icon)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", str(app / "Cargo.toml")],
                   check=True)
    return TARGET / "release" / "pixy-desktop", TARGET / "release" / "minimal-window", TARGET / "release" / "pixy"


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def start_and_paint(binary, title, env, display, shot):
    """Spawns `binary`; returns (process, seconds until its window showed the indigo mark)."""
    started = time.monotonic()
    proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = started + 60
    while time.monotonic() < deadline:
        windows = windows_named(display, f"^{title}$")
        if windows:
            try:
                screenshot(display, shot, window=str(windows[0]))
                if find_colour(shot, indigo)[0] >= 200:
                    return proc, time.monotonic() - started
            except AssertionError:
                pass  # the window went away between the search and the shot
        time.sleep(0.02)
    raise SystemExit(f"{title} did not paint within 60 s")


def stop(proc):
    children = descendants(proc.pid)
    proc.terminate()
    proc.wait(timeout=10)
    stop_pids(children)


def daemon_rss(runtime_dir):
    pid = int((runtime_dir / "pixy" / "daemon.lock").read_text().strip())
    return rss_kib([pid])


def main():
    tmp = Path(tempfile.mkdtemp(prefix="pixy-window-bench-"))
    started = Started(tmp)
    try:
        pixy_window, minimal, pixy = build(tmp)
        display = start_xvfb(started)
        runtime = tmp / "run"
        runtime.mkdir(mode=0o700)
        env = dict(os.environ, DISPLAY=display, XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(tmp / "config"),
                   XDG_STATE_HOME=str(tmp / "state"), XDG_DATA_HOME=str(tmp / "data"),
                   BROWSER=str(REPO / "tests" / "support" / "approve.py"))
        subprocess.run([str(pixy), "link", "demo"], env=env, check=True, capture_output=True, timeout=90)

        time.sleep(20)
        daemon_before = daemon_rss(runtime)

        times = {"pixy": [], "minimal": []}
        memory = {"pixy": [], "minimal": []}
        for run in range(STARTS):
            for name, binary, title in (("pixy", pixy_window, "Pixy"), ("minimal", minimal, "Minimal")):
                proc, took = start_and_paint(binary, title, env, display, tmp / f"{name}.png")
                times[name].append(took)
                time.sleep(5)
                memory[name].append(rss_kib([proc.pid, *descendants(proc.pid)]))
                if name == "pixy" and run == 0:
                    # The first window is closed as a person closes it, for the daemon's measure.
                    request_close(display, windows_named(display, "^Pixy$")[0])
                    proc.wait(timeout=20)
                    stop_pids(descendants(proc.pid))
                else:
                    stop(proc)
                time.sleep(1)

        time.sleep(20)
        daemon_after = daemon_rss(runtime)
        subprocess.run([str(pixy), "daemon", "--stop"], env=env, capture_output=True, timeout=30)

        start_p, start_m = statistics.median(times["pixy"]), statistics.median(times["minimal"])
        rss_p, rss_m = statistics.median(memory["pixy"]), statistics.median(memory["minimal"])
        print(f"window start to first paint (median of {STARTS}): Pixy {start_p * 1000:.0f} ms, "
              f"minimal Tauri window {start_m * 1000:.0f} ms; ratio {start_p / start_m:.2f}x (goal <= 1.15x)")
        print(f"window RSS while open, with its WebKit processes: Pixy {rss_p / 1024:.1f} MiB, "
              f"minimal {rss_m / 1024:.1f} MiB; ratio {rss_p / rss_m:.2f}x (goal <= 1.15x)")
        print(f"daemon idle RSS before the window opened {daemon_before / 1024:.1f} MiB, after one open and close "
              f"{daemon_after / 1024:.1f} MiB; ratio {daemon_after / daemon_before:.2f}x (goal: unchanged)")
        print(f"release binaries: pixy-desktop {pixy_window.stat().st_size / 2**20:.1f} MiB, "
              f"minimal window {minimal.stat().st_size / 2**20:.1f} MiB")
    finally:
        started.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
