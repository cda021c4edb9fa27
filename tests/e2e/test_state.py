"""The daemon's state kept whole: a bad entry in a person's providers.toml costs only itself, every
account keeps what it needs to refresh and revoke on its own, and secrets a crash left without an
account are revoked and deleted when the daemon starts."""

import time

from conftest import KEYRING_SERVICE, keyring_items, oidc_link_args, pixy_keyring_items

GOOD_AND_BAD = """# Written by hand
[[provider]]
id = "work"
label = "Work"
issuer = "{issuer}"
client_id = "pixy-test"
scopes = ["openid", "email", "offline_access"]
auth_params = {{ prompt = "consent" }}

[[provider]]
id = "typo"
issuer = "{issuer}"
clientid = "pixy-test"
"""


def write_providers(pixy, text):
    path = pixy.config_home / "pixy" / "providers.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def linked(pixy, *args):
    proc, events = pixy.run_json(*args, timeout=90)
    assert events and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    return events[-1]["account"]


def providers(pixy):
    proc, events = pixy.run_json("providers")
    assert proc.returncode == 0, proc.stderr
    return {p["id"]: p for p in events[-1]["providers"]}


def refreshes(server):
    return server.counters()["token_requests"].get("refresh_token", 0)


def restart(pixy):
    assert not pixy.stop(), "the daemon stops on SIGTERM"


def test_a_bad_entry_is_listed_as_broken_with_its_line_and_costs_only_itself(pixy, oidc):
    path = write_providers(pixy, GOOD_AND_BAD.format(issuer=oidc.issuer))
    listed = providers(pixy)
    assert listed["work"].get("problem") is None, f"the good entry is usable: {listed['work']}"
    problem = listed["typo"].get("problem") or ""
    assert f"{path} line 10" in problem and '"typo"' in problem and "clientid" in problem, \
        f"the bad entry names the file, its line, its id and the bad key: {problem!r}"
    human = pixy.run("providers").stdout
    assert "typo" in human and "broken:" in human, human
    account = linked(pixy, "link", "work")
    assert account["provider"] == "work"
    refused = pixy.run_json("link", "typo")[1][-1]
    assert refused.get("kind") == "provider_config" and "line 10" in refused.get("message", ""), refused


def test_accounts_refresh_and_revoke_on_their_own_when_providers_toml_breaks(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=4)
    write_providers(pixy, GOOD_AND_BAD.format(issuer=server.issuer))
    from_file = linked(pixy, "link", "work")
    by_issuer = linked(pixy, *oidc_link_args(server.issuer))

    # The file becomes something that is not TOML at all, and the daemon restarts.
    write_providers(pixy, "[[provider]\nid = \n")
    restart(pixy)
    listed = providers(pixy)
    assert "work" not in listed, listed
    assert any((p.get("problem") or "").startswith(str(pixy.config_home)) for p in listed.values()), \
        f"the file's problem is listed: {listed}"

    # Both access tokens expire; the daemon's schedule or `pixy token` refreshes them.
    before = refreshes(server)
    time.sleep(4.5)
    for account in (from_file, by_issuer):
        token = pixy.run("token", account["id"])
        assert token.returncode == 0, f"{account['id']} refreshes with its own endpoints: {token.stderr}"
    assert refreshes(server) >= before + 2, "both accounts were refreshed at the provider"
    statuses = {a["id"]: a["status"] for a in pixy.status_accounts()}
    assert statuses == {from_file["id"]: "connected", by_issuer["id"]: "connected"}, statuses

    for account in (from_file, by_issuer):
        proc, events = pixy.run_json("unlink", account["id"])
        assert events[-1].get("revocation") == "revoked", \
            f"{account['id']} is revoked at the provider, not just forgotten: {events[-1]}"


def test_secrets_that_no_account_names_are_revoked_and_deleted_when_the_daemon_starts(pixy, oidc):
    write_providers(pixy, GOOD_AND_BAD.format(issuer=oidc.issuer))
    account = linked(pixy, "link", "work")["id"]
    refresh = [i["secret"] for i in keyring_items(service=KEYRING_SERVICE)
               if i.get("username") == f"{account}:refresh_token"]
    assert refresh and oidc.introspect(refresh[0]).get("active") is True, "a live refresh token is stored"

    # A crash between the keyring write and the index write: the index never names the account.
    restart(pixy)
    index = pixy.config_home / "pixy" / "accounts.json"
    index.write_text('{"version": 1, "accounts": []}')
    stale = index.with_name("accounts.json.tmp-4242")
    stale.write_text("{ half written")

    assert pixy.run("status").returncode == 0, pixy.last.stderr
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and pixy_keyring_items(account):
        time.sleep(0.2)
    assert not pixy_keyring_items(account), "the orphaned secrets are deleted from the keyring"
    assert oidc.introspect(refresh[0]).get("active") is False, "and the refresh token is revoked at the provider"
    assert not stale.exists(), "an unfinished index write is swept"


def test_a_damaged_index_is_said_by_status_and_a_copy_is_kept(pixy):
    index = pixy.config_home / "pixy" / "accounts.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text('{"version": 1, "accounts": [{"id": "work-0123abcd", "status": "teleported"}]}')
    status = pixy.run("status")
    assert status.returncode == 0, status.stderr
    assert "could not be read (work-0123abcd)" in status.stderr and "warning:" in status.stderr, status.stderr
    copies = list(index.parent.glob("accounts.json.corrupt-*"))
    assert len(copies) == 1 and "teleported" in copies[0].read_text(), "the file as it was is kept"
    proc, events = pixy.run_json("status")
    assert "work-0123abcd" in events[-1].get("problem", ""), events[-1]
