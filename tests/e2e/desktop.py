"""What the window and tray tests need of a desktop: an X server, WebDriver, screenshots, pixels and
processes. Standard library only; ImageMagick's `import`/`convert` and xdotool do the X work.

Every process is started here as a child and stopped by its PID; nothing is looked up or killed by
name. Processes the app starts itself (WebKit's helpers, the daemon) are found through /proc by
parent PID or by the test's private XDG_RUNTIME_DIR in their environment.
"""

import ctypes
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import pids_with_env, stop_pids  # noqa: F401 (shared with the tests that import them from here)

# ------------------------------------------------------------------------------------------------
# Processes


class Started:
    """Child processes a test started, stopped in reverse order at the end (SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.procs = []
        self._logs = []

    def start(self, name, argv, env, **kwargs):
        log = open(self.log_dir / f"{name}.log", "w", encoding="utf-8")
        self._logs.append(log)
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc, grace=5.0):
        """Stops one started process and the children it left (found by parent PID first)."""
        children = descendants(proc.pid)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop_pids(children, grace)

    def stop_all(self):
        for proc in reversed(self.procs):
            self.stop(proc)
        for log in self._logs:
            log.close()


def _stat(pid):
    """(comm, state, ppid) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[1])


def alive(pid):
    stat = _stat(pid)
    return stat is not None and stat[1] != "Z"


def comm(pid):
    stat = _stat(pid)
    return stat[0] if stat else ""


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[2] == pid and stat[1] != "Z":
                found.append(int(entry.name))
    return found


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def wait_until(predicate, timeout, interval=0.1):
    """Polls `predicate` until it returns something truthy; returns that, or None at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# X


def free_display():
    """A display number no X server uses (neither its lock file nor its socket exists)."""
    for n in range(90, 400):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise AssertionError("no free X display number between :90 and :399")


def start_xvfb(started, size="1280x800"):
    """Starts Xvfb on a free display; returns the DISPLAY value once it accepts clients."""
    for _ in range(5):
        n = free_display()
        proc = started.start(f"xvfb-{n}", ["Xvfb", f":{n}", "-screen", "0", f"{size}x24", "-nolisten", "tcp",
                                            "-noreset"], env=dict(os.environ))
        display = f":{n}"
        ready = wait_until(lambda: proc.poll() is not None or _x_answers(display), timeout=15)
        if proc.poll() is None and ready:
            return display
        started.stop(proc)  # lost a race for that display number: try the next one
    raise AssertionError("Xvfb did not start; see its log in the artifacts")


def _x_answers(display):
    return subprocess.run(["xdpyinfo", "-display", display], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def screenshot(display, path, window="root"):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["import", "-display", display, "-window", window, str(path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"screenshot of {window} on {display} failed: {proc.stderr}"
    return path


def xdotool(display, *args, timeout=15):
    env = dict(os.environ, DISPLAY=display)
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=timeout)


def windows_named(display, pattern):
    """Visible X windows whose name matches the regular expression `pattern`."""
    proc = xdotool(display, "search", "--onlyvisible", "--name", pattern)
    return [int(w) for w in proc.stdout.split()]


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def request_close(display, window):
    """Asks `window` to close the way a window manager's close button does: a WM_DELETE_WINDOW
    client message. (Xvfb runs no window manager, and this xdotool has no `windowquit`.)

    Not WebDriver's "close window": WebKitWebDriver ends the session when its last window goes
    and kills the browser process itself, which would hide an app that does not exit."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.POINTER(_XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    try:
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = window
        event.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        event.xclient.data[1] = 0  # CurrentTime
        assert x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(event)), "XSendEvent failed"
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


def pixels(path):
    """(width, height, rgb bytes) of an image, read through ImageMagick as binary PPM."""
    raw = subprocess.run(["convert", str(path), "-depth", "8", "ppm:-"], capture_output=True, timeout=30,
                         check=True).stdout
    # P6\n<w> <h>\n<max>\n<data>; the header has no comments as ImageMagick writes it.
    fields, offset = [], 0
    while len(fields) < 4:
        while raw[offset:offset + 1].isspace():
            offset += 1
        end = offset
        while not raw[end:end + 1].isspace():
            end += 1
        fields.append(raw[offset:end])
        offset = end
    assert fields[0] == b"P6", f"expected a binary PPM, got {fields[0]!r}"
    width, height = int(fields[1]), int(fields[2])
    return width, height, raw[offset + 1:]


def wait_painted(display, window, path, matches, min_count=200, timeout=30):
    """Screenshots `window` into `path` until at least `min_count` of its pixels match: a mapped
    WebKit window is blank for a moment before its first frame. Returns the seconds it took, or
    None if it never painted."""
    started = time.monotonic()

    def painted():
        screenshot(display, path, window=str(window))
        return find_colour(path, matches)[0] >= min_count

    return time.monotonic() - started if wait_until(painted, timeout, interval=0.3) else None


def indigo(r, g, b):
    """Pixy's indigo (#6366f1 to #4338ca, the icon's ground and the window's accent): strongly
    blue, little red and green."""
    return b > 170 and r < 120 and g < 110 and b - r > 80


