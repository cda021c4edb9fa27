"""The daemon's tray icon on a real StatusNotifier host: Xvfb, `status-notifier-watcher` and
`gtk-sni-tray-standalone` in the test's D-Bus session, and `pixy daemon` showing its icon there.
The icon must be seen on screen, say how many accounts are linked, and its menu's "Open Pixy" must
start the window.
"""

import os
import re
import subprocess
import time

import pytest

from desktop import (Started, alive, comm, descendants, exe_name, find_colour, indigo, pids_with_env, pixels,
                     request_close, screenshot, start_xvfb, stop_pids, wait_painted, wait_until, windows_named,
                     xdotool)

WATCHER = "org.kde.StatusNotifierWatcher"
BAR_HEIGHT = 40


def gdbus(*args):
    proc = subprocess.run(["gdbus", "call", "--session", *args], capture_output=True, text=True, timeout=15,
                          stdin=subprocess.DEVNULL)
    return proc.stdout if proc.returncode == 0 else ""


def watcher_property(name):
    return gdbus("--dest", WATCHER, "--object-path", "/StatusNotifierWatcher", "--method",
                 "org.freedesktop.DBus.Properties.Get", WATCHER, name)


def registered_items():
    """The items the watcher knows, as (bus name, object path)."""
    items = []
    for entry in re.findall(r"'([^']+)'", watcher_property("RegisteredStatusNotifierItems")):
        service, _, path = entry.partition("/")
        items.append((service, "/" + path if path else "/StatusNotifierItem"))
    return items


def item_title(item):
    service, path = item
    out = gdbus("--dest", service, "--object-path", path, "--method", "org.freedesktop.DBus.Properties.Get",
                "org.kde.StatusNotifierItem", "Title")
    found = re.search(r"<'(.*)'>", out)
    return found.group(1) if found else None


def visible_windows(display):
    return set(xdotool(display, "search", "--onlyvisible", "--name", "").stdout.split())


def geometry(display, window):
    out = xdotool(display, "getwindowgeometry", "--shell", window).stdout
    values = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


@pytest.fixture
def tray_host(pixy):
    """Xvfb with a StatusNotifier watcher and a panel hosting items along the bottom edge."""
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS"), \
        "the tray test needs a D-Bus session: run it through tests/support/with-session.sh"
    started = Started(pixy.artifacts)
    try:
        display = start_xvfb(started)
        env = dict(pixy.env, DISPLAY=display)
        started.start("status-notifier-watcher", ["status-notifier-watcher"], env=env)
        assert wait_until(lambda: watcher_property("IsStatusNotifierHostRegistered") != "", timeout=15), \
            "status-notifier-watcher did not take its bus name"
        started.start("gtk-sni-tray", ["gtk-sni-tray-standalone", "--bottom", "--end", "--size", str(BAR_HEIGHT)],
                      env=env)
        assert wait_until(lambda: "true" in watcher_property("IsStatusNotifierHostRegistered"), timeout=20), \
            "gtk-sni-tray-standalone did not register as a StatusNotifier host"
        yield started, display, env
    finally:
        # The window the tray opened is the daemon's child, not ours: it is stopped by PID here.
        stop_pids([p for p in pids_with_env("XDG_RUNTIME_DIR", str(pixy.runtime_dir))
                   if exe_name(p) == "pixy-desktop"])
        started.stop_all()


def test_tray_icon_shows_the_linked_accounts_and_opens_the_window(pixy, tray_host):
    started, display, env = tray_host
    before = screenshot(display, pixy.artifacts / "tray-before.png")
    width, height, _ = pixels(before)
    bar = (0, height - BAR_HEIGHT, width, height)
    stray, _ = find_colour(before, indigo, bar)
    assert stray < 20, f"the bar must not show the icon's colour before the daemon runs ({stray} pixels)"

    daemon = started.start("daemon", [pixy.bin, "daemon"], env=env)
    items = wait_until(registered_items, timeout=20)
    assert items, ("pixy daemon must register its StatusNotifierItem with the watcher "
                   f"(daemon running: {daemon.poll() is None}; see daemon.log)")
    assert item_title(items[0]) == "Pixy — no accounts linked", \
        f"the icon's title must count the accounts, got {item_title(items[0])!r}"

    linked = pixy.run("link", "demo", "--json", timeout=90)
    assert linked.returncode == 0, f"linking the demo account must succeed: {linked.stderr}"
    followed = wait_until(lambda: item_title(items[0]) == "Pixy — 1 account linked", timeout=10)
    assert followed, f"the tray must follow the daemon's accounts, its title is {item_title(items[0])!r}"

    def icon_on_screen():
        shot = screenshot(display, pixy.artifacts / "tray.png")
        count, box = find_colour(shot, indigo, bar)
        return box if count >= 300 else None

    box = wait_until(icon_on_screen, timeout=15, interval=0.5)
    assert box, "the icon's indigo ground must be visible in the tray bar (see tray.png)"
    x0, y0, x1, y1 = box
    assert 20 <= x1 - x0 <= BAR_HEIGHT + 4 and 20 <= y1 - y0 <= BAR_HEIGHT + 4, \
        f"the icon must fill a tray slot of about {BAR_HEIGHT} px, its bounds are {box}"

    windows = visible_windows(display)
    clicked = xdotool(display, "mousemove", str((x0 + x1) // 2), str((y0 + y1) // 2), "click", "3")
    assert clicked.returncode == 0, f"xdotool could not right-click the icon: {clicked.stderr}"
    menus = wait_until(lambda: visible_windows(display) - windows, timeout=10, interval=0.2)
    assert menus, "right-clicking the icon must open its menu"
    time.sleep(0.5)  # the menu maps before it has drawn its items
    screenshot(display, pixy.artifacts / "tray-menu.png")
    mx, my, mw, mh = max((geometry(display, w) for w in menus), key=lambda g: g[2] * g[3])
    assert mh >= 60, f"the menu must hold Open Pixy, the account and Quit; it is {mw}x{mh}"

    # "Open Pixy" is the first item: click the middle of the menu's top row.
    xdotool(display, "mousemove", str(mx + mw // 3), str(my + 14))
    time.sleep(0.3)
    xdotool(display, "click", "1")

    def window_process():
        mine = pids_with_env("XDG_RUNTIME_DIR", str(pixy.runtime_dir))
        return [p for p in mine if exe_name(p) == "pixy-desktop"]

    opened = wait_until(window_process, timeout=20)
    assert opened, "Open Pixy must start pixy-desktop"
    pixy_windows = wait_until(lambda: windows_named(display, "^Pixy$"), timeout=60, interval=0.5)
    assert pixy_windows, "a window titled Pixy must appear"
    took = wait_painted(display, pixy_windows[0], pixy.artifacts / "tray-window.png", indigo)
    assert took is not None, "the window must show Pixy's UI, not stay blank (see tray-window.png)"
    print(f"the window painted {took:.1f}s after it mapped")
    screenshot(display, pixy.artifacts / "tray-desktop.png")
    assert daemon.poll() is None, "opening the window must leave the daemon running"

    webkit = [p for pid in opened for p in descendants(pid) if comm(p).startswith("WebKit")]
    assert webkit, "the window runs its web content in WebKit helper processes"
    request_close(display, pixy_windows[0])
    assert wait_until(lambda: not any(alive(p) for p in opened), timeout=20), \
        "closing the window must end pixy-desktop"
    assert wait_until(lambda: not any(alive(p) for p in webkit), timeout=10), \
        "no WebKit process may outlive the window: the resident process is the daemon alone"
    assert daemon.poll() is None, "closing the window must leave the daemon running"
