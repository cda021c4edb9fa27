"""Fixtures of the end-to-end suite: an isolated `pixy` per test and a real OpenID Provider.

Binaries come from $PIXY_TARGET_DIR/debug (the Makefile passes its CARGO_TARGET_DIR). The suite
runs inside tests/support/with-session.sh, which provides a private D-Bus session with an unlocked
Secret Service; `make test` does that.

Every test gets its own XDG_RUNTIME_DIR, so its own daemon (the CLI starts one on demand). At
teardown the processes that carry that runtime dir in their environment are the ones this test
started (daemon, browser stand-in, window): they are stopped by PID, and nothing else is.
"""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import base64
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "tests" / "support"
APPROVE = SUPPORT / "approve.py"
ARTIFACTS = REPO / "artifacts"
OIDC_SERVER = REPO / "tests" / "oidc" / "server.mjs"

# The Secret Service attributes Pixy's keyring store writes: one item per secret.
KEYRING_SERVICE = "dev.pixy.Pixy"


def target_dir():
    configured = os.environ.get("PIXY_TARGET_DIR") or os.environ.get("CARGO_TARGET_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "pixy" / "target"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "package: builds, installs and removes the release .deb/.rpm; `make test` runs it last",
    )


def _slug(nodeid):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[-120:]


# ------------------------------------------------------------------------------------------------
# Processes


def pids_with_env(name, value):
    """PIDs of this user's live processes whose environment has name=value (never this process)."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            environ = (entry / "environ").read_bytes()
        except (OSError, PermissionError):
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    # A zombie is already gone: it cannot be stopped and holds nothing.
    return [pid for pid in found if _alive(pid)]


def process_cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def stop_pids(pids, grace=5.0):
    """SIGTERM these PIDs, then SIGKILL the ones still alive after `grace` seconds."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        if alive:
            time.sleep(0.05)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return alive


