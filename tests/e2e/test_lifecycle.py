"""An account's whole life through the real `pixy` CLI and daemon: linked, refreshed ahead of
expiry with its refresh token rotated, raced for by clients that find no daemon, damaged behind
Pixy's back in the keyring, kept from a locked keyring, and unlinked.

The provider is oidc-provider (tests/oidc/server.mjs) with short access-token lifetimes; its
/_test/counters route says how many requests of each grant reached the token endpoint and how
many of them failed. Secrets are read from the Secret Service with secret-tool.

No secret may reach the test output: pytest prints the operands of a failing `assert`, so tokens
are compared into booleans first, and a token command's output is never an operand or a message.

Timing: the daemon refreshes an account when it is due, at half the lifetime for tokens shorter
than 4 minutes (`AccountRecord::refresh_due`), both on its own schedule and when `pixy token`
asks. Lifetimes below are chosen so that every check of a refresh count is made well before the
next refresh can be due.
"""

import json
import os
import select
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import (
    APPROVE,
    KEYRING_SERVICE,
    SUPPORT,
    keyring_items,
    oidc_link_args,
    pids_with_env,
    pixy_keyring_items,
    stop_pids,
)


# ------------------------------------------------------------------------------------------------
# Helpers


def link(pixy, server, env=None):
    """Links alice at `server` (offline_access, prompt=consent) and returns the account summary."""
    proc, events = pixy.run_json(*oidc_link_args(server.issuer), timeout=90, env=env)
    code = proc.returncode
    assert code == 0 and events and events[-1].get("event") == "linked", \
        f"the link must succeed: exit {code}, events {events}\nstderr:\n{proc.stderr}"
    account = events[-1]["account"]
    assert account.get("expires_at"), f"a linked account must know when its access token expires: {account}"
    return account


def token(pixy, account_id):
    """(exit code, the token event or error event, stderr) of `pixy token ID --json`."""
    proc = pixy.run("token", account_id, "--json")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"`pixy token --json` must print one JSON line, printed {len(lines)}"
    try:
        event = json.loads(lines[0])
    except json.JSONDecodeError:
        pytest.fail("`pixy token --json` printed a line that is not JSON (not shown: it may hold a token)")
    return proc.returncode, event, proc.stderr


def shown(event):
    """An event fit for an assertion message: a token event's token is left out."""
    return {k: ("[redacted]" if k == "access_token" else v) for k, v in event.items()}


