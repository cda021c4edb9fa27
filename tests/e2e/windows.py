"""The real window under test: Xvfb, tauri-driver and a WebDriver session on pixy-desktop, shared by
the window tests. tauri-driver passes its own environment to the app, so it is started with the
test user's: its private XDG dirs (so its own daemon) and its $BROWSER."""

import json
from pathlib import Path

import pytest

from desktop import Started, WebDriver, comm, descendants, exe_name, free_port, start_xvfb, tauri_driver_binary, \
    wait_until

WEBKIT_HELPERS = ("WebKitWebProces", "WebKitNetworkPr", "WebKitWebProcess", "WebKitNetworkProcess")
UI = Path(__file__).resolve().parents[2] / "ui"


@pytest.fixture
def desktop(pixy):
    started = Started(pixy.artifacts)
    try:
        display = start_xvfb(started)
        yield started, display
    finally:
        started.stop_all()


@pytest.fixture
def window(pixy, desktop):
    """A WebDriver session on a freshly started pixy-desktop; yields (driver, display, driver_proc)."""
    started, display = desktop
    env = dict(pixy.env, DISPLAY=display)
    port, native_port = free_port(), free_port()
    driver_proc = started.start("tauri-driver", [tauri_driver_binary(), "--port", str(port), "--native-port",
                                                 str(native_port)], env=env)
    driver = WebDriver(port)
    assert wait_until(driver.ready, timeout=20), "tauri-driver did not answer on its port; see tauri-driver.log"
    try:
        driver.start(pixy.desktop_bin)
        yield driver, display, driver_proc
    finally:
        driver.end()


def app_pid(driver_proc, desktop_bin):
    """The pixy-desktop process WebKitWebDriver launched for this session."""
    name = desktop_bin.rsplit("/", 1)[-1]
    found = [pid for pid in descendants(driver_proc.pid) if exe_name(pid) == name]
    return found[0] if found else None


def webkit_helpers(pid):
    return [p for p in descendants(pid) if comm(p) in WEBKIT_HELPERS]


def flow_state(driver):
    return driver.first_attribute("[data-flow-state]", "data-flow-state")



# Every payload between the page and the Rust side, recorded in the page: what the page sends
# (the IPC custom protocol's requests, through fetch) and what comes back (each invoke's answer and
# each channel message, which all pass through Tauri's callback table).
IPC_RECORDER = """
if (!window.__ipcLog) {
  const log = (window.__ipcLog = []);
  const table = window.__TAURI_INTERNALS__.callbacks;
  const set = table.set.bind(table);
  table.set = (id, callback) => set(id, (data) => {
    try { log.push('in ' + JSON.stringify(data)); } catch (e) { log.push('in ?'); }
    return callback(data);
  });
  const send = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const body = init && init.body;
    log.push('out ' + String(input) + ' ' + (typeof body === 'string' ? body : JSON.stringify(body || null)));
    return send(input, init);
  };
}
return true;
"""


def record_ipc(driver):
    """Starts recording every IPC payload of the page (see IPC_RECORDER)."""
    assert driver.script(IPC_RECORDER) is True


def recorded_ipc(driver):
    return driver.script("return window.__ipcLog || []")


def axe_violations(driver, rules=("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")):
    """An axe-core audit of the page as it is now: its violations (id, impact, help, targets)."""
    source = (UI / "node_modules" / "axe-core" / "axe.min.js").read_text()
    assert driver.script(source + "\nreturn typeof axe === 'object';") is True, "axe-core must load in the page"
    found = driver.script_async(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })"
        ".then(r => done(JSON.stringify(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' ')) })))))"
        ".catch(e => done(JSON.stringify({ error: String(e) })));",
        list(rules))
    result = json.loads(found)
    assert not isinstance(result, dict), f"axe-core failed: {result}"
    return result