def stop_child(proc, grace=5.0):
    """Stops a child this test started (SIGTERM, then SIGKILL after `grace` s) and reaps it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# ------------------------------------------------------------------------------------------------
# pixy


class Pixy:
    """An isolated Pixy user: its own XDG dirs, so its own daemon, with approve.py as browser."""

    def __init__(self, root, runtime_dir, artifacts):
        self.root = root
        self.artifacts = artifacts
        self.bin = str(target_dir() / "debug" / "pixy")
        self.desktop_bin = str(target_dir() / "debug" / "pixy-desktop")
        self.runtime_dir = runtime_dir
        self.config_home = root / "config"
        self.state_home = root / "state"
        self.data_home = root / "data"
        self.approve_marker = root / "approve-ran"
        self.approve_log = artifacts / "approve.log"
        for d in (self.config_home, self.state_home, self.data_home):
            d.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        for leaked in ("PIXY_APPROVE_FOREGROUND", "PIXY_APPROVE_COOKIES"):
            env.pop(leaked, None)
        env.update(
            XDG_RUNTIME_DIR=str(runtime_dir),
            XDG_CONFIG_HOME=str(self.config_home),
            XDG_STATE_HOME=str(self.state_home),
            XDG_DATA_HOME=str(self.data_home),
            XDG_CACHE_HOME=str(root / "cache"),
            BROWSER=str(APPROVE),
            PIXY_APPROVE_MARKER=str(self.approve_marker),
            PIXY_APPROVE_LOG=str(self.approve_log),
        )
        self.env = env
        self.last = None
        self._calls = artifacts / "commands.log"
        # Tests that are not about consent hand tokens out as a CI set-up that chose it does:
        # every program may have the accounts they ask for (`pixy grants allow --program any`).
        # Consent tests turn this off.
        self.allow_any = True

    @property
    def xdg_dirs(self):
        return [self.runtime_dir, self.config_home, self.state_home, self.data_home, self.root / "cache"]

    def allow(self, account, program="any"):
        """`pixy grants allow`: lets `program` have `account`'s tokens without asking."""
        proc = self._run(["grants", "allow", "--program", program, "--account", account])
        assert proc.returncode == 0, f"pixy grants allow failed: {proc.stderr}"
        return proc

    def _accounts_asked(self, args):
        if args and args[0] == "token" and len(args) > 1:
            return [args[1]]
        if args and args[0] == "exec":
            return [a.split("=", 1)[1] for a in args if "=" in a and not a.startswith("-")]
        return []

    def run(self, *args, timeout=60, env=None, input=None):
        """Runs `pixy ARGS` in this user's environment; returns the CompletedProcess (text)."""
        if self.allow_any:
            for account in self._accounts_asked(args):
                # An account that does not exist stays so: the command itself says why.
                self._run(["grants", "allow", "--program", "any", "--account", account], env=env)
        return self._run(list(args), timeout=timeout, env=env, input=input)

    def _run(self, args, timeout=60, env=None, input=None):
        assert Path(self.bin).is_file(), f"{self.bin} is missing: build with `make build` first"
        started = time.monotonic()
        proc = subprocess.run(
            [self.bin, *args],
            env=env if env is not None else self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        self.last = proc
        secret_out = bool(args) and args[0] == "token"
        with open(self._calls, "a", encoding="utf-8") as log:
            log.write(f"$ pixy {' '.join(args)}  # exit {proc.returncode} in {time.monotonic() - started:.2f}s\n")
            log.write(f"[stdout: {len(proc.stdout)} chars, not logged]\n" if secret_out else proc.stdout)
            log.write(proc.stderr)
        return proc

    def run_json(self, *args, timeout=60, env=None):
        """Runs `pixy ARGS --json`; returns (CompletedProcess, events). Every line must be JSON."""
        if "--json" not in args:
            args = (*args, "--json")
        proc = self.run(*args, timeout=timeout, env=env)
        events = []
        for line in proc.stdout.splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"`pixy {' '.join(args)}` printed a line that is not JSON: {line!r}\n"
                            f"stderr:\n{proc.stderr}")
        return proc, events

    def json_events(self, *args, timeout=60, env=None):
        """The parsed JSON lines of `pixy ARGS --json` (the process is in `.last`)."""
        return self.run_json(*args, timeout=timeout, env=env)[1]

    def status_accounts(self):
        proc, events = self.run_json("status")
        assert proc.returncode == 0, f"pixy status failed: {proc.stderr}"
        assert events and events[-1].get("event") == "status", f"status answered {events}"
        return events[-1]["accounts"]

    def daemon_pids(self):
        """Processes running `pixy daemon` for this user's runtime dir."""
        return [pid for pid in pids_with_env("XDG_RUNTIME_DIR", str(self.runtime_dir))
                if " daemon" in f" {process_cmdline(pid)} "]

    def stop(self):
        pids = pids_with_env("XDG_RUNTIME_DIR", str(self.runtime_dir))
        if pids:
            with open(self._calls, "a", encoding="utf-8") as log:
                for pid in pids:
                    log.write(f"# teardown stops {pid}: {process_cmdline(pid)}\n")
        return stop_pids(pids)

    def daemon_log_files(self):
        """The daemon's log files, oldest first: daemon.log.N ... daemon.log.1, then daemon.log."""
        log_dir = self.state_home / "pixy"
        rotated = [p for p in log_dir.glob("daemon.log.*") if p.suffix[1:].isdigit()]
        rotated.sort(key=lambda p: -int(p.suffix[1:]))
        current = log_dir / "daemon.log"
        return rotated + ([current] if current.exists() else [])

    def daemon_log(self):
        """The daemon's log so far, every file of it ("" before the daemon first wrote it)."""
        return "".join(path.read_text(errors="replace") for path in self.daemon_log_files())

    def collect_logs(self):
        """Copies this user's logs to the artifacts; returns the lines around any panic in them."""
        panics = []
        for d in (self.state_home, self.data_home, self.runtime_dir):
            for path in [*d.rglob("*.log"), *d.rglob("*.log.[0-9]*")]:
                if not path.is_file():
                    continue
                copy = self.artifacts / f"{d.name}-{path.name}"
                shutil.copy(path, copy)
                lines = path.read_text(errors="replace").splitlines()
                for i, line in enumerate(lines):
                    if "panicked at" in line:
                        panics.append(f"{copy}:\n" + "\n".join(lines[i:i + 3]))
        return panics


@pytest.fixture
def pixy(request, tmp_path):
    artifacts = ARTIFACTS / _slug(request.node.nodeid)
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    # A short runtime dir: the daemon's socket path must fit in sun_path (108 bytes).
    runtime_dir = Path(tempfile.mkdtemp(prefix="pixy-rt-"))
    os.chmod(runtime_dir, 0o700)
    user = Pixy(tmp_path, runtime_dir, artifacts)
    try:
        yield user
    finally:
        user.stop()
        panics = user.collect_logs()
        shutil.rmtree(runtime_dir, ignore_errors=True)
    # A daemon that panics (even while stopping on SIGTERM) is a bug, whatever the test saw.
    assert not panics, "a pixy process panicked:\n" + "\n".join(panics)


