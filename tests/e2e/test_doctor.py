"""`pixy doctor` against real parts: a D-Bus session with no Secret Service (and none at all), the
suite's unlocked gnome-keyring, a gnome-keyring of its own locked over D-Bus, a real
status-notifier-watcher, the embedded demo, the real OpenID Provider and one that does not answer.

Each report is read section by section from `--json`, the text is checked for the same, and both
are searched for every secret the keyring holds.
"""

import json
import socket
import subprocess
import time
import urllib.parse

import pytest

from conftest import KEYRING_SERVICE, demo_issuer, keyring_items, oidc_link_args, stop_child, write_providers
from desktop import wait_until
from test_lifecycle import PrivateSecretService

# A session bus that offers nothing: no service directories, so no Secret Service can be started.
BARE_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class BareBus:
    """A dbus-daemon of this test's own, with no services to activate."""

    def __init__(self, tmp_path, log_path):
        config = tmp_path / "bare-bus.conf"
        config.write_text(BARE_BUS_CONFIG)
        self._log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
                                     stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        assert self.address.startswith("unix:"), f"dbus-daemon gave no address; see {log_path}"

    def has_owner(self, name):
        out = subprocess.run(["dbus-send", f"--bus={self.address}", "--print-reply", "--dest=org.freedesktop.DBus",
                              "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
                             capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        return "boolean true" in out.stdout

    def close(self):
        stop_child(self.proc)
        self.proc.stdout.close()
        self._log.close()


def doctor(pixy, env=None):
    """`pixy doctor --json` and `pixy doctor`: (exit code, report, text). Both exit alike."""
    proc = pixy.run("doctor", "--json", env=env, timeout=60)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pixy doctor --json printed no JSON object:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    text = pixy.run("doctor", env=env, timeout=60)
    assert text.returncode == proc.returncode, "the text and the JSON report find the same problems"
    return proc.returncode, report, text.stdout


def provider(report, provider_id):
    found = [p for p in report["providers"] if p["id"] == provider_id]
    assert len(found) == 1, f"the report lists {provider_id} once: {report['providers']}"
    return found[0]


def problems(report):
    return [f for f in report["findings"] if f["severity"] == "problem"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_without_a_secret_service_says_so_and_sees_a_tray_watcher_once_one_runs(pixy, tmp_path):
    bus = BareBus(tmp_path, pixy.artifacts / "bare-bus.log")
    watcher = None
    try:
        env = dict(pixy.env, DBUS_SESSION_BUS_ADDRESS=bus.address)
        code, report, text = doctor(pixy, env)

        assert code == 1, f"no keyring is a problem: exit 1\n{text}"
        assert report["daemon"]["state"] == "running" and report["daemon"]["pid"] in pixy.daemon_pids()
        assert report["client_version"] == report["daemon"]["version"]
        keyring = report["keyring"]
        assert keyring["backend"] == "Secret Service over D-Bus"
        assert keyring["reachable"] is False and keyring["running"] is False, f"nothing owns the name: {keyring}"
        [keyring_problem] = [f for f in problems(report) if "keyring" in f["what"]]
        assert "gnome-keyring or KeePassXC" in keyring_problem["hint"], keyring_problem
        assert "  reachable  no\n" in text and "hint: start gnome-keyring or KeePassXC" in text, text

        demo = provider(report, "demo")
        assert demo["answered"] is True and demo["status"] == 200, f"the demo answers its metadata: {demo}"
        assert demo["target"] == demo_issuer(pixy).rstrip("/") + "/.well-known/openid-configuration"
        demo_port = int(demo_issuer(pixy).rsplit(":", 1)[1].strip("/"))
        assert {"port": demo_port, "kind": "demo"} in report["ports"], report["ports"]
        assert f"  {demo_port:<10} the demo provider\n" in text, text

        assert report["tray"] == {"watcher": False, "host_registered": None}, report["tray"]
        assert "note: no tray host on the session bus" in text, text

        watcher = subprocess.Popen(["status-notifier-watcher"], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: bus.has_owner("org.kde.StatusNotifierWatcher"), timeout=15), \
            "status-notifier-watcher did not take its name"
        _, report, text = doctor(pixy, env)
        assert report["tray"]["watcher"] is True, f"the watcher is seen: {report['tray']}"
        assert report["tray"]["host_registered"] is False, "a watcher alone registers no host"
        assert "  watcher    yes\n  host       none registered\n" in text, text
    finally:
        if watcher is not None:
            stop_child(watcher)
        bus.close()


def test_doctor_with_no_session_bus_at_all_says_the_keyring_cannot_be_reached(pixy):
    env = dict(pixy.env, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    code, report, text = doctor(pixy, env)
    assert code == 1, text
    assert report["keyring"]["reachable"] is False
    assert "session bus cannot be reached" in report["keyring"]["detail"], report["keyring"]
    assert report["tray"]["watcher"] is False


def test_doctor_with_the_keyring_reports_providers_accounts_and_ports_and_no_secret(pixy, oidc):
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    assert pixy.run(*oidc_link_args(oidc.issuer)).returncode == 0, pixy.last.stderr
    dead_port, fixed_port = free_port(), free_port()
    write_providers(pixy, f"""
[[provider]]
id = "test-oidc"
issuer = "{oidc.issuer}"
client_id = "pixy-test"
redirect_ports = [{fixed_port}]

[[provider]]
id = "gone"
issuer = "http://127.0.0.1:{dead_port}"
client_id = "pixy-test"

[[provider]]
id = "handset"
issuer = "http://127.0.0.1:{dead_port}"
client_id = "pixy-test"
authorization_endpoint = "http://127.0.0.1:{dead_port}/authorize"
token_endpoint = "http://127.0.0.1:{dead_port}/token"

[[provider]]
id = "broken"
issuer = "https://id.example.com"
client_id = "pixy-test"
colour = "blue"
""")
    # A link left waiting for the person: its loopback listener is one of the ports in use.
    waiting = subprocess.Popen([pixy.bin, "link", "demo", "--json", "--no-browser"], env=pixy.env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        authorize = json.loads(waiting.stdout.readline())
        assert authorize["event"] == "authorize", authorize
        redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize["url"]).query)["redirect_uri"][0]
        waiting_port = urllib.parse.urlsplit(redirect).port

        started = time.monotonic()
        code, report, text = doctor(pixy)
        took = time.monotonic() - started
    finally:
        stop_child(waiting)
        waiting.stdout.close()
        waiting.stderr.close()

    assert code == 1, f"a provider that does not answer and a broken one are problems:\n{text}"
    assert took < 20, f"every check has a short time limit (two reports took {took:.1f} s)"

    keyring = report["keyring"]
    assert keyring["reachable"] is True and keyring["running"] is True and keyring["unlocked"] is True, keyring
    assert "  reachable  yes (running)\n  unlocked   yes\n" in text, text

    demo = provider(report, "demo")
    assert demo["answered"] and demo["status"] == 200 and demo["accounts"] == 1, demo
    test_oidc = provider(report, "test-oidc")
    assert test_oidc["source"] == "file" and test_oidc["probe"] == "metadata"
    assert test_oidc["answered"] is True and test_oidc["status"] == 200, test_oidc
    assert test_oidc["target"] == f"{oidc.issuer.rstrip('/')}/.well-known/openid-configuration", test_oidc
    assert isinstance(test_oidc["millis"], int)
    gone = provider(report, "gone")
    assert gone["answered"] is False and "cannot connect" in gone["error"], gone
    handset = provider(report, "handset")
    assert handset["probe"] == "host" and handset["target"] == f"127.0.0.1:{dead_port}", handset
    assert handset["answered"] is False, handset
    broken = provider(report, "broken")
    assert broken["probe"] == "none" and "providers.toml" in broken["error"] and "colour" in broken["error"], broken
    for preset in ("claude", "chatgpt", "grantex"):
        assert provider(report, preset)["source"] == "preset"
    whats = [f["what"] for f in problems(report)]
    assert any(w.startswith("provider gone does not answer") for w in whats), whats
    assert any(w.startswith("provider handset does not answer") for w in whats), whats
    assert any(w.startswith("provider broken cannot be used") for w in whats), whats
    assert not any(w.startswith(("the keyring", "account ")) for w in whats), f"nothing else is wrong: {whats}"
    assert "provider gone does not answer" in text and "hint: check its issuer" in text, text

    assert len(report["accounts"]) == 2 and "demo" in [a["provider"] for a in report["accounts"]], \
        f"both accounts are listed: {report['accounts']}"
    now = report["generated_at"]
    for account in report["accounts"]:
        assert account["status"] == "connected", account
        assert account["expires_at"] > now, f"its access token is still valid: {account}"
        assert now - 300 < account["refreshed_at"] <= now, account
        assert f"  {account['id']}" in text and "Connected, token expires in" in text, text
    linked = {a["id"]: a for a in pixy.status_accounts()}
    assert set(linked) == {a["id"] for a in report["accounts"]}, "the accounts pixy status lists"

    ports = report["ports"]
    assert {"port": waiting_port, "kind": "waiting", "provider": "demo"} in ports, ports
    assert {"port": fixed_port, "kind": "fixed", "provider": "test-oidc", "free": True} in ports, ports
    assert "a link with demo waiting for the browser" in text, text

    secrets = [item["secret"] for item in keyring_items(service=KEYRING_SERVICE) if len(item["secret"]) >= 8]
    assert len(secrets) >= 4, "the access and refresh tokens of both accounts are in the keyring"
    output = json.dumps(report) + text
    leaked = [s[:6] + "…" for s in secrets if s in output]
    assert not leaked, f"the report holds {len(leaked)} secret(s) from the keyring"


def test_doctor_sees_a_collection_locked_over_d_bus(pixy):
    session = PrivateSecretService(pixy.artifacts / "private-session.log")
    try:
        env = dict(pixy.env, DBUS_SESSION_BUS_ADDRESS=session.address)
        code, report, text = doctor(pixy, env)
        assert report["keyring"]["unlocked"] is True, f"unlocked before the lock: {report['keyring']}\n{text}"
        assert code == 0, f"nothing is wrong with an unlocked keyring and the demo:\n{text}"
        assert "No problems found." in text, text

        collection = session.default_collection()
        session.lock(collection)
        code, report, text = doctor(pixy, env)
        assert code == 1, text
        assert report["keyring"]["reachable"] is True and report["keyring"]["unlocked"] is False, report["keyring"]
        assert "  unlocked   no (locked)\n" in text, text
        assert "problem: the keyring's default collection is locked" in text, text
        assert session.locked(collection), "doctor only reads: the collection stays locked"
    finally:
        session.close()


def test_doctor_over_an_index_of_a_newer_pixy_reports_the_refusal_and_checks_the_rest(pixy):
    index = pixy.config_home / "pixy" / "accounts.json"
    index.parent.mkdir(parents=True)
    index.write_text('{"version":99,"accounts":[]}')
    code, report, text = doctor(pixy)
    assert code == 1, text
    assert report["daemon"]["state"] == "running", "a daemon over a newer index runs, refusing, and answers doctor"
    [refusal] = [p for p in report["known_problems"] if p.startswith("every request is refused")]
    assert "has schema 99, newer than this Pixy" in refusal, refusal
    assert f"problem: {refusal}" in text, text
    assert report["keyring"]["reachable"] is True and report["providers"], "the other checks still run"
    assert index.read_text() == '{"version":99,"accounts":[]}', "the newer index is left alone"


def test_doctor_without_a_daemon_says_why_and_still_reports_what_it_can(pixy):
    env = dict(pixy.env, PIXY_BIN="/nonexistent/pixy")
    code, report, text = doctor(pixy, env=env)
    assert code == 1, text
    daemon = report["daemon"]
    assert daemon["state"] == "unreachable", daemon
    assert "cannot start the Pixy daemon" in daemon["reason"] and "/nonexistent/pixy" in daemon["reason"], daemon
    assert report["keyring"]["reachable"] is True, "the keyring is checked from the command itself"
    assert report["providers"] is None and report["accounts"] is None
    assert "\nAccounts\n  unknown without the daemon\n" in text, text
    assert report["paths"]["log"] == str(pixy.state_home / "pixy" / "daemon.log")
