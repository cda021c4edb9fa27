"""Tokens live in the OS keyring only: the real Secret Service (gnome-keyring) of the session that
tests/support/with-session.sh provides, checked from outside with D-Bus and secret-tool."""

import json
import subprocess
import time

from conftest import KEYRING_SERVICE, keyring_items, oidc_link_args, pixy_keyring_items


def link(pixy, oidc, env=None):
    return pixy.run_json(*oidc_link_args(oidc.issuer), timeout=90, env=env)


def linked_account(pixy, oidc):
    proc, events = link(pixy, oidc)
    assert proc.returncode == 0 and events and events[-1].get("event") == "linked", \
        f"link failed: exit {proc.returncode}, events {events}\nstderr:\n{proc.stderr}"
    return events[-1]["account"]


def files_containing(dirs, needles):
    """(path, needle index) of every file under `dirs` whose bytes contain one of `needles`."""
    hits = []
    for d in dirs:
        if not d.exists():
            continue
        for path in d.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for i, needle in enumerate(needles):
                if needle.encode() in data:
                    hits.append((str(path), i))
    return hits


def test_tokens_are_stored_in_the_secret_service_and_nowhere_on_disk(pixy, oidc):
    account = linked_account(pixy, oidc)
    items = pixy_keyring_items(account["id"])
    assert {"access_token", "refresh_token"} <= set(items), \
        f"the keyring must hold the access and refresh tokens as {account['id']}:FIELD under " \
        f"service={KEYRING_SERVICE}; found {sorted(items)} " \
        f"(all of service: {[i.get('username') for i in keyring_items(service=KEYRING_SERVICE)]})"
    access = items["access_token"]["secret"]
    refresh = items["refresh_token"]["secret"]
    assert access and refresh and access != refresh, "both secrets must be real, distinct values"

    printed = pixy.run("token", account["id"]).stdout.strip()
    assert printed == access, "pixy token must hand out the access token that the keyring holds"

    secrets = [access, refresh] + ([items["id_token"]["secret"]] if "id_token" in items else [])
    hits = files_containing(pixy.xdg_dirs, secrets)
    assert not hits, f"token values must not be written to files; found in {[h[0] for h in hits]}"


def test_unlink_removes_the_secrets_from_the_keyring(pixy, oidc):
    account = linked_account(pixy, oidc)
    assert pixy_keyring_items(account["id"]), "the link must have stored secrets"

    proc = pixy.run("unlink", account["id"])
    assert proc.returncode == 0, f"unlink must exit 0: {proc.stderr}"
    left = pixy_keyring_items(account["id"])
    assert not left, f"unlink must delete every secret of the account; left: {sorted(left)}"


def test_missing_secret_service_fails_before_the_browser_opens(pixy, oidc):
    env = dict(pixy.env, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    assert not pixy.daemon_pids(), "this test needs a fresh daemon that inherits the dead bus address"
    exchanges_before = oidc.counters()["token_requests"]

    proc, events = link(pixy, oidc, env=env)
    assert proc.returncode == 1, f"no keyring must fail the link with exit 1, got {proc.returncode}\n" \
                                 f"events: {events}\nstderr:\n{proc.stderr}"
    assert events and events[-1].get("event") == "error", f"an error event is expected: {events}"
    assert events[-1].get("kind") == "keyring_unavailable", f"kind must be keyring_unavailable: {events[-1]}"
    assert events[-1].get("message"), "the error must say what to do (e.g. start a Secret Service)"
    assert "authorize" not in [e.get("event") for e in events], \
        "the keyring must be checked before the authorization URL is made and the browser opened"

    time.sleep(1.0)  # a browser the daemon spawned would have touched the marker by now
    assert not pixy.approve_marker.exists(), "the browser must never be opened when tokens cannot be stored"
    assert oidc.counters()["token_requests"] == exchanges_before, "nothing may reach the token endpoint"


def test_links_started_at_once_never_report_a_missing_keyring(pixy):
    # Each link proves the keyring writable before its browser opens; twenty at once must not
    # collide on one probe entry. The links replace one another (one sign-in per provider at a
    # time) or time out; none may say the keyring is gone.
    assert pixy.run("status").returncode == 0, "the daemon is up before the links race"
    procs = [subprocess.Popen([pixy.bin, "link", "demo", "--no-browser", "--timeout", "3", "--json"], env=pixy.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    ends = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        ends.append(json.loads(out.splitlines()[-1]))
    kinds = [end.get("kind") for end in ends]
    assert not [k for k in kinds if k and k.startswith("keyring")], f"a link reported a keyring failure: {ends}"
    assert set(kinds) <= {"cancelled", "timeout"}, f"each link was replaced or timed out: {kinds}"
    leftovers = [i["username"] for i in keyring_items(service=KEYRING_SERVICE) if i.get("username", "").startswith("probe")]
    assert not leftovers, f"every probe entry is deleted again: {leftovers}"
