"""Consent for every token handout, with the real CLI and daemon and no display: the question goes
to the requesting program's terminal (a pseudo-terminal here, as a person's terminal would be),
or, with no terminal either, the request is refused at once. The program that asks is a script
run by python, as the kernel tells the daemon; different scripts are different programs."""

import json
import subprocess
import sys
import textwrap
import time

import pytest

from agents import an_account_needing_relink, recording_browser
from conftest import on_terminal

PROMPT = b"[d]eny? "
CONSENT_TIMEOUT = 4


@pytest.fixture
def account(pixy):
    """A linked demo account, with consent on and no display: the terminal is asked."""
    for display in ("DISPLAY", "WAYLAND_DISPLAY"):
        pixy.env.pop(display, None)
    pixy.env["PIXY_CONSENT_TIMEOUT"] = str(CONSENT_TIMEOUT)
    pixy.allow_any = False
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    [linked] = pixy.status_accounts()
    return linked["id"]


def agent(pixy, tmp_path, name):
    """A script that asks `pixy token ACCOUNT` COUNT times at once and writes what each got."""
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(f"""
        import json, subprocess, sys
        account, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
        asks = [subprocess.Popen([{pixy.bin!r}, "token", account], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(count)]
        got = [(a.wait(),) + a.communicate() for a in asks]
        json.dump([[code, o.strip(), e.strip()] for code, o, e in got], open(out, "w"))
    """))
    return script


def ask(pixy, tmp_path, script, account, answer=None, count=1):
    """The agent asks on a terminal; returns (exit code, terminal text, [(code, stdout, stderr)])."""
    out = tmp_path / f"{script.stem}-{time.monotonic_ns()}.json"
    code, shown = on_terminal(pixy, [sys.executable, str(script), account, str(out), str(count)], PROMPT, answer)
    assert code == 0, f"the agent script itself failed: {shown}"
    return shown, json.loads(out.read_text())


def audit(pixy):
    proc = pixy.run("audit", "--json")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_the_terminal_is_asked_and_allow_once_always_and_deny_each_do_what_they_say(pixy, account, tmp_path):
    first = agent(pixy, tmp_path, "first_agent")
    shown, [(code, token, _)] = ask(pixy, tmp_path, first, account, answer="o")
    assert shown.count(PROMPT.decode()) == 1 and code == 0 and len(token) > 10, shown
    assert str(first) in shown and "demo@pixy.invalid" in shown, f"the question names program and account: {shown}"

    shown, [(code, _, _)] = ask(pixy, tmp_path, first, account, answer="a")
    assert shown.count(PROMPT.decode()) == 1 and code == 0, f"Allow once is not kept: asked again\n{shown}"
    shown, [(code, again, _)] = ask(pixy, tmp_path, first, account)
    assert PROMPT.decode() not in shown and code == 0 and len(again) > 10, f"Always is kept: not asked\n{shown}"

    other = agent(pixy, tmp_path, "other_agent")
    shown, [(code, out, err)] = ask(pixy, tmp_path, other, account, answer="d")
    assert shown.count(PROMPT.decode()) == 1, f"a different program is asked again: {shown}"
    assert code == 1 and out == "" and "you denied" in err and "pixy grants allow" in err, err
    shown, [(code, _, err)] = ask(pixy, tmp_path, other, account)
    assert PROMPT.decode() not in shown and code == 1 and "not asked again" in err, \
        f"a denial is remembered for a while, without a new question: {shown} {err}"

    grants = pixy.run("grants", "--json")
    [listed] = json.loads(grants.stdout)["grants"]
    assert listed["account"] == account and listed["program"].endswith(f" {first}"), listed

    lines = audit(pixy)
    outcomes = [(line["outcome"], line["grant"], line["program"].split(" ")[-1]) for line in lines]
    assert outcomes == [("handed_out", "once", str(first)), ("handed_out", "program", str(first)),
                        ("handed_out", "program", str(first)), ("refused", "none", str(other)),
                        ("refused", "none", str(other))], outcomes
    assert all(line["account"] == account for line in lines), lines
    log = (pixy.state_home / "pixy" / "audit.log").read_text()
    assert token not in log and again not in log, "the audit log never holds a token"


def test_nobody_answering_is_a_denial_after_the_timeout_with_a_clear_message(pixy, account, tmp_path):
    silent = agent(pixy, tmp_path, "silent_agent")
    started = time.monotonic()
    shown, [(code, out, err)] = ask(pixy, tmp_path, silent, account)
    waited = time.monotonic() - started
    assert PROMPT.decode() in shown and code == 1 and out == "", shown
    assert f"nobody answered within {CONSENT_TIMEOUT} s" in err and "pixy grants allow" in err, err
    assert CONSENT_TIMEOUT - 0.5 <= waited < CONSENT_TIMEOUT + 20, f"refused after the timeout, took {waited:.1f}s"
    assert "no answer in time" in shown, "the terminal is told the question is no longer asked"


