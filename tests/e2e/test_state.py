"""The daemon's state kept whole when a person's providers.toml goes bad: a bad entry costs only
itself, and every account keeps what it needs to refresh and revoke on its own."""

import time

from conftest import oidc_link_args

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
