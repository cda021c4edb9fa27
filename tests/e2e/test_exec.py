"""`pixy exec`: a command run with fresh access tokens in the variables it names, whose exit status
is pixy exec's; one that outlives its token gets a fresh one from `pixy token` inside the run.
Real CLI, real daemon, real keyring, oidc-provider for a short-lived token."""

import json
import sys
import time

from conftest import oidc_link_args


def test_the_command_gets_the_token_in_its_variable_and_its_exit_status_is_kept(pixy, tmp_path):
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    token = pixy.run("token", "demo").stdout.strip()
    shown = pixy.run("exec", "--env", "DEMO_TOKEN=demo", "--", "sh", "-c", 'printf %s "$DEMO_TOKEN"; exit 7')
    assert shown.returncode == 7, "the command's exit status is pixy exec's"
    assert shown.stdout == token


def test_an_account_that_cannot_give_a_token_runs_nothing(pixy, tmp_path):
    marker = tmp_path / "ran"
    proc = pixy.run("exec", "--env", "T=nobody", "--", "touch", str(marker))
    assert proc.returncode == 1 and "T:" in proc.stderr and "not run" in proc.stderr, proc.stderr
    assert not marker.exists(), "the command never started"
    assert pixy.run("exec", "--env", "1BAD=demo", "--", "true").returncode == 2, "a variable name is checked"


def test_a_run_that_outlives_its_token_gets_a_fresh_one_from_inside(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=4)
    assert pixy.run(*oidc_link_args(server.issuer)).returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    child = (f"import os, subprocess, sys, time, json\n"
             f"first = os.environ['OP_TOKEN']\n"
             f"time.sleep(5)\n"
             f"second = subprocess.run([{pixy.bin!r}, 'token', {account['id']!r}], capture_output=True, text=True).stdout.strip()\n"
             f"print(json.dumps([first, second]))\n")
    started = time.monotonic()
    proc = pixy.run("exec", "--env", f"OP_TOKEN={account['id']}", "--", sys.executable, "-c", child, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started >= 5
    first, second = json.loads(proc.stdout)
    assert second and second != first
    assert server.introspect(first)["active"] is False, "the first token expired during the run"
    assert server.introspect(second)["active"] is True, "the one it got from inside is valid"
