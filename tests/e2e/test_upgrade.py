"""Upgrades: a running daemon replaced by the new version installed over its executable, and an
account index of the previous schema migrated, or of a newer one refused, through the real CLI,
daemon, keyring and oidc-provider.

The daemon runs from a copy of the debug `pixy` in a folder of the test's own (PIXY_BIN), which
the test replaces the way dpkg does: the new file is written under a temporary name in the same
folder, then renamed over the old one. The daemon polls its executable's (device, inode) every
2 s and acts once the new file has been the same for two polls and it is idle.

oidc-provider rotates refresh tokens for public clients and revokes the grant when a rotated one
is used again, so a refresh done twice, or a rotated refresh token lost, shows as a token error in
its /_test/counters. OIDC_TOKEN_DELAY_MS holds each token answer after it is made, so the binary
is replaced while a refresh is in flight at the provider.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from agents import browser_script
from conftest import oidc_link_args
from windows import desktop, flow_state, window  # noqa: F401 (fixtures)

POLL = 2  # the daemon's poll interval, in seconds


# ------------------------------------------------------------------------------------------------
# Helpers


def daemon_from_a_copy(pixy, tmp_path):
    """Makes this user's daemon run from a copy of `pixy` in a folder of its own; returns its path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    copy = bindir / "pixy"
    shutil.copy2(pixy.bin, copy)
    pixy.env["PIXY_BIN"] = str(copy)
    return copy


def install_over(path, source):
    """Installs `source` at `path` as dpkg does: a temporary name in the same folder, renamed over."""
    new = path.with_name(path.name + ".dpkg-new")
    shutil.copy2(source, new)
    os.rename(new, path)


def exe_of(pid):
    return os.readlink(f"/proc/{pid}/exe")


def the_daemon(pixy):
    pids = pixy.daemon_pids()
    assert len(pids) == 1, f"exactly one daemon must run: {pids}"
    return pids[0]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"waited {timeout} s for {what}")


def link_oidc(pixy, server):
    proc, events = pixy.run_json(*oidc_link_args(server.issuer), timeout=90)
    assert proc.returncode == 0 and events and events[-1].get("event") == "linked", \
        f"the link must succeed: exit {proc.returncode}, events {events}\nstderr:\n{proc.stderr}"
    return events[-1]["account"]["id"]


def token_works(pixy, account_id):
    proc = pixy.run("token", account_id)
    printed = len(proc.stdout.strip()) > 10
    assert proc.returncode == 0 and printed, f"`pixy token` must print a token: exit {proc.returncode}, {proc.stderr}"


def refresh_counts(server):
    counters = server.counters()
    return counters["token_requests"].get("refresh_token", 0), counters["token_errors"].get("refresh_token", 0)


def version_of(binary):
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


# ------------------------------------------------------------------------------------------------
# 1. The running daemon replaced in place