def on_terminal(pixy, argv, prompt, answer=None, timeout=60):
    """Runs argv with a pseudo-terminal as its controlling terminal, answering each `prompt` it
    shows with `answer`; returns (exit code, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, pixy.env)
    shown, answered = b"", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the terminal closed: everything on it has ended
                    break
                if not data:
                    break
                shown += data
            if answer is not None and shown.count(prompt) > answered:
                os.write(fd, f"{answer}\n".encode())
                answered += 1
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"{argv} did not finish; the terminal showed:\n{shown.decode(errors='replace')}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    with open(pixy.artifacts / "terminal.log", "ab") as log:
        log.write(b"$ " + " ".join(map(str, argv)).encode() + b"\n" + shown + b"\n")
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def demo_issuer(pixy):
    """The issuer of the demo provider built into this user's daemon (which it starts)."""
    proc, events = pixy.run_json("providers")
    assert proc.returncode == 0, proc.stderr
    [demo] = [p for p in events[-1]["providers"] if p["id"] == "demo"]
    return demo["issuer"]


def write_providers(pixy, text):
    """Writes this user's providers.toml."""
    path = pixy.config_home / "pixy" / "providers.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def copied_address(pixy, url):
    """The address the browser ends on after approving at `url`, copied rather than visited, as
    from a browser on another machine."""
    env = {**pixy.env, "PIXY_APPROVE_FOREGROUND": "1", "PIXY_APPROVE_PRINT_CALLBACK": "1"}
    done = subprocess.run([str(APPROVE), url], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def code_on_page(address):
    """The `code#state` the demo's code page at `address` shows, as the person copies it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(address, timeout=10) as page:
        found = re.search(r'<code id="pasted-code">([^<]+)</code>', page.read().decode())
    assert found, f"{address} shows no code"
    return found.group(1).replace("&amp;", "&")


def grantex_at_demo(pixy):
    """The Grantex preset pointed at the demo's Grantex contract, for agent ag_demo_agent and alice."""
    issuer = demo_issuer(pixy)
    write_providers(pixy, f'[[provider]]\nid = "grantex"\nissuer = "{issuer}"\nbase_url = "{issuer}"\n'
                          f'agent_id = "ag_demo_agent"\nprincipal_id = "alice"\nscopes = ["files:read"]\n')


def forget_kept_grantex_key():
    """The session's keyring is shared by every test: the Grantex key one kept is removed."""
    subprocess.run(["secret-tool", "clear", "service", KEYRING_SERVICE, "username", "provider:grantex:api_key"],
                   capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


# ------------------------------------------------------------------------------------------------
# The OpenID Provider


class OidcServer:
    """`node tests/oidc/server.mjs` on a free loopback port."""

    def __init__(self, log_path, env=None, port=0):
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")
        node_env = dict(os.environ)
        node_env.update(env or {})
        # A node that does not listen within 30 s (a loaded machine has seen one hang silently
        # once in a while, before its listen callback ran) is stopped and started again, up to
        # three times; each attempt's end is in the log.
        for attempt in (1, 2, 3):
            self.proc = subprocess.Popen(
                ["node", str(OIDC_SERVER), str(port)],
                stdout=subprocess.PIPE,
                stderr=self._log,
                stdin=subprocess.DEVNULL,
                env=node_env,
                text=True,
                cwd=OIDC_SERVER.parent,
            )
            line = self._first_line(timeout=30)
            if line:
                break
            status = self.proc.poll()
            self._stop_process()
            self._log.write(f"[test] attempt {attempt}: no issuer in 30 s (exit status {status})\n")
            self._log.flush()
        if not line:
            self.stop()
            raise AssertionError(f"the OIDC server did not start in three tries; see {log_path}:\n"
                                 f"{Path(log_path).read_text()}")
        try:
            self.issuer = json.loads(line)["issuer"]
        except (json.JSONDecodeError, KeyError, TypeError):
            self.stop()
            raise AssertionError(f"the OIDC server did not announce its issuer: {line!r}; see {log_path}")
        assert self.issuer.startswith("http://127.0.0.1:"), f"issuer must be loopback: {self.issuer}"
        self.metadata = self._get_json("/.well-known/openid-configuration")

    def _first_line(self, timeout):
        """The server's first stdout line; empty when it exited or said nothing in `timeout` s."""
        box = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return box[0] if box else ""

    def _open(self, req):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            body = err.read()
            try:
                return err.code, json.loads(body)
            except json.JSONDecodeError:
                return err.code, body.decode(errors="replace")

    def _get_json(self, path):
        status, body = self._open(urllib.request.Request(self.issuer + path))
        assert status == 200, f"GET {path} answered {status}: {body}"
        return body

    def introspect(self, token):
        """The introspection response for `token`, asked as the confidential client `rs`."""
        basic = base64.b64encode(b"rs:rs-test-secret").decode()
        req = urllib.request.Request(
            self.metadata["introspection_endpoint"],
            data=urllib.parse.urlencode({"token": token}).encode(),
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        status, body = self._open(req)
        assert status == 200, f"introspection answered {status}: {body}"
        return body

    def userinfo(self, token):
        """(status, JSON body) of the userinfo endpoint called with `token` as Bearer."""
        req = urllib.request.Request(self.metadata["userinfo_endpoint"],
                                     headers={"Authorization": f"Bearer {token}"})
        return self._open(req)

    def last_code_exchange(self):
        """The code and code_verifier of the latest authorization_code request (test route)."""
        return self._get_json("/_test/last-code-exchange")

    def hold_tokens(self, hold=True):
        """Holds every token answer once made, until called with hold=False (test route)."""
        path = "/_test/hold-tokens" if hold else "/_test/release-tokens"
        status, body = self._open(urllib.request.Request(self.issuer + path, data=b"", method="POST"))
        assert status == 204, f"POST {path} answered {status}: {body}"

    def counters(self):
        """Token-endpoint requests per grant type, revocations, introspections (test route)."""
        return self._get_json("/_test/counters")

    def _stop_process(self):
        stop_child(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()

    def stop(self):
        self._stop_process()
        self._log.close()


@pytest.fixture(scope="session")
def oidc():
    """One OpenID Provider for the session (access tokens live an hour)."""
    ARTIFACTS.mkdir(exist_ok=True)
    server = OidcServer(ARTIFACTS / "oidc-server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oidc_factory(request):
    """Starts OpenID Providers with extra environment (e.g. OIDC_ACCESS_TTL) for one test."""
    servers = []
    artifacts = ARTIFACTS / _slug(request.node.nodeid)
    artifacts.mkdir(parents=True, exist_ok=True)

    def start(port=0, **env):
        server = OidcServer(artifacts / f"oidc-server-{len(servers)}.log", {k: str(v) for k, v in env.items()}, port)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def oidc_link_args(issuer):
    """The `pixy link` arguments for the test provider's native client."""
    return ["link", "--issuer", issuer, "--client-id", "pixy-test", "--scope", "openid", "--scope", "email",
            "--scope", "offline_access", "--auth-param", "prompt=consent"]


# ------------------------------------------------------------------------------------------------
# The Secret Service


def _gdbus(*args):
    proc = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.secrets", *args],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"gdbus call {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


_GVARIANT_PAIR = re.compile(r"'((?:[^'\\]|\\.)*)': '((?:[^'\\]|\\.)*)'")


def keyring_items(**attributes):
    """Items of the session's Secret Service matching `attributes`: a list of dicts holding the
    item's attributes, its object `path` and its `secret`.

    (`secret-tool search --all` prints attributes on stderr and the rest on stdout with nothing
    to pair them, so items are listed over D-Bus and each secret read with `secret-tool lookup`.)"""
    query = "{" + ", ".join(f"'{k}': '{v}'" for k, v in attributes.items()) + "}"
    found = _gdbus("--object-path", "/org/freedesktop/secrets",
                   "--method", "org.freedesktop.Secret.Service.SearchItems", query)
    items = []
    for path in re.findall(r"'(/org/freedesktop/secrets/[^']+)'", found):
        try:
            attrs_text = _gdbus("--object-path", path, "--method", "org.freedesktop.DBus.Properties.Get",
                                "org.freedesktop.Secret.Item", "Attributes")
        except AssertionError as gone:
            # Deleted between the search and this read (a daemon sweeping as the test looks): not there.
            if "Object does not exist" in str(gone):
                continue
            raise
        item = dict(_GVARIANT_PAIR.findall(attrs_text))
        lookup = ["secret-tool", "lookup"]
        for name, value in item.items():
            lookup += [name, value]
        secret = subprocess.run(lookup, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        item["path"] = path
        item["secret"] = secret.stdout
        items.append(item)
    return items


def pixy_keyring_items(account_id):
    """Pixy's keyring items of one account: {field: item}, field being what follows `ID:`."""
    out = {}
    for item in keyring_items(service=KEYRING_SERVICE):
        user = item.get("username", "")
        if user.startswith(f"{account_id}:"):
            out[user[len(account_id) + 1:]] = item
    return out
