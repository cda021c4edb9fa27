"""Programs that ask Pixy for tokens, as agents and scripts do: each is a script of its own, so
each is a program of its own to the daemon (python and the script, as the kernel tells it)."""

import subprocess
import sys
import textwrap


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
