"""`pixy git-credential` with real git: clones and pushes over HTTP from git's own smart-HTTP
backend, which takes a Basic password only while oidc-provider's introspection says the token is
active. Tokens live four seconds, so the pushes go on across expiries and refreshes."""

import json
import subprocess
import time

import pytest

from conftest import oidc_link_args
from git_server import GitServer


@pytest.fixture
def linked_op(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=4)
    assert pixy.run(*oidc_link_args(server.issuer)).returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    # git's helper runs unattended here: every program of this user may have the account.
    pixy.allow(account["id"])
    return server, account["id"]


def git(pixy, home, *args, cwd=None):
    env = {**pixy.env, "GIT_CONFIG_GLOBAL": str(home / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@pixy.test",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@pixy.test"}
    return subprocess.run(["git", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_git_clones_and_pushes_with_fresh_tokens_across_their_expiry(pixy, linked_op, tmp_path):
    oidc, account = linked_op
    repos = tmp_path / "repos"
    assert subprocess.run(["git", "init", "-q", "--bare", str(repos / "project.git")]).returncode == 0
    subprocess.run(["git", "-C", str(repos / "project.git"), "config", "http.receivepack", "true"], check=True)
    server = GitServer(repos, lambda token: oidc.introspect(token).get("active") is True)
    try:
        # The one line of git configuration (here for this server only).
        (tmp_path / "gitconfig").write_text(
            f'[credential "{server.url}"]\n\thelper = "!{pixy.bin} git-credential --account {account}"\n')
        clone = git(pixy, tmp_path, "clone", f"{server.url}/project.git", str(tmp_path / "work"))
        assert clone.returncode == 0, clone.stderr
        for n in range(2):
            (tmp_path / "work" / f"file{n}").write_text(f"{n}\n")
            assert git(pixy, tmp_path, "add", ".", cwd=tmp_path / "work").returncode == 0
            assert git(pixy, tmp_path, "commit", "-qm", f"change {n}", cwd=tmp_path / "work").returncode == 0
            # Past the last token's four seconds: only a fresh one gets through.
            time.sleep(5)
            push = git(pixy, tmp_path, "push", "-q", "origin", "HEAD", cwd=tmp_path / "work")
            assert push.returncode == 0, push.stderr
        assert oidc.counters()["token_requests"].get("refresh_token", 0) >= 2, "each push came after a refresh"
        log = subprocess.run(["git", "-C", str(repos / "project.git"), "log", "--oneline"], capture_output=True,
                             text=True).stdout
        assert log.count("\n") == 2, log
        # git asks without credentials first in each command, then with the helper's token: each
        # refusal is followed at once by a success, so no token the helper gave was refused.
        refused = [i for i, status in enumerate(server.statuses) if status == 401]
        assert refused and all(server.statuses[i + 1] == 200 for i in refused), server.statuses
    finally:
        server.stop()


def test_the_helper_answers_https_and_this_machine_only_and_erase_refreshes(pixy, linked_op):
    oidc, account = linked_op
    ask = lambda op, request: subprocess.run([pixy.bin, "git-credential", "--account", account, op],
                                             input=request, env=pixy.env, capture_output=True, text=True, timeout=60)
    got = ask("get", "protocol=https\nhost=git.example.com\n\n")
    fields = dict(line.split("=", 1) for line in got.stdout.splitlines())
    assert fields["username"] == "x-access-token" and oidc.introspect(fields["password"])["active"] is True
    assert int(fields["password_expiry_utc"]) > time.time() - 5
    assert ask("get", "protocol=http\nhost=git.example.com\n\n").stdout == "", "no token over plain http elsewhere"
    assert ask("store", "protocol=https\nhost=git.example.com\npassword=x\n\n").returncode == 0
    before = oidc.counters()["token_requests"].get("refresh_token", 0)
    assert ask("erase", "protocol=https\nhost=git.example.com\n\n").returncode == 0
    assert oidc.counters()["token_requests"]["refresh_token"] == before + 1, "a refused password is refreshed"
    audit = [json.loads(line) for line in pixy.run("audit", "--json").stdout.splitlines()]
    assert any(a["program"] and "pixy" not in a["program"] for a in audit), audit
