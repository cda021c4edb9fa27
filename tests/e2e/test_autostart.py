"""Start Pixy at login (in the tray), in the real window (Tauri on WebKitGTK, under Xvfb, over
WebDriver): off on a fresh configuration; on, it writes the desktop's login entry, and that entry's
Exec line starts the daemon and no window, then ends; off, the entry is gone; the setting survives
closing and reopening the window, because the entry itself is what the window reads. A launch at
login while the window is open leaves the window alone, and a login folder that cannot be written
is said beside the setting.

The entry is the autostart plugin's: `$HOME/.config/autostart/Pixy.desktop`. The plugin reads
`$HOME` only, never `$XDG_CONFIG_HOME`, so each test here gives the window a home of its own."""

import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from desktop import alive, wait_until, windows_named, xdotool
from test_window_states import shoot
from windows import app_pid, desktop, window  # noqa: F401 (fixtures)

CHECKBOX = "#autostart"


@pytest.fixture
def a_home_of_its_own(pixy):
    home = pixy.root / "home"
    home.mkdir()
    pixy.env["HOME"] = str(home)
    return home


def entry_path(home):
    return home / ".config" / "autostart" / "Pixy.desktop"


def desktop_entry(path):
    """The keys of a .desktop file's [Desktop Entry] group."""
    keys, group = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            group = line
        elif "=" in line and group == "[Desktop Entry]":
            key, value = line.split("=", 1)
            keys[key.strip()] = value.strip()
    return keys


def entry_shown(driver, timeout=30):
    """What the setting shows once it has read the entry: "on" or "off" (None if it never did)."""
    return wait_until(lambda: driver.first_attribute(CHECKBOX, "data-entry"), timeout=timeout, interval=0.2)


def checked(driver):
    return driver.script("return document.querySelector(arguments[0]).checked", CHECKBOX)


def loaded(driver):
    """Waits for the lists above the setting to be filled: a click aimed while they fill lands
    wherever the setting was before the page grew."""
    assert driver.wait_for('li.provider[data-provider-id="demo"]', timeout=60), driver.page_text()


def settle(driver, state, timeout=15):
    """Waits until the setting shows `state` ("on"/"off") with no change on its way."""
    return wait_until(lambda: driver.script(
        "const b = document.querySelector(arguments[0]);"
        "return b.dataset.entry === arguments[1] && !b.hasAttribute('aria-busy')"
        " && b.checked === (arguments[1] === 'on')",
        CHECKBOX, state), timeout=timeout, interval=0.2)


def snapshot(driver):
    """What the person was doing in the window: the focused field, the scroll, what they typed."""
    return driver.script("return [document.activeElement.id, scrollY, document.querySelector('#issuer').value]")


def steady(driver, timeout=15):
    """The snapshot once it has held for a second."""
    last = snapshot(driver)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        now = snapshot(driver)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the window never settled: {last}")