def test_fifty_concurrent_requests_from_a_new_program_raise_one_question_and_share_its_answer(
        pixy, account, tmp_path):
    busy = agent(pixy, tmp_path, "busy_agent")
    shown, results = ask(pixy, tmp_path, busy, account, answer="a", count=50)
    assert shown.count(PROMPT.decode()) == 1, f"one question for fifty requests:\n{shown}"
    assert [code for code, _, _ in results] == [0] * 50, [err for _, _, err in results if err]
    assert len({token for _, token, _ in results}) == 1, "all fifty got the same token"
    assert len([line for line in audit(pixy) if line["outcome"] == "handed_out"]) == 50, "one line per handout"


def test_with_no_display_and_no_terminal_nobody_can_be_asked_so_it_is_refused_at_once(pixy, account, tmp_path):
    script = tmp_path / "unattended.py"
    script.write_text(f"import subprocess\nsubprocess.run([{pixy.bin!r}, 'token', {account!r}])\n")
    started = time.monotonic()
    # A new session: no controlling terminal, as under cron or a service manager.
    proc = subprocess.run([sys.executable, str(script)], env=pixy.env, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    assert time.monotonic() - started < CONSENT_TIMEOUT, "no waiting for an answer nobody can give"
    assert proc.stdout == "" and "nobody can be asked" in proc.stderr, proc.stderr
    assert f"pixy grants allow --program '{script}' --account {account}" in proc.stderr, proc.stderr

    # Set ahead of time, as the message says: then it is handed out unattended, until revoked.
    assert pixy.run("grants", "allow", "--program", str(script), "--account", account).returncode == 0
    allowed = subprocess.run([sys.executable, str(script)], env=pixy.env, capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL, start_new_session=True)
    assert allowed.returncode == 0 and len(allowed.stdout.strip()) > 10, allowed.stderr
    assert pixy.run("grants", "revoke", "--program", str(script), "--account", account).returncode == 0
    revoked = subprocess.run([sys.executable, str(script)], env=pixy.env, capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL, start_new_session=True)
    assert "nobody can be asked" in revoked.stderr, "a revoked grant lets nothing out"
    assert pixy.run("grants", "revoke", "--program", str(script), "--account", account).returncode == 1, \
        "revoking a grant that is not there says so"


def test_a_command_run_by_exec_gets_tokens_inside_the_run_without_a_second_question(pixy, account, tmp_path):
    child = tmp_path / "inside_run.py"
    child.write_text(textwrap.dedent(f"""
        import os, subprocess, sys
        inside = subprocess.run([{pixy.bin!r}, "token", {account!r}], capture_output=True, text=True)
        print("ENV", len(os.environ["T"]), "INSIDE", inside.returncode, len(inside.stdout.strip()))
    """))
    runner = tmp_path / "runner.py"
    runner.write_text(textwrap.dedent(f"""
        import subprocess, sys
        subprocess.run([{pixy.bin!r}, "exec", "--env", "T={account}", "--", sys.executable, {str(child)!r}])
        # After the run, the same child script is a program like any other: asked again.
        after = subprocess.run([sys.executable, {str(child)!r}], capture_output=True, text=True,
                               env=dict(__import__("os").environ, T="-"))
        print("AFTER", after.returncode)
    """))
    code, shown = on_terminal(pixy, [sys.executable, str(runner)], PROMPT, answer="o")
    assert code == 0, shown
    # Asked once for the runner's `pixy exec`; the child inside the run is not asked.
    inside = [line for line in shown.splitlines() if line.startswith("ENV")]
    assert inside and inside[0].split()[3] == "0" and int(inside[0].split()[4]) > 10, shown
    assert shown.count(PROMPT.decode()) == 2, f"once for the run, once for the child after it:\n{shown}"
    grants = [(line["grant"], line["program"].split(" ")[-1]) for line in audit(pixy)]
    assert grants[:2] == [("once", str(runner)), ("run", str(child))], grants


def test_a_background_request_for_an_account_needing_relink_fails_at_once_and_opens_no_browser(pixy, tmp_path):
    launches = recording_browser(pixy, tmp_path)
    an_account_needing_relink(pixy, "bob@example.com")
    pixy.allow("demo-0badc0de")
    for _ in range(5):
        started = time.monotonic()
        proc = subprocess.run([pixy.bin, "token", "demo-0badc0de"], env=pixy.env, capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL, start_new_session=True)
        assert proc.returncode == 1 and "link it again" in proc.stderr, proc.stderr
        assert time.monotonic() - started < 5, "it fails at once"
    time.sleep(1)
    assert not launches.exists(), f"a token request never opens a browser: {launches.read_text()}"
    told = pixy.daemon_log().count("the person is told the account needs relinking")
    assert told == 1, f"one notice for five requests, not one each (told {told} times)"
