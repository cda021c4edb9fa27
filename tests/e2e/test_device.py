"""Linking with a device code (RFC 8628), for a machine without a browser: `pixy link --device`
prints a code, the person enters it on another device, and Pixy polls until they approve or refuse.
Real CLI, real daemon, oidc-provider with its device flow, the real keyring."""

import subprocess
import sys

from conftest import APPROVE, pixy_keyring_items


def device_link_args(issuer):
    return ["link", "--issuer", issuer, "--client-id", "pixy-test", "--scope", "openid", "--scope", "email",
            "--scope", "offline_access", "--device", "--json"]


def start_device_link(pixy, issuer):
    """Starts `pixy link --device --json`; returns the process and its first event."""
    import json
    link = subprocess.Popen([pixy.bin, *device_link_args(issuer)], env=pixy.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(link.stdout.readline())
    return link, first


def finish(link):
    import json
    out, err = link.communicate(timeout=90)
    return [json.loads(line) for line in out.splitlines() if line.strip()], err


def enter_code(pixy, device_event, decision):
    """The person, on another device, enters the code and approves or refuses."""
    done = subprocess.run([sys.executable, str(APPROVE), "device", decision, device_event["verification_uri"],
                           device_event["user_code"]], env=pixy.env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr


def test_a_device_code_links_the_account_without_a_browser_here(pixy, oidc):
    link, device = start_device_link(pixy, oidc.issuer)
    assert device["event"] == "device", device
    assert set(device) >= {"user_code", "verification_uri", "verification_uri_complete", "expires_in"}, device
    assert device["verification_uri"].startswith(oidc.issuer)
    assert device["user_code"] in device["verification_uri_complete"]
    assert 0 < device["expires_in"] <= 600
    assert not pixy.approve_marker.exists(), "no browser is opened for a device link"
    enter_code(pixy, device, "approve")
    events, err = finish(link)
    assert events[-1]["event"] == "linked", f"{events}\n{err}"
    assert link.returncode == 0
    account = events[-1]["account"]
    assert account["label"] == "pixy-user@example.test" or account["label"], account
    [stored] = pixy.status_accounts()
    assert stored["id"] == account["id"] and stored["status"] == "connected"
    token = pixy.run("token", account["id"])
    assert token.returncode == 0 and oidc.introspect(token.stdout.strip())["active"] is True
    assert set(pixy_keyring_items(account["id"])) >= {"access_token", "refresh_token"}, "the tokens are in the keyring"
    assert "device_code" not in pixy.daemon_log(), "the device code stays out of the log"


def test_a_refused_device_code_ends_in_words_and_stores_nothing(pixy, oidc):
    link, device = start_device_link(pixy, oidc.issuer)
    enter_code(pixy, device, "deny")
    events, err = finish(link)
    assert events[-1]["event"] == "error", events
    assert events[-1]["kind"] == "access_denied"
    assert "declined" in events[-1]["message"]
    assert link.returncode == 1
    assert pixy.status_accounts() == []


def test_a_device_code_nobody_enters_expires_with_a_clear_message(pixy, oidc_factory):
    server = oidc_factory(OIDC_DEVICE_TTL=3)
    link, device = start_device_link(pixy, server.issuer)
    assert device["expires_in"] == 3
    events, err = finish(link)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "timeout", events
    assert "expired" in events[-1]["message"] and "again" in events[-1]["message"]
    assert pixy.status_accounts() == []


def test_a_provider_without_a_device_endpoint_says_so_before_anything_else(pixy):
    proc, events = pixy.run_json("link", "demo", "--device")
    assert proc.returncode == 1
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "provider_config", events
    assert "device" in events[-1]["message"] and "--paste" in events[-1]["message"]


def test_the_person_reads_where_to_go_and_the_code_on_a_terminal(pixy, oidc):
    link = subprocess.Popen([pixy.bin, *device_link_args(oidc.issuer)[:-1]], env=pixy.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while not any("-" in line and line.strip().isupper() for line in lines[-1:]):
        line = link.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    user_code = lines[-1].strip()
    text = "".join(lines)
    assert "/device" in text and "enter the code" in text, text
    enter_code(pixy, {"verification_uri": oidc.issuer + "/device", "user_code": user_code}, "approve")
    out, err = link.communicate(timeout=90)
    assert link.returncode == 0, err
    assert "Linked" in err or "Linked" in out, out + err
