#!/usr/bin/env python3
"""The window's cost, side by side with the smallest Tauri window (tests/bench/minimal-window, built
here from its template with the workspace's Cargo.lock) in one run, under Xvfb:

- start to first paint: from the process's start (its start time in /proc) to the page's first
  contentful paint (the Paint Timing API), read through WebDriver the same way for both; the median
  of several starts, alternating. (Polling screenshots was tried first: at about 200 ms a frame it
  is too coarse for a difference of tens of milliseconds.)
- memory while open: the RSS of the process and its WebKit children, 5 s after it painted;
- the daemon's idle RSS before the window is opened and after it was opened and closed once
  (each after 20 s of idling).

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

from desktop import (Started, WebDriver, descendants, exe_name, find_colour, free_port, indigo,  # noqa: E402
                     request_close, screenshot, start_xvfb, stop_pids, tauri_driver_binary, wait_until,
                     windows_named)

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "pixy" / "target"))
STARTS = 7


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


BOOT = int(next(line for line in open("/proc/stat") if line.startswith("btime")).split()[1])
TICK = os.sysconf("SC_CLK_TCK")


def process_start_ms(pid):
    """When `pid` started, in ms since the epoch (to the kernel's clock tick)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (BOOT + int(fields[19]) / TICK) * 1000


def first_paint(driver, driver_proc, binary):
    """A WebDriver session on `binary`: ms from its process's start to its first contentful paint."""
    driver.start(str(binary))
    try:
        pid = next(p for p in descendants(driver_proc.pid) if exe_name(p) == binary.name)
        painted = wait_until(lambda: driver.script(
            "const p = performance.getEntriesByType('paint');"
            "return p.length ? performance.timeOrigin + p[0].startTime : null"), timeout=30, interval=0.1)
        if painted is None:
            raise SystemExit(f"{binary.name} reported no first paint")
        return painted - process_start_ms(pid)
    finally:
        driver.end()


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

        memory = {"pixy": [], "minimal": []}
        for run in range(STARTS):
            for name, binary, title in (("pixy", pixy_window, "Pixy"), ("minimal", minimal, "Minimal")):
                proc, _ = start_and_paint(binary, title, env, display, tmp / f"{name}.png")
                time.sleep(5)
                memory[name].append(rss_kib([proc.pid, *descendants(proc.pid)]))
                if name == "pixy" and run == 0:
                    # The first window is closed as a person closes it, for the daemon's measure.
                    request_close(display, windows_named(display, "^Pixy$")[0])
                    proc.wait(timeout=20)
                    stop_pids(descendants(proc.pid))
                    time.sleep(20)
                    daemon_after = daemon_rss(runtime)
                else:
                    stop(proc)
                time.sleep(1)

        port, native = free_port(), free_port()
        driver_proc = started.start("tauri-driver", [tauri_driver_binary(), "--port", str(port), "--native-port",
                                                     str(native)], env=env)
        driver = WebDriver(port)
        if not wait_until(driver.ready, timeout=20):
            raise SystemExit("tauri-driver did not start")
        times = {"pixy": [], "minimal": []}
        for _ in range(STARTS):
            for name, binary in (("pixy", pixy_window), ("minimal", minimal)):
                times[name].append(first_paint(driver, driver_proc, binary) / 1000)
                time.sleep(0.5)
        started.stop(driver_proc)

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