def secret(account_id, field):
    """The secret Pixy keeps for ACCOUNT:field, read with secret-tool; None when there is none."""
    proc = subprocess.run(
        ["secret-tool", "lookup", "service", KEYRING_SERVICE, "username", f"{account_id}:{field}"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value else None


def clear_secret(account_id, field):
    """Deletes ACCOUNT:field from the Secret Service, as another program or the person might."""
    proc = subprocess.run(
        ["secret-tool", "clear", "service", KEYRING_SERVICE, "username", f"{account_id}:{field}"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"secret-tool clear failed: {proc.stderr}"
    gone = secret(account_id, field) is None
    assert gone, f"{field} must be gone from the keyring after secret-tool clear"


def replace_secret(account_id, field, value):
    """Overwrites ACCOUNT:field in place (same attributes, so the item is replaced, not doubled)."""
    user = f"{account_id}:{field}"
    [item] = [i for i in keyring_items(service=KEYRING_SERVICE) if i.get("username") == user]
    command = ["secret-tool", "store", f"--label={user}"]
    for name, attr in item.items():
        if name not in ("path", "secret"):
            command += [name, attr]
    proc = subprocess.run(command, input=value, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"secret-tool store failed: {proc.stderr}"
    copies = [i for i in keyring_items(service=KEYRING_SERVICE) if i.get("username") == user]
    assert len(copies) == 1, f"{user} must still be one keyring item, found {len(copies)}"
    written = secret(account_id, field) == value
    assert written, f"{user} must hold the value just stored"


def active(server, token_value):
    """Whether the provider's introspection says the token is active (a plain bool)."""
    return server.introspect(token_value).get("active") is True


def accepted_as_alice(server, token_value):
    """(accepted, what userinfo answered, without the token)."""
    status, info = server.userinfo(token_value)
    return status == 200 and isinstance(info, dict) and info.get("sub") == "alice", (status, info)


def refresh_requests(server):
    return server.counters()["token_requests"].get("refresh_token", 0)


def refresh_errors(server):
    return server.counters()["token_errors"].get("refresh_token", 0)


def server_log(server):
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        return f.read()


def refresh_due(account, lifetime):
    """When the daemon considers the account's token due (half its lifetime, for short tokens).

    The daemon counts whole seconds since the epoch and took `expires_at - lifetime` as the time
    it obtained the token."""
    return account["expires_at"] - lifetime + lifetime // 2


def sleep_until(epoch_seconds):
    delay = epoch_seconds - time.time()
    if delay > 0:
        time.sleep(delay)


def daemon_lock_pid(pixy):
    """The pid the running daemon wrote into its single-instance lock file."""
    text = (pixy.runtime_dir / "pixy" / "daemon.lock").read_text().strip()
    assert text.isdigit(), f"daemon.lock must hold the daemon's pid, got {text!r}"
    return int(text)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_daemon(pixy):
    """SIGTERMs the daemon named in daemon.lock and waits until it has exited on its own."""
    pid = daemon_lock_pid(pixy)
    assert pid in pixy.daemon_pids(), f"the daemon of daemon.lock (pid {pid}) must be running before it is stopped"
    killed = stop_pids([pid], grace=10)
    assert not killed, f"the daemon (pid {pid}) must exit within 10 s of SIGTERM; it had to be killed"
    assert not pixy.daemon_pids(), f"no daemon may be left for this user: {pixy.daemon_pids()}"


def refresh_elsewhere(server, refresh_token):
    """Spends a refresh token at the provider the way another Pixy sharing the keyring would;
    returns the token response."""
    body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token,
                                   "client_id": "pixy-test"}).encode()
    req = urllib.request.Request(server.metadata["token_endpoint"], data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            status, answer = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        status, answer = err.code, {}
    assert status == 200 and answer.get("refresh_token"), \
        f"the provider must refresh for the other Pixy: status {status}, fields {sorted(answer)}"
    return answer


# ------------------------------------------------------------------------------------------------
# 1. A whole lifecycle


def test_a_whole_lifecycle_refreshes_rotates_and_revokes(pixy, oidc_factory):
    lifetime = 12  # due after 6 s; the next refresh is due 6 s later, ample time for the checks
    server = oidc_factory(OIDC_ACCESS_TTL=lifetime)
    account = link(pixy, server)
    account_id = account["id"]
    linked_access = secret(account_id, "access_token")
    linked_refresh = secret(account_id, "refresh_token")
    assert linked_access and linked_refresh, \
        "the link must store an access and a refresh token (offline_access with prompt=consent)"
    assert refresh_requests(server) == 0, "a fresh provider has seen no refresh yet"

    # Past the due time, by enough that the daemon's own schedule has run too: whichever of
    # the two refreshes, `pixy token` must hand out the new token, and only one refresh happens.
    sleep_until(refresh_due(account, lifetime) + 2)
    code, event, stderr = token(pixy, account_id)
    assert code == 0 and event.get("event") == "token", \
        f"pixy token must succeed after the due time: exit {code}, {shown(event)} {stderr}"
    fresh = event.get("access_token") or ""
    replaced = bool(fresh) and fresh != linked_access
    assert replaced, "past its due time the access token must have been replaced by a refreshed one"
    assert refresh_requests(server) == 1, \
        f"exactly one refresh_token grant must reach the provider between the link and the due time, " \
        f"got {server.counters()['token_requests']}"
    assert refresh_errors(server) == 0, f"the refresh must succeed: {server.counters()['token_errors']}"
    accepted, answer = accepted_as_alice(server, fresh)
    assert accepted, f"the provider must accept the refreshed token at userinfo: {answer}"

    # Rotation: the provider issued a new refresh token and spent the old one.
    rotated = secret(account_id, "refresh_token")
    assert rotated, "the keyring must still hold a refresh token after the refresh"
    rotated_differs = rotated != linked_refresh
    assert rotated_differs, "the rotated refresh token must replace the one the link stored"
    stored_is_fresh = secret(account_id, "access_token") == fresh
    assert stored_is_fresh, "the keyring must hold the access token pixy token printed"
    old_refresh_live = active(server, linked_refresh)
    assert not old_refresh_live, "the provider rotates refresh tokens: the one the link stored must be spent"
    rotated_live, fresh_live = active(server, rotated), active(server, fresh)
    assert rotated_live and fresh_live, "the latest access and refresh tokens must be live before unlink"

    proc, events = pixy.run_json("unlink", account_id)
    code = proc.returncode
    assert code == 0 and events and events[-1].get("event") == "unlinked", \
        f"unlink must succeed: exit {code}, {events} {proc.stderr}"
    assert events[-1].get("revoked") is True, f"the provider must have confirmed the revocation: {events[-1]}"
    fresh_live, rotated_live = active(server, fresh), active(server, rotated)
    assert not fresh_live, "unlink must revoke the latest access token"
    assert not rotated_live, "unlink must revoke the latest refresh token"
    left = pixy_keyring_items(account_id)
    assert not left, f"unlink must delete every secret of the account; left: {sorted(left)}"
    assert account_id not in [a["id"] for a in pixy.status_accounts()], "status must no longer list the account"


# ------------------------------------------------------------------------------------------------
# 2. Clients racing with no daemon


def test_two_token_processes_race_on_an_expired_token_with_no_daemon(pixy, oidc_factory):
    lifetime = 8  # due 4 s after each refresh: the count below is read long before that
    server = oidc_factory(OIDC_ACCESS_TTL=lifetime)
    account = link(pixy, server)
    account_id = account["id"]
    linked_access = secret(account_id, "access_token")
    pixy.allow(account_id)
    stop_daemon(pixy)  # well before the token is due, so the stopped daemon refreshed nothing
    assert refresh_requests(server) == 0, f"nothing may have been refreshed yet: {server.counters()}"
    errors_at_link = refresh_errors(server)
    starts_before = pixy.daemon_log().count("pixy daemon ready")

    sleep_until(account["expires_at"] + 1)
    linked_live = active(server, linked_access)
    assert not linked_live, "the linked access token must have expired"

    racers = [
        subprocess.Popen([pixy.bin, "token", account_id], env=pixy.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        for _ in range(2)
    ]
    results = []
    for racer in racers:
        try:
            out, err = racer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for r in racers:
                r.kill()
                r.communicate()
            pytest.fail("a racing `pixy token` did not finish within 60 s")
        results.append((racer.returncode, out.strip(), err))

    for i, (code, out, err) in enumerate(results):
        printed = bool(out)
        assert code == 0 and printed, f"racer {i} must print a token and exit 0, got exit {code}: {err}"
    first, second = results[0][1], results[1][1]
    same = first == second
    assert same, "both racers must get the same token: one refresh, shared"
    stale = first == linked_access
    assert not stale, "the expired token must not be handed out"
    accepted, answer = accepted_as_alice(server, first)
    assert accepted, f"the provider must accept the token at userinfo: {answer}"

    refreshes = refresh_requests(server)
    assert refreshes == 1, \
        f"exactly one refresh_token request may reach the provider for two racing clients, got {refreshes}"
    assert refresh_errors(server) == errors_at_link, \
        f"no refresh may fail (a second use of a rotated refresh token is invalid_grant): " \
        f"{server.counters()['token_errors']}"
    assert "invalid_grant" not in server_log(server), "the provider logged an invalid_grant"

    daemons = pixy.daemon_pids()
    assert daemons == [daemon_lock_pid(pixy)], \
        f"exactly one daemon must run afterwards, the one in daemon.lock: {daemons}"
    log = pixy.daemon_log()
    assert log.count("pixy daemon ready") == starts_before + 1, \
        "the racing clients must start exactly one daemon between them"
    assert "another Pixy daemon is already running" not in log, \
        "clients take turns starting the daemon: none may start a second one that then exits"


# ------------------------------------------------------------------------------------------------
# 3. The keyring damaged behind Pixy's back
#
# Pixy cannot refresh without its refresh token: losing it (once the access token has expired),
# or losing both tokens, means the person must link again. A lost access token alone is
# recovered with the refresh token.


@pytest.mark.parametrize("lost", ["refresh_token", "both"])
def test_an_entry_deleted_behind_pixys_back_means_relink_not_a_crash(pixy, oidc_factory, lost):
    lifetime = 6  # due after 3 s: the entry is deleted long before the daemon's schedule looks
    server = oidc_factory(OIDC_ACCESS_TTL=lifetime)
    account = link(pixy, server)
    account_id = account["id"]
    daemon = daemon_lock_pid(pixy)
    linked_access = secret(account_id, "access_token")

    clear_secret(account_id, "refresh_token")
    if lost == "both":
        clear_secret(account_id, "access_token")
    else:
        # A lost refresh token matters once the access token has expired.
        sleep_until(account["expires_at"] + 1)
        linked_live = active(server, linked_access)
        assert not linked_live, "the access token must have expired"

    code, event, _ = token(pixy, account_id)
    assert code == 1, f"pixy token must fail (exit 1) when {lost} is lost, got exit {code}: {shown(event)}"
    assert event.get("event") == "error", f"an error event is expected: {shown(event)}"
    assert event.get("kind") == "needs_relink", f"a lost {lost} means linking again: {event}"
    assert event.get("message"), "the error must say what to do"

    listed = {a["id"]: a for a in pixy.status_accounts()}
    assert account_id in listed, f"the account stays listed, to be linked again: {listed}"
    assert listed[account_id]["status"] == "needs_relink", f"status must show needs_relink: {listed[account_id]}"
    assert listed[account_id].get("reason"), f"needs_relink must come with a reason: {listed[account_id]}"

    assert pixy.run("status").returncode == 0, "the daemon must still answer"
    same_daemon = alive(daemon) and daemon_lock_pid(pixy) == daemon and pixy.daemon_pids() == [daemon]
    assert same_daemon, \
        f"the daemon that was running (pid {daemon}) must still be the one answering, not a restarted one"
    assert "panicked" not in pixy.daemon_log(), "a missing keyring entry must not panic the daemon"
    assert refresh_requests(server) == 0, "no refresh may be attempted without a refresh token"


def test_an_access_token_deleted_behind_pixys_back_is_replaced_by_a_refresh(pixy, oidc):
    account = link(pixy, oidc)  # an hour-long token: not due, so only the loss makes Pixy refresh
    account_id = account["id"]
    linked_access = secret(account_id, "access_token")
    refreshes_before = refresh_requests(oidc)

    clear_secret(account_id, "access_token")
    code, event, stderr = token(pixy, account_id)
    assert code == 0 and event.get("event") == "token", \
        f"a lost access token is recovered with the refresh token: exit {code}, {shown(event)} {stderr}"
    fresh = event.get("access_token") or ""
    new = bool(fresh) and fresh != linked_access
    assert new, "the recovered access token must be a newly issued one"
    accepted, answer = accepted_as_alice(oidc, fresh)
    assert accepted, f"the provider must accept the recovered token at userinfo: {answer}"
    assert refresh_requests(oidc) == refreshes_before + 1, "exactly one refresh must recover the lost token"
    stored = secret(account_id, "access_token") == fresh
    assert stored, "the keyring must hold the recovered access token again"
    listed = {a["id"]: a for a in pixy.status_accounts()}
    assert listed[account_id]["status"] == "connected", f"a recovered account is connected: {listed[account_id]}"


def test_a_lost_access_token_after_a_refresh_elsewhere_is_recovered_not_handed_out_empty(pixy, oidc):
    """Another Pixy sharing the keyring has refreshed (so the refresh token Pixy finds is not the
    one it stored), and the access token entry is gone. The refresh token found is valid, so
    `pixy token` must recover as it does for a lost access token alone: a working token, never
    an empty one with exit 0."""
    account = link(pixy, oidc)
    account_id = account["id"]
    other = refresh_elsewhere(oidc, secret(account_id, "refresh_token"))
    replace_secret(account_id, "refresh_token", other["refresh_token"])
    clear_secret(account_id, "access_token")

    code, event, stderr = token(pixy, account_id)
    assert code == 0 and event.get("event") == "token", \
        f"a valid refresh token must recover the lost access token: exit {code}, {shown(event)} {stderr}"
    printed = event.get("access_token") or ""
    assert printed, f"`pixy token` exited 0 and handed out an empty access token: {shown(event)}"
    accepted, answer = accepted_as_alice(oidc, printed)
    assert accepted, f"the token handed out must work at userinfo: {answer}"


# ------------------------------------------------------------------------------------------------
# 4. Re-linking an account


def test_relinking_revokes_the_refresh_token_it_replaced(pixy, oidc_factory):
    server = oidc_factory()
    first = link(pixy, server)
    account_id = first["id"]
    replaced = secret(account_id, "refresh_token")
    assert replaced, "the first link must store a refresh token"

    # approve.py starts every run with no cookies: a new sign-in, so a new grant at the provider.
    second = link(pixy, server)
    assert second["id"] == account_id, "alice at the same provider is the same account"
    current_refresh, current_access = secret(account_id, "refresh_token"), secret(account_id, "access_token")
    replaced_kept = current_refresh == replaced
    assert current_refresh and current_access and not replaced_kept, "the re-link must store the new tokens"
    replaced_live = active(server, replaced)
    assert not replaced_live, "the refresh token the re-link replaced must be revoked"
    new_live = active(server, current_refresh) and active(server, current_access)
    assert new_live, "the new sign-in's tokens must live on"
    listed = [a for a in pixy.status_accounts() if a["id"] == account_id]
    assert len(pixy.status_accounts()) == 1 and listed[0]["status"] == "connected", \
        f"one account, connected: {pixy.status_accounts()}"


def test_a_relink_that_brings_no_refresh_token_keeps_none_of_the_old_sign_in(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=60)
    account_id = link(pixy, server)["id"]
    assert secret(account_id, "refresh_token"), "the first link (offline_access) stores a refresh token"

    # Without offline_access the provider issues no refresh token.
    proc, events = pixy.run_json("link", "--issuer", server.issuer, "--client-id", "pixy-test",
                                 "--scope", "openid", "--scope", "email", "--auth-param", "prompt=consent")
    assert events and events[-1]["event"] == "linked", f"the re-link succeeds: {events}\n{proc.stderr}"
    assert events[-1]["account"]["id"] == account_id
    assert secret(account_id, "refresh_token") is None, \
        "a token set is written whole: the replaced (and revoked) refresh token must not stay behind"
    code, answer, stderr = token(pixy, account_id)
    assert code == 0 and answer.get("event") == "token", f"the new access token is handed out: {shown(answer)} {stderr}"
    [listed] = [a for a in pixy.status_accounts() if a["id"] == account_id]
    assert listed["status"] == "connected", f"nothing refreshes with a dead token: {listed}"


def test_relinking_in_the_same_browser_session_reports_the_ended_sign_in_once(pixy, oidc_factory, tmp_path):
    """oidc-provider gives a sign-in in the same browser session the grant of the one before, and
    revoking a refresh token ends its whole grant: revoking the replaced token ends the new one.
    Pixy must find that out, say so, and not do it again for the account."""
    server = oidc_factory()
    signed_in_browser = {**pixy.env, "BROWSER": f"PIXY_APPROVE_COOKIES={tmp_path / 'cookies.txt'} {APPROVE}"}
    account_id = link(pixy, server, env=signed_in_browser)["id"]
    replaced = secret(account_id, "refresh_token")

    proc, events = pixy.run_json(*oidc_link_args(server.issuer), timeout=90, env=signed_in_browser)
    last = events[-1] if events else {}
    assert proc.returncode == 1 and last.get("event") == "error" and last.get("kind") == "needs_relink", \
        f"the ended sign-in must be reported: exit {proc.returncode}, {events}"
    assert "ended this sign-in" in last.get("message", ""), f"the message must say what happened: {last}"
    [listed] = [a for a in pixy.status_accounts() if a["id"] == account_id]
    assert listed["status"] == "needs_relink" and "link it again" in (listed.get("reason") or ""), \
        f"the account must say what to do: {listed}"
    replaced_live = active(server, replaced)
    assert not replaced_live, "the replaced refresh token was revoked"

    revocations = server.counters()["revocations"]
    third = link(pixy, server, env=signed_in_browser)
    assert third["id"] == account_id and third["status"] == "connected", f"linked again: {third}"
    assert server.counters()["revocations"] == revocations, "the next re-link must not revoke again"
    current_refresh, current_access = secret(account_id, "refresh_token"), secret(account_id, "access_token")
    new_live = active(server, current_refresh) and active(server, current_access)
    assert new_live, "the tokens of the last link must live on"
    code, event, stderr = token(pixy, account_id)
    assert code == 0 and event.get("event") == "token", f"pixy token must work: exit {code}, {shown(event)} {stderr}"


# ------------------------------------------------------------------------------------------------
# 5. A locked keyring
#
# The test locks the collection of a Secret Service of its own (tests/support/with-session.sh run
# once more, nested), so the session the rest of the suite shares is never locked and nothing has
# to unlock it again. Two ways a locked collection answers a write:
#   - no prompter can be shown (no display): gnome-keyring dismisses the unlock prompt at once;
#   - a prompt is shown and nobody answers it: the call blocks, and Pixy's keyring timeout (10 s)
#     ends it. The prompter is replaced by one that never answers, through a D-Bus service file
#     found first in the nested bus's XDG_DATA_HOME.
# Both must end `pixy link` with kind keyring_locked before any browser opens.

LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"

SILENT_PROMPTER = """#!/bin/sh
# Stands in for gcr-prompter and never answers: it holds the activation until the bus goes away.
exec gdbus monitor --address "$DBUS_STARTER_ADDRESS" --dest org.freedesktop.DBus >/dev/null 2>&1
"""


class PrivateSecretService:
    """A D-Bus session of its own with a gnome-keyring, made by with-session.sh."""

    def __init__(self, log_path, data_home=None):
        env = dict(os.environ)
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(name, None)
        if data_home is not None:
            env["XDG_DATA_HOME"] = str(data_home)
        self._log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [str(SUPPORT / "with-session.sh"), "sh", "-c", 'echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True,
        )
        self.address = ""
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        if ready:
            self.address = self.proc.stdout.readline().strip()
        if not self.address:
            self.close()
            raise AssertionError(f"the private Secret Service did not start; see {log_path}")

    def gdbus(self, path, method, *args):
        proc = subprocess.run(
            ["gdbus", "call", "--address", self.address, "--dest", "org.freedesktop.secrets",
             "--object-path", path, "--method", method, *args],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, f"gdbus {method} failed: {proc.stderr}"
        return proc.stdout.strip()

    def default_collection(self):
        out = self.gdbus("/org/freedesktop/secrets", "org.freedesktop.Secret.Service.ReadAlias", "default")
        assert LOGIN_COLLECTION in out, f"with-session.sh makes `login` the default collection: {out}"
        return LOGIN_COLLECTION

    def lock(self, collection):
        self.gdbus("/org/freedesktop/secrets", "org.freedesktop.Secret.Service.Lock", f"['{collection}']")
        assert self.locked(collection), f"{collection} must be locked"

    def locked(self, collection):
        out = self.gdbus(collection, "org.freedesktop.DBus.Properties.Get",
                         "org.freedesktop.Secret.Collection", "Locked")
        return "true" in out

    def close(self):
        """Ends the session (with-session.sh stops its keyring), then whatever its bus started."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=10)
        if self.address:
            stop_pids(pids_with_env("DBUS_STARTER_ADDRESS", self.address))
        self.proc.stdout.close()
        self._log.close()


@pytest.mark.parametrize("prompt", ["no_prompter", "prompt_nobody_answers"])
def test_a_locked_collection_is_a_clear_error_within_the_timeout(pixy, tmp_path, prompt):
    data_home = None
    if prompt == "prompt_nobody_answers":
        data_home = tmp_path / "bus-data"
        services = data_home / "dbus-1" / "services"
        services.mkdir(parents=True)
        prompter = tmp_path / "silent-prompter"
        prompter.write_text(SILENT_PROMPTER)
        prompter.chmod(0o755)
        (services / "org.gnome.keyring.SystemPrompter.service").write_text(
            f"[D-BUS Service]\nName=org.gnome.keyring.SystemPrompter\nExec={prompter}\n")
    session = PrivateSecretService(pixy.artifacts / "private-session.log", data_home)
    try:
        collection = session.default_collection()
        session.lock(collection)
        env = dict(pixy.env, DBUS_SESSION_BUS_ADDRESS=session.address)
        assert not pixy.daemon_pids(), "this test needs a fresh daemon that uses the private session"

        started = time.monotonic()
        proc, events = pixy.run_json("link", "demo", timeout=60, env=env)
        elapsed = time.monotonic() - started

        assert proc.returncode == 1, f"a locked keyring must fail the link with exit 1, got {proc.returncode}\n" \
                                     f"events: {events}\nstderr:\n{proc.stderr}"
        assert events and events[-1].get("event") == "error", f"the link must end with an error event: {events}"
        event = events[-1]
        # A locked collection is keyring_locked (the keyring is there but will not open), not
        # keyring_unavailable (no keyring at all), whether its prompt is refused or never answered.
        assert event.get("kind") == "keyring_locked", f"kind must be keyring_locked: {event}"
        assert "locked" in event.get("message", ""), f"the message must say the keyring is locked: {event}"
        assert elapsed < 30, f"a locked keyring must be reported within 30 s, took {elapsed:.1f}s"
        if prompt == "prompt_nobody_answers":
            assert elapsed >= 9, f"the unanswered prompt must have held the keyring call until Pixy's " \
                                 f"10 s timeout (else this case tested nothing new), took {elapsed:.1f}s"
        else:
            assert elapsed < 9, f"a prompt that cannot be shown is dismissed at once, took {elapsed:.1f}s"
        assert "authorize" not in [e.get("event") for e in events], \
            "the keyring must be found locked before the authorization URL is made"

        time.sleep(1.0)  # a browser the daemon spawned would have touched the marker by now
        assert not pixy.approve_marker.exists(), "the browser must never open when tokens cannot be stored"
        status = pixy.run("status", "--json", env=env)
        assert status.returncode == 0, f"the daemon must still answer after the keyring refused: {status.stderr}"
        assert json.loads(status.stdout.splitlines()[-1]).get("accounts") == [], "nothing may have been linked"
        assert session.locked(collection), "Pixy must leave the collection as it found it: locked"
    finally:
        session.close()