def test_an_upgrade_during_a_refresh_replaces_the_daemon_once_it_is_done_without_a_refresh_lost_or_repeated(
        pixy, oidc_factory, tmp_path):
    server = oidc_factory()
    installed = daemon_from_a_copy(pixy, tmp_path)
    account_id = link_oidc(pixy, server)
    pixy.allow(account_id)
    pid = the_daemon(pixy)
    assert exe_of(pid) == str(installed), "the daemon runs from the installed copy"
    assert refresh_counts(server) == (0, 0)

    # The refresh's answer (a rotated refresh token) is held at the provider until the new
    # version has been seen on disk.
    server.hold_tokens()
    refresh = subprocess.Popen([pixy.bin, "refresh", account_id], env=pixy.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        wait_for("the refresh to be in flight at the provider", lambda: server.counters()["token_in_flight"] == 1, 30)
        install_over(installed, pixy.bin)
        wait_for("the daemon to see the new version", lambda: "a new version is on disk" in pixy.daemon_log(),
                 3 * POLL + 5)
        assert the_daemon(pixy) == pid and exe_of(pid) != str(installed), "it waits while the refresh is in flight"
        server.hold_tokens(False)
        out, err = refresh.communicate(timeout=60)
    finally:
        if refresh.poll() is None:
            refresh.kill()
            refresh.communicate()
    assert refresh.returncode == 0 and "Refreshed" in out, f"the refresh in flight succeeds: {out}{err}"

    version = version_of(installed)
    replaced = f"replaced by a new version on disk from={version} to={version}"
    wait_for("the new daemon to say which version it replaced", lambda: replaced in pixy.daemon_log(), 6 * POLL + 10)
    assert exe_of(pid) == str(installed), "the daemon runs the new file, not a deleted one"
    assert the_daemon(pixy) == pid, "the same process, re-executed: the PID stays"
    log = pixy.daemon_log()
    assert log.index("a new version is on disk") < log.index("refreshed account="), \
        "the new version was noticed while the refresh was in flight"
    assert log.index("refreshed account=") < log.index("starting it in place"), "and replaced once it was done"
    # It logs that line as it starts, and binds its socket a moment later.
    wait_for("the new daemon to answer", lambda: pixy.run("daemon", "--ping").returncode == 0, 30)
    ping = pixy.run("daemon", "--ping")
    assert ping.returncode == 0 and f"pixy daemon {version} (pid {pid})" in ping.stdout, ping.stdout + ping.stderr

    token_works(pixy, account_id)
    assert refresh_counts(server) == (1, 0), \
        f"one refresh reached the provider and none failed (none repeated, none lost): {server.counters()}"
    again = pixy.run("refresh", account_id)
    assert again.returncode == 0, f"the refresh token kept is the current one: {again.stderr}"
    assert refresh_counts(server) == (2, 0), f"a second refresh, still no error: {server.counters()}"
    assert the_daemon(pixy) == pid


def test_a_link_waiting_for_the_person_delays_the_restart_until_it_ends(pixy, tmp_path):
    installed = daemon_from_a_copy(pixy, tmp_path)
    link = subprocess.Popen([pixy.bin, "link", "demo", "--no-browser", "--json"], env=pixy.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        first = json.loads(link.stdout.readline())
        assert first.get("event") == "authorize", f"the link waits for the person: {first}"
        pid = the_daemon(pixy)
        install_over(installed, pixy.bin)
        wait_for("the daemon to notice the new version", lambda: "a new version is on disk" in pixy.daemon_log(),
                 3 * POLL + 5)
        time.sleep(3 * POLL)
        assert exe_of(pid).endswith("(deleted)"), "while the link waits, the old version keeps running"
        assert "replaced by a new version on disk" not in pixy.daemon_log()
        assert link.poll() is None, "and the link is still waiting"
    finally:
        link.terminate()  # the person gives up: the client hangs up, which ends the link
        link.communicate(timeout=30)

    wait_for("the daemon to run the new file once the link ended", lambda: exe_of(pid) == str(installed),
             3 * POLL + 10)
    assert the_daemon(pixy) == pid
    status = pixy.run("status")
    assert status.returncode == 0, status.stderr


def test_a_new_version_that_cannot_start_leaves_no_half_stopped_daemon_and_the_next_client_starts_one(
        pixy, tmp_path):
    installed = daemon_from_a_copy(pixy, tmp_path)
    assert pixy.run("status").returncode == 0
    pid = the_daemon(pixy)
    # An install that went wrong: executable, but its interpreter is not there, so exec fails.
    broken = tmp_path / "broken"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    install_over(installed, broken)
    wait_for("the daemon to give up and exit", lambda: pid not in pixy.daemon_pids(), 3 * POLL + 10)
    assert "the new version could not be started; exiting" in pixy.daemon_log(), pixy.daemon_log()
    assert not (pixy.runtime_dir / "pixy" / "daemon.sock").exists(), "it stopped serving cleanly"

    install_over(installed, pixy.bin)
    status = pixy.run("status")
    assert status.returncode == 0, f"the next client starts a daemon: {status.stderr}"
    assert exe_of(the_daemon(pixy)) == str(installed)


@pytest.fixture
def installed(pixy, tmp_path):
    """The daemon runs from a copy of `pixy` of the test's own (set up before the window starts)."""
    return daemon_from_a_copy(pixy, tmp_path)


@pytest.fixture
def a_browser_that_will_not_open(pixy, tmp_path):
    """The window's link then waits until the person cancels it (set up before the window starts)."""
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "no-browser", "exit 3\n"))


def test_a_link_waiting_in_the_window_delays_the_restart_and_the_window_goes_on_with_the_new_daemon(
        pixy, installed, a_browser_that_will_not_open, window):
    driver, _, _ = window
    row = 'li.provider[data-provider-id="demo"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    pid = the_daemon(pixy)
    assert driver.click_first(f'{row} [data-action="connect"]')
    assert wait_for_value(lambda: flow_state(driver) == "waiting", 30), "the link waits in the window"

    install_over(installed, pixy.bin)
    wait_for("the daemon to notice the new version", lambda: "a new version is on disk" in pixy.daemon_log(),
             3 * POLL + 5)
    time.sleep(3 * POLL)
    assert exe_of(pid).endswith("(deleted)"), "while the window's link waits, the old version keeps running"
    assert flow_state(driver) == "waiting", "and the link is still waiting in the window"

    assert driver.click_first('[data-action="cancel"]')
    wait_for("the daemon to run the new file once the link ended", lambda: exe_of(pid) == str(installed),
             3 * POLL + 10)
    assert the_daemon(pixy) == pid
    assert driver.click_first(f'{row} [data-action="connect"]'), "the window asks the new daemon as before"
    assert wait_for_value(lambda: flow_state(driver) == "waiting", 30), "and a new link waits"
    assert driver.click_first('[data-action="cancel"]')