def run_watching_windows(argv, env, display, timeout=30):
    """Runs `argv` until it ends, looking for a Pixy window all the while; returns (process,
    seconds it took, whether a Pixy window was seen)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = False
    while proc.poll() is None and time.monotonic() - started < timeout:
        seen = seen or bool(windows_named(display, "^Pixy$"))
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    took = time.monotonic() - started
    # A window mapped in the last moment before the process ended would still be there.
    seen = seen or bool(windows_named(display, "^Pixy$"))
    proc.stdout_text, proc.stderr_text = out, err
    return proc, took, seen


def test_start_at_login_is_off_at_first_writes_an_entry_that_starts_only_the_daemon_and_goes_again(
        pixy, a_home_of_its_own, window):
    driver, display, _ = window
    home = a_home_of_its_own
    assert driver.wait_for(CHECKBOX, timeout=60), driver.page_text()
    loaded(driver)
    assert entry_shown(driver) == "off", "a fresh configuration does not start Pixy at login"
    assert not checked(driver)
    assert not entry_path(home).exists() and not (home / ".config" / "autostart").exists(), \
        "and nothing was written just by opening the window"
    # Only the window's own two commands reach the entry: the plugin's are not allowed to the page.
    refused = driver.script_async(
        "const done = arguments[arguments.length - 1];"
        "window.__TAURI_INTERNALS__.invoke('plugin:autostart|enable').then(() => done('done'), e => done(String(e)))")
    assert refused != "done" and "not allowed" in refused, f"the plugin's own enable is refused: {refused}"
    assert not entry_path(home).exists(), "and wrote nothing"
    label = driver.first_text(f"label[for={CHECKBOX[1:]}]")
    assert label == "Start Pixy at login (in the tray)", f"the setting says what it does: {label!r}"
    assert "login" in (driver.first_text("#autostart-hint") or ""), "with its one line of explanation"

    assert driver.click_first(CHECKBOX)
    assert settle(driver, "on"), f"switched on, the setting shows on: {driver.page_text()}"
    shutil.copy(entry_path(home), pixy.artifacts / "Pixy.desktop")
    entry = desktop_entry(entry_path(home))
    exec_line = shlex.split(entry["Exec"])
    assert exec_line == [str(Path(pixy.desktop_bin).resolve()), "--background"], \
        f"the entry runs this pixy-desktop in the background: {entry}"
    assert entry["Type"] == "Application" and entry["Name"] == "Pixy", entry
    assert driver.first_attribute("#autostart-error", "hidden") is not None, "and nothing went wrong"
    driver.script("document.querySelector('#settings-title').scrollIntoView()")
    time.sleep(0.5)  # WebKit under Xvfb can show the frame before the scroll for a moment
    shoot(pixy, display, "autostart-on")

    # Closed; and no daemon running, as at login.
    driver.end()
    assert wait_until(lambda: not windows_named(display, "^Pixy$"), timeout=20), "the window closed"
    # Its answer can lose the race with its own exit ("closed the connection before answering"):
    # what counts is that it is gone.
    pixy.run("daemon", "--stop")
    assert wait_until(lambda: not pixy.daemon_pids(), timeout=20), f"the daemon stopped: {pixy.last.stderr}"

    env = dict(pixy.env, DISPLAY=display)
    login, took, window_seen = run_watching_windows(exec_line, env, display)
    assert login.returncode == 0, f"the login launch ends well: {login.stderr_text}"
    assert not window_seen, "a launch at login opens no window"
    daemons = pixy.daemon_pids()
    assert daemons, "the login launch started the daemon, which shows the tray"
    assert not alive(login.pid), "and then the login launch itself ended"
    ping = pixy.run("daemon", "--ping")
    assert ping.returncode == 0 and str(daemons[0]) in ping.stdout, f"the daemon answers: {ping.stdout}"
    with open(pixy.artifacts / "measurements.txt", "a", encoding="utf-8") as notes:
        notes.write(f"login launch with no daemon running: {took:.2f}s\n")

    again, took_again, window_seen = run_watching_windows(exec_line, env, display)
    assert again.returncode == 0 and not window_seen, again.stderr_text
    assert pixy.daemon_pids() == daemons, "a second login launch finds the daemon and starts no other"
    with open(pixy.artifacts / "measurements.txt", "a", encoding="utf-8") as notes:
        notes.write(f"login launch with the daemon running: {took_again:.2f}s\n")

    # Reopened: the setting is read from the entry, so it is still on.
    driver.start(pixy.desktop_bin)
    assert driver.wait_for(CHECKBOX, timeout=60), driver.page_text()
    loaded(driver)
    assert entry_shown(driver) == "on" and checked(driver), "the setting survives closing the window"

    assert driver.click_first(CHECKBOX)
    assert settle(driver, "off"), f"switched off, the setting shows off: {driver.page_text()}"
    assert not entry_path(home).exists(), "switched off, the login entry is gone"


def test_a_launch_at_login_while_the_window_is_open_leaves_the_window_alone(pixy, a_home_of_its_own, window):
    driver, display, driver_proc = window
    assert driver.wait_for('li.provider[data-provider-id="demo"]', timeout=60), driver.page_text()
    [shown] = windows_named(display, "^Pixy$")
    # The page hears every hand-over of a second launch (the running window's `pixy-launch`).
    driver.script("window.__launches = 0; window.addEventListener('pixy-launch', () => window.__launches++)")
    # In the middle of the view: WebKit scrolls a focused field near an edge into view a moment later.
    driver.script("const i = document.querySelector('#issuer'); i.scrollIntoView({ block: 'center' });"
                  "i.focus(); i.value = 'https://id.example.com'")
    geometry = xdotool(display, "getwindowgeometry", str(shown)).stdout

    # Another window has the keyboard, as it would while the person works elsewhere.
    other = subprocess.Popen(["xmessage", "-name", "elsewhere", "-geometry", "+600+400", "elsewhere"],
                             env=dict(pixy.env, DISPLAY=display), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        [elsewhere] = wait_until(lambda: windows_named(display, "^elsewhere$"), timeout=15) or [None]
        assert elsewhere, "the other window appears"
        xdotool(display, "windowfocus", "--sync", str(elsewhere))
        focused = xdotool(display, "getwindowfocus").stdout.strip()
        assert focused == str(elsewhere), f"the other window has the keyboard ({focused})"
        before = steady(driver)

        env = dict(pixy.env, DISPLAY=display)
        login, took, _ = run_watching_windows([pixy.desktop_bin, "--background"], env, display)
        assert login.returncode == 0, f"the login launch ends well: {login.stderr_text}"
        time.sleep(1.5)  # a hand-over would have reached the page by now
        assert driver.script("return window.__launches") == 0, "the running window heard of no second launch"
        after = snapshot(driver)
        assert after == before, f"what the person was doing in the window is as it was: {before} -> {after}"
        assert xdotool(display, "getwindowfocus").stdout.strip() == str(elsewhere), \
            "the keyboard stays with the other window: the Pixy window was not brought forward"
        assert windows_named(display, "^Pixy$") == [shown], "one Pixy window, the same one"
        assert xdotool(display, "getwindowgeometry", str(shown)).stdout == geometry, "where it was, as large"
        assert alive(app_pid(driver_proc, pixy.desktop_bin)), "the window process runs on"
        with open(pixy.artifacts / "measurements.txt", "a", encoding="utf-8") as notes:
            notes.write(f"login launch beside an open window: {took:.2f}s\n")

        # The same check hears a launch that does hand over: a plain second launch.
        plain = subprocess.run([pixy.desktop_bin], env=env, capture_output=True, text=True, timeout=60)
        assert plain.returncode == 0, plain.stderr
        assert wait_until(lambda: driver.script("return window.__launches") == 1, timeout=15), \
            "a plain second launch is heard by the window, so the check above could have failed"
        assert wait_until(lambda: xdotool(display, "getwindowfocus").stdout.strip() == str(shown), timeout=15), \
            "and it takes the keyboard to the Pixy window, so the focus check above could have failed too"
    finally:
        other.terminate()
        other.wait(timeout=10)


@pytest.fixture
def a_login_folder_that_is_a_file(a_home_of_its_own):
    config = a_home_of_its_own / ".config"
    config.mkdir()
    (config / "autostart").write_text("not a folder\n")
    return config / "autostart"


def test_a_login_folder_that_cannot_be_written_is_said_beside_the_setting_which_stays_off(
        pixy, a_login_folder_that_is_a_file, window):
    driver, display, _ = window
    assert driver.wait_for(CHECKBOX, timeout=60), driver.page_text()
    loaded(driver)
    assert entry_shown(driver) == "off"
    assert driver.click_first(CHECKBOX)
    said = wait_until(lambda: driver.first_attribute("#autostart-error", "hidden") is None
                      and driver.first_text("#autostart-error"), timeout=15)
    assert said, f"the failure is said beside the setting: {driver.page_text()}"
    assert str(a_login_folder_that_is_a_file) in said and "not a directory" in said, \
        f"in words, naming the folder and why: {said!r}"
    assert "os error" not in said, f"no errno: {said!r}"
    assert settle(driver, "off"), "the switch goes back to the entry's real state: off"
    assert a_login_folder_that_is_a_file.read_text() == "not a folder\n", "and what was there is left alone"
    driver.script("document.querySelector('#settings-title').scrollIntoView()")
    time.sleep(0.5)
    shoot(pixy, display, "autostart-error")
