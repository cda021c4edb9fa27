"""Programs that ask Pixy for tokens, as agents and scripts do: each is a script of its own, so
each is a program of its own to the daemon (python and the script, as the kernel tells it)."""

import json
import subprocess
import sys
import textwrap
import time


def start_agent(pixy, tmp_path, name, account):
    """A script asking for the account's token in the background: no terminal. Returns its
    process; `finish` waits for it."""
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(f"""
        import subprocess, sys
        got = subprocess.run([{pixy.bin!r}, "token", {account!r}], capture_output=True, text=True)
        sys.stdout.write(got.stdout); sys.stderr.write(got.stderr); sys.exit(got.returncode)
    """))
    return subprocess.Popen([sys.executable, str(script)], env=pixy.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)


def finish(agent, timeout=60):
    """(exit code, the token it printed, what it said on stderr)."""
    out, err = agent.communicate(timeout=timeout)
    return agent.returncode, out.strip(), err


def an_account_needing_relink(pixy, label, account_id="demo-0badc0de"):
    """An account index, as the daemon would have written it, with one account whose refresh was
    refused (and no secrets): the daemon loads it when it starts. Returns the record."""
    now = int(time.time())
    record = {"id": account_id, "provider": "demo", "subject": "bob", "scopes": ["openid"], "label": label,
              "obtained_at": now - 60, "expires_at": now + 3600, "status": "needs_relink",
              "issuer": "http://127.0.0.1:9", "client_id": "pixy-demo", "has_refresh_token": True,
              "last_error": "needs_relink", "reason": "The provider refused the refresh token; link it again"}
    index = pixy.config_home / "pixy" / "accounts.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps({"version": 1, "accounts": [record]}))
    return record


def browser_script(tmp_path, name, body):
    """A $BROWSER: a shell script `name` running `body`, which gets the authorization URL as $1."""
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def recording_browser(pixy, tmp_path):
    """Makes $BROWSER a script that records every launch; returns the file it records them in."""
    launches = tmp_path / "browser-launches"
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "browser.sh", f"echo \"$@\" >> {launches}\n"))
    return launches