def find_colour(path, matches, region=None):
    """The pixels of an image for which `matches(r, g, b)` holds, as a count and bounding box
    (x0, y0, x1, y1), optionally only inside `region` (x0, y0, x1, y1)."""
    width, height, data = pixels(path)
    x0, y0, x1, y1 = region or (0, 0, width, height)
    count, box = 0, None
    for y in range(max(0, y0), min(height, y1)):
        row = y * width * 3
        for x in range(max(0, x0), min(width, x1)):
            i = row + x * 3
            if matches(data[i], data[i + 1], data[i + 2]):
                count += 1
                box = (x, y, x, y) if box is None else (min(box[0], x), min(box[1], y), max(box[2], x),
                                                        max(box[3], y))
    return count, box


# ------------------------------------------------------------------------------------------------
# WebDriver (W3C, plain HTTP)


class WebDriverError(AssertionError):
    pass


class WebDriver:
    """The few W3C WebDriver commands the window test uses, spoken to tauri-driver."""

    ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, body=None, timeout=60, attempts=3):
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(attempts):
            req = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with self._opener.open(req, timeout=timeout) as resp:
                    return json.loads(resp.read() or b"{}").get("value")
            except urllib.error.HTTPError as err:
                detail = err.read().decode(errors="replace")
                raise WebDriverError(f"{method} {path} answered {err.code}: {detail}") from None
            except (http.client.RemoteDisconnected, ConnectionResetError):
                # tauri-driver forwards over a pooled keep-alive connection that WebKitWebDriver
                # may have closed; the request then never reached it ("client error
                # (SendRequest)" in tauri-driver's log) and tauri-driver hangs up on us. Sending
                # it again is what a client of a keep-alive proxy has to do.
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)

    def ready(self):
        try:
            self._call("GET", "/status", timeout=2)
            return True
        except (OSError, WebDriverError):
            return False

    def start(self, application):
        caps = {"capabilities": {"alwaysMatch": {"browserName": "wry",
                                                 "tauri:options": {"application": str(application)}}}}
        # tauri-driver answers /status before its WebKitWebDriver listens; a session asked for in
        # that gap has its connection dropped, so ask again for a while.
        deadline = time.monotonic() + 30
        while True:
            try:
                value = self._call("POST", "/session", caps, timeout=90)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.session = value["sessionId"]
        return value

    def _s(self, path):
        assert self.session, "no WebDriver session"
        return f"/session/{self.session}{path}"

    def find_all(self, css):
        found = self._call("POST", self._s("/elements"), {"using": "css selector", "value": css})
        return [e[self.ELEMENT] for e in found]

    def wait_for(self, css, timeout=30):
        """The elements matching `css` once there are any, or [] at the timeout."""

        def found():
            try:
                return self.find_all(css)
            except OSError:
                # While the first page loads, a find can have its connection dropped through
                # tauri-driver's proxy; finding is harmless to repeat.
                return None

        return wait_until(found, timeout, interval=0.25) or []

    def click(self, element):
        self._call("POST", self._s(f"/element/{element}/click"), {})

    def click_first(self, css):
        """Clicks the first element matching `css` (found again if a re-render replaced it
        between the find and the click); False when there is none."""
        for _ in range(5):
            found = self.find_all(css)
            if not found:
                return False
            try:
                self.click(found[0])
                return True
            except WebDriverError as err:
                if "stale element" not in str(err):
                    raise
        raise WebDriverError(f"{css} went stale five times in a row")

    def type_into(self, css, text):
        """Types `text` into the first element matching `css`, key by key as a person does."""
        found = self.find_all(css)
        assert found, f"nothing matches {css}"
        self._call("POST", self._s(f"/element/{found[0]}/value"), {"text": text})

    def script(self, source, *args):
        """Runs `source` in the page with `args` (as `arguments`); returns its value."""
        return self._call("POST", self._s("/execute/sync"), {"script": source, "args": list(args)})

    def press_key(self, key):
        """Presses and releases one key (a WebDriver key code, e.g. "\\ue004" for Tab) where the
        focus is, as a keyboard does."""
        self._call("POST", self._s("/actions"), {"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})

    def script_async(self, source, *args, timeout=60):
        """Runs `source` in the page; it calls its last argument with the result."""
        return self._call("POST", self._s("/execute/async"), {"script": source, "args": list(args)},
                          timeout=timeout)

    def first_text(self, css):
        """The DOM text of the first element matching `css`, or None. Found and read in one
        step, so an element the page re-renders in between cannot go stale under the read (the
        window re-renders its lists on every change); DOM text, not WebDriver's rendered text,
        which leaves out what is clipped before the window has its size."""
        return self._call("POST", self._s("/execute/sync"),
                          {"script": "const e = document.querySelector(arguments[0]); "
                                     "return e ? e.textContent : null",
                           "args": [css]})

    def first_attribute(self, css, name):
        """The attribute of the first element matching `css`, or None (one step, as above)."""
        return self._call("POST", self._s("/execute/sync"),
                          {"script": "const e = document.querySelector(arguments[0]); "
                                     "return e ? e.getAttribute(arguments[1]) : null",
                           "args": [css, name]})

    def page_text(self):
        return self._call("POST", self._s("/execute/sync"),
                          {"script": "return document.body.innerText", "args": []})

    def end(self):
        if self.session:
            try:
                self._call("DELETE", self._s(""), timeout=15)
            except (OSError, WebDriverError):
                pass  # the browser may already be gone, which is the point of the test
            self.session = None


def tauri_driver_binary():
    found = shutil.which("tauri-driver")
    if found:
        return found
    cargo_bin = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "tauri-driver"
    assert cargo_bin.is_file(), "tauri-driver is missing: `make setup` installs it (cargo install tauri-driver)"
    return str(cargo_bin)
