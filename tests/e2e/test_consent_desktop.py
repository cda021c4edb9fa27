"""Consent and relink notices on a desktop: Xvfb with dunst, a real freedesktop notification
server, in the session's D-Bus. The daemon puts each question in a notification with three
actions and opens its window on the consent view; a person's choice is made in dunst's own
context menu (its dmenu, here a script that picks the line the test wants), as a right-click on
the notification would."""

import json
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from agents import an_account_needing_relink, finish, recording_browser, start_agent
from conftest import KEYRING_SERVICE, oidc_link_args
from desktop import Started, indigo, start_xvfb, wait_painted, wait_until, windows_named

CONSENT_TIMEOUT = 8


@pytest.fixture
def dunst(pixy, tmp_path):
    """Xvfb and dunst; yields (display, choose) where choose(label) picks that action."""
    started = Started(pixy.artifacts)
    try:
        display = start_xvfb(started)
        want, menu_log = tmp_path / "dunst-want", tmp_path / "dunst-menu.log"
        picker = tmp_path / "dunst-pick.sh"
        picker.write_text(f"#!/bin/sh\ncat >> {menu_log}\ngrep -m1 -F \"$(cat {want})\" {menu_log} | tail -n1\n")
        picker.chmod(0o755)
        config = tmp_path / "dunstrc"
        config.write_text(f"[global]\n    dmenu = {picker}\n")
        env = dict(pixy.env, DISPLAY=display)
        started.start("dunst", ["dunst", "-config", str(config)], env=env)
        assert wait_until(lambda: dunstctl(env, "is-paused").returncode == 0, timeout=15), "dunst did not start"

        def choose(label):
            menu_log.write_text("")
            want.write_text(label)
            assert dunstctl(env, "context").returncode == 0

        pixy.env["DISPLAY"] = display
        pixy.env["PIXY_CONSENT_TIMEOUT"] = str(CONSENT_TIMEOUT)
        pixy.allow_any = False
        yield display, env, choose
    finally:
        started.stop_all()


def dunstctl(env, *args):
    return subprocess.run(["dunstctl", *args], env=env, capture_output=True, text=True, timeout=15)


def displayed(env):
    proc = dunstctl(env, "count", "displayed")
    return int(proc.stdout.strip() or 0)


def history(env):
    proc = dunstctl(env, "history")
    return [n["summary"]["data"] + " | " + n["body"]["data"] for n in json.loads(proc.stdout)["data"][0]]


def test_a_question_is_answered_in_a_notification_and_the_window_opens_on_it(pixy, dunst, tmp_path):
    display, env, choose = dunst
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    [account] = [a["id"] for a in pixy.status_accounts()]

    # Allow once: handed out, and the same program is asked again next time.
    agent = start_agent(pixy, tmp_path, "notified_agent", account)
    assert wait_until(lambda: displayed(env) == 1, timeout=30), "the question is shown as a notification"
    opened = wait_until(lambda: windows_named(display, "^Pixy$"), timeout=60)
    assert opened, "the window opens on the question"
    [window] = opened
    assert wait_painted(display, window, pixy.artifacts / "consent-window.png", indigo, timeout=60) is not None
    time.sleep(1.5)  # the first poll of the questions
    wait_painted(display, "root", pixy.artifacts / "consent-desktop.png", indigo)
    choose("Allow once")
    code, token, err = finish(agent)
    assert code == 0 and len(token) > 10, err
    assert wait_until(lambda: displayed(env) == 0, timeout=10), "an answered question leaves no notification"

    # Always: handed out, and not asked again.
    agent = start_agent(pixy, tmp_path, "notified_agent", account)
    assert wait_until(lambda: displayed(env) == 1, timeout=30), "Allow once is not kept: asked again"
    choose("Always allow this program")
    assert finish(agent)[0] == 0
    assert wait_until(lambda: displayed(env) == 0, timeout=10)
    notified = len(history(env))
    agent = start_agent(pixy, tmp_path, "notified_agent", account)
    code, _, err = finish(agent)
    assert code == 0 and displayed(env) == 0 and len(history(env)) == notified, \
        f"an allowed program is not asked again: {err}"

    # Deny: refused, with a clear message.
    agent = start_agent(pixy, tmp_path, "denied_agent", account)
    assert wait_until(lambda: displayed(env) == 1, timeout=30), "a different program is asked"
    choose("Deny")
    code, out, err = finish(agent)
    assert code == 1 and out == "" and "you denied" in err, err

    # Nobody answering: refused when the question times out, and its notification goes.
    agent = start_agent(pixy, tmp_path, "ignored_agent", account)
    assert wait_until(lambda: displayed(env) == 1, timeout=30)
    code, out, err = finish(agent)
    assert code == 1 and f"nobody answered within {CONSENT_TIMEOUT} s" in err, err
    assert wait_until(lambda: displayed(env) == 0, timeout=10), "an expired question leaves no notification"

    asked = [n for n in history(env) if "wants a token for your account" in n]
    assert len(asked) == 4, f"one notification per question (once, always, deny, unanswered): {asked}"
    assert all("_agent.py wants a token" in n and "Program: " in n for n in asked), \
        "each names the program that asked (its script) and its path"
    grants = [(line["grant"], line["outcome"]) for line in
              map(json.loads, pixy.run("audit", "--json").stdout.splitlines())]
    assert grants == [("once", "handed_out"), ("program", "handed_out"), ("program", "handed_out"),
                      ("none", "refused"), ("none", "refused")], grants


