"""Nothing secret leaves the daemon: not through its log, a client's output, a proxy, a terminal
escape a provider sends, or the environment and directory of the client that started it.

Each test drives the real daemon through the CLI, against the real OpenID Provider or the
embedded demo, inside the private Secret Service of `make test`.
"""

import json
import os
import socket
import stat
import subprocess
import threading
import urllib.parse
from pathlib import Path

from conftest import APPROVE, keyring_items, oidc_link_args

# What the platform opener may be on Linux (the `open` crate tries them in this order).
PLATFORM_LAUNCHERS = ("xdg-open", "gio", "gnome-open", "kde-open", "wslview")


def failing_launcher(path):
    """A launcher that fails the way xdg-open does without a desktop: it prints the URL it was
    given on stderr (and stdout) and exits 3."""
    path.write_text("#!/bin/sh\necho \"$0: no method available for opening '$*'\" >&2\n"
                    "echo \"opening $*\"\nexit 3\n")
    path.chmod(0o755)
    return path


def query(url, key):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)[key][0]


class Link:
    """`pixy link ... --json` running while the test plays the person who opens the link by hand."""

    def __init__(self, pixy, args, env):
        self.proc = subprocess.Popen([pixy.bin, *args, "--json"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline()
        event = json.loads(first)
        assert event["event"] == "authorize", f"the link starts with its URL, not {first!r}"
        self.url = event["url"]
        self.stdout = first

    def open_by_hand(self, env):
        approve = subprocess.run([str(APPROVE), self.url], env={**env, "PIXY_APPROVE_FOREGROUND": "1"},
                                 capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert approve.returncode == 0, f"the person could not finish in the browser:\n{approve.stderr}"

    def finish(self):
        out, err = self.proc.communicate(timeout=60)
        self.stdout += out
        events = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        assert events[-1]["event"] == "linked", f"the link failed: {events[-1]}\n{err}"
        return events[-1]["account"], self.stdout, err


def without(text, allowed):
    """`text` with each occurrence of the allowed strings (the sign-in link the person must see)
    removed, so what is left may hold no secret."""
    for item in allowed:
        text = text.replace(item, "[the sign-in link]")
    return text


def test_a_browser_that_fails_to_open_leaves_no_secret_in_the_log_or_any_output(pixy, oidc, tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in PLATFORM_LAUNCHERS:
        failing_launcher(stubs / name)
    no_browser_var = {k: v for k, v in pixy.env.items() if k != "BROWSER"}
    no_browser_var["PATH"] = f"{stubs}:{os.environ['PATH']}"

    secrets, links, outputs = [], [], []
    # First the platform opener (no $BROWSER, a failing xdg-open first on PATH), then a failing
    # $BROWSER: both print the URL, which holds the state and the PKCE challenge.
    for env in (no_browser_var, {**no_browser_var, "BROWSER": str(failing_launcher(tmp_path / "browser"))}):
        link = Link(pixy, oidc_link_args(oidc.issuer), env)
        link.open_by_hand(pixy.env)
        account, out, err = link.finish()
        exchange = oidc.last_code_exchange()
        secrets += [query(link.url, "state"), query(link.url, "code_challenge"),
                    exchange["code"], exchange["code_verifier"]]
        links.append(link.url)
        outputs += [out, err]
        stored = [item for item in keyring_items(service="dev.pixy.Pixy")
                  if item.get("username", "").startswith(f"{account['id']}:")]
        assert len(stored) == 3, f"access, refresh and ID token are stored: {[i['username'] for i in stored]}"
        secrets += [item["secret"] for item in stored]
        token = pixy.run("token", account["id"])
        assert token.returncode == 0, token.stderr
        assert token.stdout.strip() in secrets, "pixy token hands out the stored access token"
    outputs += [pixy.run("status").stdout, pixy.last.stderr]
    unlink = pixy.run("unlink", account["id"])
    outputs += [unlink.stdout, unlink.stderr]

    assert all(len(s) >= 16 for s in secrets), "every secret looked for is a real value"
    log = pixy.daemon_log()
    assert "xdg-open" in log and "$BROWSER" in log, f"the log names the launchers that failed:\n{log}"
    assert "no method available" not in log, "a launcher's own output must not reach the daemon's log"
    for where, text in [("daemon.log", log)] + [(f"client output {i}", o) for i, o in enumerate(outputs)]:
        text = without(text, links)
        leaked = [s[:6] + "…" for s in secrets if s in text]
        assert not leaked, f"{where} holds {len(leaked)} secret value(s) of this flow ({leaked})"


def test_the_daemon_log_is_private_even_when_an_older_one_was_not(pixy):
    log_dir = pixy.state_home / "pixy"
    log_dir.mkdir(parents=True)
    os.chmod(log_dir, 0o755)
    (log_dir / "daemon.log").write_text("an older daemon's log\n")
    os.chmod(log_dir / "daemon.log", 0o644)
    assert pixy.run("status").returncode == 0, pixy.last.stderr
    assert stat.S_IMODE(os.stat(log_dir).st_mode) == 0o700, "the log's directory is the user's alone"
    assert stat.S_IMODE(os.stat(log_dir / "daemon.log").st_mode) == 0o600, "the log is the user's alone"
    assert "pixy daemon ready" in pixy.daemon_log(), "the daemon still logs there"


def test_a_new_daemon_log_is_created_private(pixy):
    assert pixy.run("status").returncode == 0, pixy.last.stderr
    path = pixy.state_home / "pixy" / "daemon.log"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_the_daemon_keeps_neither_the_directory_nor_the_secrets_of_the_client_that_started_it(pixy, tmp_path):
    workdir = tmp_path / "a-project"
    workdir.mkdir()
    env = {**pixy.env, "GITHUB_TOKEN": "ghp_not-the-daemons-business", "PROJECT_SETTING": "1",
           "http_proxy": "http://proxy.invalid:3128"}
    started = subprocess.run([pixy.bin, "status"], env=env, cwd=workdir, capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
    assert started.returncode == 0, started.stderr
    [daemon] = pixy.daemon_pids()
    assert os.readlink(f"/proc/{daemon}/cwd") == "/", "the daemon runs in /, not in the client's directory"
    environ = dict(entry.split("=", 1) for entry in
                   Path(f"/proc/{daemon}/environ").read_bytes().decode().split("\0") if "=" in entry)
    assert "GITHUB_TOKEN" not in environ and "PROJECT_SETTING" not in environ, sorted(environ)
    for kept in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DBUS_SESSION_BUS_ADDRESS", "PATH", "HOME", "http_proxy"):
        assert environ.get(kept) == env[kept], f"the daemon needs {kept} as the client had it"


class RecordingProxy:
    """A stand-in HTTP proxy on loopback that records the request line of every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.seen = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.seen.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_loopback_providers_are_never_reached_through_a_proxy(pixy, oidc):
    proxy = RecordingProxy()
    try:
        for name in ("no_proxy", "NO_PROXY"):
            pixy.env.pop(name, None)
        pixy.env.update(http_proxy=proxy.url, HTTP_PROXY=proxy.url, https_proxy=proxy.url, all_proxy=proxy.url)
        demo = pixy.run_json("link", "demo")[1]
        assert demo[-1]["event"] == "linked", f"the demo links with a proxy set: {demo[-1]}"
        real = pixy.run_json(*oidc_link_args(oidc.issuer))[1]
        assert real[-1]["event"] == "linked", f"a loopback provider links with a proxy set: {real[-1]}"
        token = pixy.run("token", real[-1]["account"]["id"])
        assert token.returncode == 0, token.stderr
    finally:
        proxy.close()
    assert proxy.seen == [], f"the proxy saw Pixy's loopback traffic: {proxy.seen}"


HOSTILE_LOGIN = "\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1b[31meve"


def test_escape_sequences_in_a_providers_claims_never_reach_the_terminal(pixy, oidc):
    # The provider's subject is the login typed at its sign-in page: this one carries a screen
    # clear, a clipboard write (OSC 52) and a colour change, and names the account.
    pixy.env["PIXY_APPROVE_LOGIN"] = HOSTILE_LOGIN
    link = pixy.run(*oidc_link_args(oidc.issuer))
    assert link.returncode == 0, link.stderr
    status = pixy.run("status")
    accounts = pixy.status_accounts()
    for shown in (link.stdout, link.stderr, status.stdout, status.stderr, json.dumps(accounts)):
        assert "\x1b" not in shown and "\x07" not in shown and "\\u001b" not in shown, \
            f"a control character reached the person: {shown!r}"
    assert "[31meve (" in link.stdout, f"the readable part of the label stays: {link.stdout!r}"
    assert [a["label"] for a in accounts] == ["[2J]52;c;ZXZpbA==[31meve"], accounts


def test_a_link_refresh_and_handout_at_debug_level_leave_no_secret_in_any_log_file(pixy, oidc):
    env = {**pixy.env, "PIXY_LOG": "debug"}
    proc, events = pixy.run_json(*oidc_link_args(oidc.issuer), env=env)
    assert proc.returncode == 0 and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    account, url = events[-1]["account"], events[0]["url"]
    exchange = oidc.last_code_exchange()
    secrets = [query(url, "state"), exchange["code"], exchange["code_verifier"]]
    stored = [item["secret"] for item in keyring_items(service="dev.pixy.Pixy")
              if item.get("username", "").startswith(f"{account['id']}:")]
    assert len(stored) == 3, "access, refresh and ID token are stored"
    refresh = pixy.run("refresh", account["id"], env=env)
    assert refresh.returncode == 0, refresh.stderr
    renewed = [item["secret"] for item in keyring_items(service="dev.pixy.Pixy")
               if item.get("username", "").startswith(f"{account['id']}:")]
    assert set(renewed) != set(stored), "the refresh brought new tokens"
    token = pixy.run("token", account["id"], env=env)
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip() in renewed, "pixy token handed out the refreshed access token"
    secrets += stored + renewed

    files = pixy.daemon_log_files()
    assert files, "the daemon wrote its log"
    log = pixy.daemon_log()
    assert " DEBUG " in log, "PIXY_LOG=debug reaches the daemon: the test reads a debug log"
    targets = {line.split(" DEBUG ", 1)[1].split()[0] for line in log.splitlines() if " DEBUG " in line}
    foreign = sorted(t for t in targets if not t.startswith("pixy"))
    assert not foreign, f"a level alone applies to Pixy's own code; other crates stay at warn: {foreign}"
    assert all(len(s) >= 16 for s in secrets), "every secret looked for is a real value"
    for path in [*files, *(pixy.state_home / "pixy").glob("*.log*")]:
        # Not even the sign-in link: it holds the state.
        text = path.read_text(errors="replace")
        leaked = [s[:6] + "…" for s in secrets if s in text]
        assert not leaked, f"{path.name} holds {len(leaked)} secret value(s) of this flow ({leaked})"
