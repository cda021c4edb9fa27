"""Grantex end to end: the preset pointed at the embedded demo's Grantex contract, linked through
the real CLI and daemon with the developer API key on stdin, its secrets in the real keyring, then
a token handed out and the grant ended on unlink."""

import os
import pty
import select
import time

import pytest

from conftest import forget_kept_grantex_key, grantex_at_demo, pixy_keyring_items

SANDBOX_KEY = "demo-grantex-sandbox-key"
PRODUCTION_KEY = "demo-grantex-key"


@pytest.fixture(autouse=True)
def no_kept_key():
    """Each test starts, and leaves, with no Grantex key kept in the shared keyring."""
    forget_kept_grantex_key()
    yield
    forget_kept_grantex_key()


def test_a_sandbox_grant_links_with_the_key_on_stdin_and_unlinking_ends_it(pixy):
    grantex_at_demo(pixy)
    proc, events = pixy.run_json("providers")
    [listed] = [p for p in events[-1]["providers"] if p["id"] == "grantex"]
    assert listed["needs_api_key"] is True and listed["preset"] is True, listed

    proc = pixy.run("link", "grantex", "--api-key-stdin", "--json", input=SANDBOX_KEY + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SANDBOX_KEY not in proc.stdout + proc.stderr + pixy.daemon_log(), "the key is never printed or logged"
    account = [a for a in pixy.status_accounts() if a["provider"] == "grantex"][0]
    assert account["label"] == "alice for did:grantex:ag_demo_agent" and account["scopes"] == ["files:read"]
    assert set(pixy_keyring_items(account["id"])) >= {"access_token", "refresh_token"}
    assert pixy_keyring_items("provider:grantex")["api_key"]["secret"] == SANDBOX_KEY, "the key is in the keyring"
    proc, events = pixy.run_json("providers")
    assert "needs_api_key" not in [p for p in events[-1]["providers"] if p["id"] == "grantex"][0]

    token = pixy.run("token", "grantex")
    assert token.returncode == 0 and token.stdout.strip().count(".") == 2, "the grant token, a JWT"

    proc, events = pixy.run_json("unlink", "grantex")
    assert proc.returncode == 0 and events[-1]["revocation"] == "revoked", events
    assert not pixy_keyring_items(account["id"]), "the account's secrets are gone"
    assert "api_key" in pixy_keyring_items("provider:grantex"), "the provider's key stays for the next link"


def test_a_refused_loopback_redirect_says_to_paste_and_a_wrong_key_is_not_kept(pixy):
    grantex_at_demo(pixy)
    proc = pixy.run("link", "grantex", "--api-key-stdin", "--json", input=PRODUCTION_KEY + "\n")
    assert proc.returncode == 1
    assert "paste_redirect_uri" in proc.stdout, proc.stdout
    proc = pixy.run("link", "grantex", "--api-key-stdin", "--json", input="not-the-key\n")
    assert proc.returncode == 1 and "refused the developer API key" in proc.stdout, proc.stdout
    assert "not-the-key" not in proc.stdout + pixy.daemon_log()
    assert "api_key" not in pixy_keyring_items("provider:grantex"), "a key that did not work is not kept"
    assert pixy.status_accounts() == []


def test_on_a_terminal_the_key_is_asked_for_unseen(pixy):
    grantex_at_demo(pixy)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(pixy.bin, [pixy.bin, "link", "grantex", "--json"], pixy.env)
    seen = b""

    def read_until(marker, timeout=30):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        return marker in seen

    assert read_until(b"API key"), seen
    time.sleep(0.5)  # a person reads the prompt before typing; the terminal stops echoing meanwhile
    os.write(fd, SANDBOX_KEY.encode() + b"\n")
    assert read_until(b'"event":"linked"'), seen
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert SANDBOX_KEY.encode() not in seen, "the key typed is not echoed"