def wait_for_value(check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


# ------------------------------------------------------------------------------------------------
# 2. The account index: migrated from the previous schema, a newer one refused


def index_path(pixy):
    return pixy.config_home / "pixy" / "accounts.json"


def stop_the_daemon(pixy):
    assert pixy.run("daemon", "--stop").returncode == 0
    wait_for("the daemon to stop", lambda: not pixy.daemon_pids(), 15)


def test_a_version_1_index_is_migrated_and_its_account_still_hands_out_a_token(pixy, oidc):
    account_id = link_oidc(pixy, oidc)
    pixy.allow(account_id)
    stop_the_daemon(pixy)
    # The file as the previous release wrote it: the same accounts, schema 1, no writer.
    current = json.loads(index_path(pixy).read_text())
    assert current["version"] == 2 and current["written_by"], current
    previous = json.dumps({"version": 1, "accounts": current["accounts"]}, indent=2).encode()
    index_path(pixy).write_bytes(previous)

    token_works(pixy, account_id)
    migrated = json.loads(index_path(pixy).read_text())
    assert migrated["version"] == 2 and migrated["written_by"] == version_of(pixy.bin), migrated
    assert migrated["accounts"] == current["accounts"], "every account and field came through"
    backup = index_path(pixy).with_name("accounts.json.v1")
    assert backup.read_bytes() == previous, "the version 1 file is kept beside it, byte for byte"
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert "migrated to this Pixy's schema" in pixy.daemon_log()
    assert [a["id"] for a in pixy.status_accounts()] == [account_id]


NEWER = b'{"version": 99, "written_by": "9.9.9", "accounts": [{"id": "work-0123abcd", "future": 1}]}'


@pytest.fixture
def a_newer_index(pixy):
    index_path(pixy).parent.mkdir(parents=True, exist_ok=True)
    index_path(pixy).write_bytes(NEWER)
    return NEWER


def test_a_newer_index_is_refused_in_words_by_status_and_token_and_left_byte_identical(pixy, a_newer_index):
    newer = a_newer_index
    version = version_of(pixy.bin)
    expected = (f"{index_path(pixy)} was written by Pixy 9.9.9 (schema 99), newer than this Pixy {version} "
                f"(schema 2) understands; upgrade Pixy — the file is left as it is")

    started = time.monotonic()
    status = pixy.run("status")
    assert time.monotonic() - started < 10, "said at once, not after the client's start timeout"
    assert status.returncode == 1 and expected in status.stderr, status.stderr
    token = pixy.run("token", "work-0123abcd")
    assert token.returncode == 1 and expected in token.stderr and not token.stdout, token.stderr
    proc, events = pixy.run_json("status")
    assert events == [{"event": "error", "kind": "internal", "message": expected}], events
    ping = pixy.run("daemon", "--ping")
    assert ping.returncode == 0 and f"pixy daemon {version}" in ping.stdout, "the daemon runs, refusing"

    assert index_path(pixy).read_bytes() == newer, "the newer file is byte-identical"
    assert sorted(p.name for p in index_path(pixy).parent.iterdir()) == ["accounts.json"], \
        "and nothing was made of it"


def test_a_daemon_started_while_another_runs_leaves_quietly_and_clients_keep_the_first(pixy):
    assert pixy.run("status").returncode == 0
    pid = the_daemon(pixy)
    # What a client does when it finds no daemon in the moment one replaces itself.
    second = subprocess.run([pixy.bin, "daemon"], env=pixy.env, capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert second.returncode == 0, f"the loser exits quietly, not as a failure: {second.stderr}"
    assert f"another Pixy daemon is already running (pid {pid}); this one leaves it be" in pixy.daemon_log(), \
        "it says why in the log"
    assert " ERROR " not in second.stderr and " WARN " not in second.stderr, second.stderr
    assert pixy.daemon_pids() == [pid], "the first daemon runs on, alone"
    assert pixy.run("status").returncode == 0, "and clients reach it"


def test_the_window_says_why_a_newer_index_is_refused(pixy, a_newer_index, window):
    driver, _, _ = window
    said = "was written by Pixy 9.9.9 (schema 99), newer than this Pixy"
    assert wait_for_value(lambda: said in driver.page_text(), 60), f"the window says why: {driver.page_text()}"
    assert "upgrade Pixy" in driver.page_text()
    assert index_path(pixy).read_bytes() == a_newer_index, "the newer file is byte-identical"
