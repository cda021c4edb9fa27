"""`pixy reset` through the real CLI and daemon, the real Secret Service and oidc-provider: it
asks on a terminal (No by default), refuses without one unless given --yes, and then revokes every
account at its provider and leaves nothing of Pixy's but providers.toml and the daemon's log.

The Secret Service is shared by the whole session, and a reset clears every entry under Pixy's
service, as it should: these tests run one at a time like the rest of the suite.
"""

import subprocess

import pytest

from conftest import KEYRING_SERVICE, keyring_items, oidc_link_args, on_terminal, write_providers

PROMPT = b"[y/N] "
PROVIDERS = '# my own providers\n[[provider]]\nid = "work"\nissuer = "https://id.example.com"\nclient_id = "x"\n'


def secret(username):
    proc = subprocess.run(["secret-tool", "lookup", "service", KEYRING_SERVICE, "username", username],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    return proc.stdout.strip() or None


@pytest.fixture
def world(pixy, oidc_factory):
    """An oidc-provider account and a demo account, a grant, an audit log, an orphaned keyring
    entry and the person's providers.toml."""
    server = oidc_factory()
    providers = write_providers(pixy, PROVIDERS)
    proc, events = pixy.run_json(*oidc_link_args(server.issuer), timeout=90)
    assert proc.returncode == 0 and events[-1]["event"] == "linked", proc.stderr
    oidc_account = events[-1]["account"]["id"]
    proc, events = pixy.run_json("link", "demo", timeout=90)
    assert proc.returncode == 0 and events[-1]["event"] == "linked", proc.stderr
    demo_account = events[-1]["account"]["id"]
    assert pixy.run("token", oidc_account).returncode == 0, "a handout, for the audit log and the grant"
    orphan = subprocess.run(["secret-tool", "store", "--label=orphan", "service", KEYRING_SERVICE, "username",
                             "orphan-0123abcd:access_token"], input="left over", text=True, capture_output=True)
    assert orphan.returncode == 0, orphan.stderr
    config, state = pixy.config_home / "pixy", pixy.state_home / "pixy"
    files = [config / "accounts.json", config / "grants.json", state / "audit.log"]
    for f in files:
        assert f.exists(), f"{f} is there to be reset"
    return {
        "server": server,
        "accounts": [oidc_account, demo_account],
        "refresh_token": secret(f"{oidc_account}:refresh_token"),
        "files": files,
        "providers": providers,
        "providers_bytes": providers.read_bytes(),
    }


def unchanged(pixy, world, why):
    ids = sorted(a["id"] for a in pixy.status_accounts())
    assert ids == sorted(world["accounts"]), f"{why}: the accounts are all there ({ids})"
    live = world["server"].introspect(world["refresh_token"]).get("active") is True
    assert live, f"{why}: nothing was revoked"
    assert world["server"].counters()["revocations"] == 0, why
    assert secret("orphan-0123abcd:access_token") == "left over", f"{why}: the keyring is as it was"
    for f in world["files"]:
        assert f.exists(), f"{why}: {f} is still there"


def reset_done(pixy, world, shown):
    for account in world["accounts"]:
        assert f"done  account {account}: revoked at its provider" in shown, \
            f"each account's revocation is said:\n{shown}"
    live = world["server"].introspect(world["refresh_token"]).get("active") is True
    assert not live, "the provider revoked the refresh token"
    assert world["server"].counters()["revocations"] >= 1
    left = keyring_items(service=KEYRING_SERVICE)
    assert left == [], f"no keyring item of Pixy's service is left: {[i.get('username') for i in left]}"
    for f in world["files"]:
        assert not f.exists(), f"{f} is deleted"
    assert pixy.status_accounts() == [], "no account is left"
    assert world["providers"].read_bytes() == world["providers_bytes"], "providers.toml is byte-identical"
    assert (pixy.state_home / "pixy" / "daemon.log").exists(), "the daemon's log is kept"
    assert "Kept " in shown and "providers.toml" in shown and "daemon.log" in shown, shown


def test_without_a_terminal_or_yes_reset_refuses_and_changes_nothing(pixy, world):
    proc = pixy.run("reset")
    assert proc.returncode == 2, proc.stderr
    assert "pass --yes" in proc.stderr and "Nothing was changed" in proc.stderr, proc.stderr
    unchanged(pixy, world, "a refused reset")


def test_on_a_terminal_reset_lists_what_goes_and_stays_and_no_changes_nothing(pixy, world):
    code, shown = on_terminal(pixy, [pixy.bin, "reset"], PROMPT, answer="")
    assert code == 1 and "Nothing was changed." in shown, shown
    for named in [*world["accounts"], "accounts.json", "grants.json", "audit.log", KEYRING_SERVICE,
                  str(world["providers"]), "daemon.log"]:
        assert named in shown, f"the question names {named}:\n{shown}"
    assert shown.index("and keeps:") < shown.index(str(world["providers"])), "providers.toml is among what stays"
    unchanged(pixy, world, "answering with Enter (No, the default)")

    code, shown = on_terminal(pixy, [pixy.bin, "reset"], PROMPT, answer="n")
    assert code == 1 and "Nothing was changed." in shown, shown
    unchanged(pixy, world, "answering no")


def test_on_a_terminal_answering_yes_resets(pixy, world):
    code, shown = on_terminal(pixy, [pixy.bin, "reset"], PROMPT, answer="y")
    assert code == 0, shown
    reset_done(pixy, world, shown)


def test_reset_yes_resets_without_asking(pixy, world):
    proc = pixy.run("reset", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[y/N]" not in proc.stdout + proc.stderr
    reset_done(pixy, world, proc.stdout)
    proc, events = pixy.run_json("reset", "--yes")
    assert proc.returncode == 0 and events[-1]["event"] == "reset", events
    assert [s["item"].split(",")[0] for s in events[-1]["steps"]] == \
        [f"the keyring (service {KEYRING_SERVICE})", "the account index", "the client registrations",
         "the program grants (0)", "the audit log"], "a second reset finds nothing to revoke"
