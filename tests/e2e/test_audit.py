"""The record of every handout: each `pixy token` answer, given or refused, is a line in the
audit log with the program that asked as the kernel tells it (a script run by its interpreter,
through a shell), and never a token. `pixy audit` reads it back, filtered."""

import json
import subprocess
import sys
import textwrap


def test_each_handout_and_refusal_is_recorded_with_the_program_that_asked_and_no_token(pixy, tmp_path):
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(f"""
        import subprocess, sys
        # Through a shell, as agents run their commands: the shell is not the program.
        for name in ("{account['id']}", "nobody"):
            done = subprocess.run(["sh", "-c", '"$0" token "$1"', "{pixy.bin}", name], capture_output=True, text=True)
            print(done.stdout.strip() or "-")
    """))
    # The person allowed this script ahead of time; the account "nobody" does not exist.
    pixy.allow(account["id"], str(script))
    ran = subprocess.run([sys.executable, str(script)], env=pixy.env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    token = ran.stdout.splitlines()[0]
    assert len(token) > 10, ran.stdout

    proc = pixy.run("audit", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    handed, refused = lines
    assert handed["outcome"] == "handed_out" and handed["account"] == account["id"]
    assert handed["program"].endswith(f" {script}") and "python" in handed["program"], handed
    assert handed["grant"] == "program" and handed["pid"] > 1
    assert refused["outcome"] == "refused" and refused["account"] == "nobody"
    assert refused["reason"] == "invalid_request" and refused["program"] == handed["program"]
    assert refused["grant"] == "none"

    log = (pixy.root / "state" / "pixy" / "audit.log")
    assert log.stat().st_mode & 0o777 == 0o600
    assert token not in log.read_text(), "the log never holds a token"

    mine = pixy.run("audit", "--account", account["id"], "--since", "1h")
    assert mine.stdout.count("\n") == 1 and "handed out" in mine.stdout and str(script) in mine.stdout, mine.stdout
    assert pixy.run("audit", "--since", "soon").returncode == 2, "a duration it cannot read is a usage error"