def test_an_account_needing_relink_is_one_notification_whose_action_opens_the_window_on_it(
        pixy, dunst, tmp_path):
    display, env, choose = dunst
    launches = recording_browser(pixy, tmp_path)
    an_account_needing_relink(pixy, "GitHub")
    pixy.allow("demo-0badc0de")
    agents = [start_agent(pixy, tmp_path, "background_job", "demo-0badc0de") for _ in range(5)]
    for agent in agents:
        code, _, err = finish(agent)
        assert code == 1 and "link it again" in err, err
    assert wait_until(lambda: displayed(env) == 1, timeout=30), "the person is told"
    time.sleep(1)
    assert displayed(env) == 1, "one notification for five requests"
    choose("Reconnect")
    relinks = lambda: [n for n in history(env) if "reconnect" in n]
    assert wait_until(relinks, timeout=10), "the chosen notification is closed"
    told = relinks()
    assert told == ["An account needs reconnecting | background_job.py wants your GitHub account: reconnect"], \
        f"the notification names the program and the account: {told}"
    assert wait_until(lambda: windows_named(display, "^Pixy$"), timeout=60), "its action opens the window"
    opened = subprocess.run(["pgrep", "-af", "pixy-desktop"], capture_output=True, text=True).stdout
    assert "--account demo-0badc0de" in opened, f"on that account: {opened}"
    [window] = windows_named(display, "^Pixy$")
    assert wait_painted(display, window, pixy.artifacts / "relink-window.png", indigo, timeout=60) is not None
    assert not launches.exists(), "no browser opened for a background request"


def test_an_account_the_refresh_schedule_finds_revoked_is_told_once(pixy, dunst, oidc_factory):
    """Nobody asks for a token: the daemon's own refresh finds the sign-in revoked at the provider,
    and the person hears it once, with a way to the window."""
    display, env, choose = dunst
    server = oidc_factory(OIDC_ACCESS_TTL=6)
    proc, events = pixy.run_json(*oidc_link_args(server.issuer), timeout=90)
    assert events and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    account = events[-1]["account"]["id"]
    refresh_token = subprocess.run(
        ["secret-tool", "lookup", "service", KEYRING_SERVICE, "username", f"{account}:refresh_token"],
        capture_output=True, text=True, timeout=30).stdout.strip()
    assert refresh_token, "the link kept a refresh token"
    body = urllib.parse.urlencode({"token": refresh_token, "client_id": "pixy-test"}).encode()
    revoke = urllib.request.Request(server.metadata["revocation_endpoint"], data=body, method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(revoke, timeout=10) as answer:
        assert answer.status == 200, "the provider revoked the sign-in"

    assert wait_until(lambda: displayed(env) == 1, timeout=60), "the schedule's refresh finds it and tells"
    [listed] = [a for a in pixy.status_accounts() if a["id"] == account]
    assert listed["status"] == "needs_relink", listed
    time.sleep(5)
    assert displayed(env) == 1, "told once, though the schedule tries again"
    choose("Reconnect")
    assert wait_until(lambda: [n for n in history(env) if "needs reconnecting" in n], timeout=10)
    [told] = [n for n in history(env) if "needs reconnecting" in n]
    assert told.startswith("An account needs reconnecting | Your ") and "account needs reconnecting" in told, told
    assert wait_until(lambda: windows_named(display, "^Pixy$"), timeout=60), "its action opens the window"
    opened = subprocess.run(["pgrep", "-af", "pixy-desktop"], capture_output=True, text=True).stdout
    assert f"--account {account}" in opened, f"on that account: {opened}"
