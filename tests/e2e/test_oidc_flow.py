"""Whole link flows through the real `pixy` CLI and daemon against real authorization servers:
oidc-provider (an OpenID-certified provider from npm) and the embedded demo provider.

approve.py stands in for the person at the browser ($BROWSER)."""

import time
import urllib.parse

from conftest import APPROVE, oidc_link_args, pixy_keyring_items


def link_oidc(pixy, oidc, *extra, timeout=90):
    proc, events = pixy.run_json(*oidc_link_args(oidc.issuer), *extra, timeout=timeout)
    return proc, events


def assert_linked(proc, events):
    assert proc.returncode == 0, f"link must exit 0 when linked; exit {proc.returncode}\n" \
                                 f"events: {events}\nstderr:\n{proc.stderr}"
    assert events, f"link --json printed no event; stderr:\n{proc.stderr}"
    last = events[-1]
    assert last.get("event") == "linked", f"the last event must be `linked`, got {last}"
    account = last["account"]
    assert account.get("id"), f"a linked account has an id: {account}"
    assert account.get("status") == "connected", f"a freshly linked account is connected: {account}"
    return account


def authorize_params(events):
    assert events and events[0].get("event") == "authorize", \
        f"the first event must be `authorize` with the URL, got {events[:1]}"
    url = events[0]["url"]
    parts = urllib.parse.urlsplit(url)
    return parts, dict(urllib.parse.parse_qsl(parts.query))


def test_link_with_oidc_provider_connects_the_account(pixy, oidc):
    before = oidc.counters()["token_requests"].get("authorization_code", 0)
    proc, events = link_oidc(pixy, oidc)
    account = assert_linked(proc, events)

    names = [e.get("event") for e in events]
    assert "exchanging" in names, f"progress must include `exchanging` before `linked`: {names}"
    assert names.index("authorize") < names.index("exchanging") < names.index("linked"), \
        f"events out of order: {names}"
    assert "alice" in account.get("label", ""), \
        f"the account label should name who signed in (sub or email of alice): {account}"

    after = oidc.counters()["token_requests"].get("authorization_code", 0)
    assert after == before + 1, f"exactly one code exchange must reach the token endpoint ({before} -> {after})"

    listed = {a["id"]: a for a in pixy.status_accounts()}
    assert account["id"] in listed, f"status must list the new account {account['id']}: {listed}"
    assert listed[account["id"]]["status"] == "connected", f"status must show it connected: {listed}"


def test_authorization_url_carries_an_s256_pkce_challenge_and_loopback_redirect(pixy, oidc):
    proc, events = link_oidc(pixy, oidc)
    assert_linked(proc, events)
    parts, params = authorize_params(events)
    assert f"{parts.scheme}://{parts.netloc}" == oidc.issuer, f"the URL must point at the issuer: {parts}"
    assert params.get("code_challenge_method") == "S256", f"PKCE S256 must be asked for: {sorted(params)}"
    assert len(params.get("code_challenge", "")) == 43, "an S256 challenge is 43 base64url characters"
    assert "code_verifier" not in params, "the verifier must never leave the daemon"
    assert len(params.get("state", "")) >= 22, "state must carry at least 128 bits"
    assert params.get("response_type") == "code"
    assert params.get("client_id") == "pixy-test"
    assert params.get("prompt") == "consent", "--auth-param must reach the authorization request"
    assert set(params.get("scope", "").split()) >= {"openid", "email", "offline_access"}, params.get("scope")
    redirect = urllib.parse.urlsplit(params.get("redirect_uri", ""))
    assert redirect.scheme == "http" and redirect.hostname in ("127.0.0.1", "::1"), \
        f"the redirect must be a loopback IP literal (RFC 8252 7.3): {redirect.geturl()}"
    assert redirect.port and redirect.path == "/callback", f"redirect: {redirect.geturl()}"


def test_token_prints_an_access_token_the_provider_accepts(pixy, oidc):
    account = assert_linked(*link_oidc(pixy, oidc))

    proc = pixy.run("token", account["id"])
    assert proc.returncode == 0, f"pixy token must succeed for a linked account: {proc.stderr}"
    token = proc.stdout.strip()
    assert token and "\n" not in token and " " not in token, "pixy token prints the access token alone"

    status, info = oidc.userinfo(token)
    assert status == 200, f"the provider must accept the token at userinfo: {status} {info}"
    assert info.get("sub") == "alice", f"the token must belong to the person who approved: {info}"
    assert info.get("email") == "alice@pixy.test", f"the email scope was granted: {info}"


def test_unlink_revokes_the_token_and_forgets_the_account(pixy, oidc):
    account = assert_linked(*link_oidc(pixy, oidc))
    token = pixy.run("token", account["id"]).stdout.strip()
    assert oidc.introspect(token).get("active") is True, "the token must be active before unlink"

    proc = pixy.run("unlink", account["id"])
    assert proc.returncode == 0, f"unlink must exit 0: {proc.stdout}{proc.stderr}"

    assert oidc.introspect(token).get("active") is False, "unlink must revoke the token at the provider"
    assert account["id"] not in [a["id"] for a in pixy.status_accounts()], "status must no longer list it"
    again = pixy.run("token", account["id"])
    assert again.returncode != 0, "no token can be had for an unlinked account"
    assert token not in again.stdout


def test_unlink_revokes_where_only_the_rfc8414_metadata_names_the_revocation_endpoint(pixy, oidc_factory):
    server = oidc_factory(OIDC_REVOCATION_METADATA="rfc8414")
    assert "revocation_endpoint" not in server.metadata, "OpenID discovery must not name it in this mode"
    account = assert_linked(*link_oidc(pixy, server))
    token = pixy.run("token", account["id"]).stdout.strip()
    proc, events = pixy.run_json("unlink", account["id"])
    assert proc.returncode == 0 and events[-1]["event"] == "unlinked", f"{events}\n{proc.stderr}"
    assert events[-1]["revocation"] == "revoked", f"the RFC 8414 document's endpoint was used: {events[-1]}"
    assert events[-1]["revoked"] is True
    assert server.introspect(token).get("active") is False, "the token is revoked at the provider"


def test_unlink_says_so_when_a_provider_offers_no_revocation_at_all(pixy, oidc_factory):
    server = oidc_factory(OIDC_REVOCATION_METADATA="none")
    account = assert_linked(*link_oidc(pixy, server))
    proc, events = pixy.run_json("unlink", account["id"])
    assert proc.returncode == 0 and events[-1]["event"] == "unlinked", f"{events}\n{proc.stderr}"
    assert events[-1]["revocation"] == "no_endpoint", f"nothing could be asked: {events[-1]}"
    words = pixy.run("status").stdout  # the account is gone either way
    assert account["id"] not in words
    server2_account = assert_linked(*link_oidc(pixy, server))
    said = pixy.run("unlink", server2_account["id"]).stdout
    assert "no revocation endpoint" in said and "did not confirm" not in said, \
        f"the person is told exactly why nothing was revoked: {said!r}"


def test_no_browser_link_times_out_without_opening_the_browser(pixy, oidc):
    started = time.monotonic()
    proc, events = link_oidc(pixy, oidc, "--no-browser", "--timeout", "2", timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, f"a timed-out link exits 1, got {proc.returncode}: {proc.stderr}"
    authorize_params(events)  # the URL is still shown, for a person to open by hand
    assert events[-1].get("event") == "error", f"the last event must be an error: {events[-1]}"
    assert events[-1].get("kind") == "timeout", f"kind must be timeout: {events[-1]}"
    assert elapsed < 30, f"a 2 s timeout must end the flow promptly, took {elapsed:.1f}s"
    assert not pixy.approve_marker.exists(), "--no-browser must not run $BROWSER"
    assert pixy.status_accounts() == [], "a timed-out flow links nothing"


def test_unknown_provider_is_an_invalid_request(pixy):
    proc, events = pixy.run_json("link", "no-such-provider")
    assert proc.returncode == 1, f"an unknown provider exits 1, got {proc.returncode}: {proc.stderr}"
    assert events and events[-1].get("event") == "error", f"an error event is expected: {events}"
    assert events[-1].get("kind") == "invalid_request", f"kind must be invalid_request: {events[-1]}"
    assert not pixy.approve_marker.exists(), "no browser for a request that cannot start"


def test_bad_usage_exits_2(pixy):
    for args in (["link", "--no-such-flag"], ["no-such-command"], ["link", "demo", "--timeout", "soon"]):
        proc = pixy.run(*args)
        assert proc.returncode == 2, f"`pixy {' '.join(args)}` is a usage error (exit 2), got {proc.returncode}"
        assert proc.stderr.strip(), f"a usage error must say what is wrong on stderr: `pixy {' '.join(args)}`"


def test_providers_lists_the_demo_first(pixy):
    proc, events = pixy.run_json("providers")
    assert proc.returncode == 0, proc.stderr
    assert events and events[-1].get("event") == "providers", events
    providers = events[-1]["providers"]
    assert providers and providers[0]["id"] == "demo", f"the demo provider comes first: {providers}"
    assert providers[0]["label"] == "Demo" and providers[0].get("demo") is True, providers[0]


def test_link_with_the_demo_provider(pixy):
    proc, events = pixy.run_json("link", "demo", timeout=90)
    account = assert_linked(proc, events)
    assert account["provider"] == "demo", f"the account belongs to the demo provider: {account}"
    _, params = authorize_params(events)
    assert params.get("code_challenge_method") == "S256", "the demo flow uses PKCE S256 too"
    assert pixy.approve_marker.exists(), "the daemon must have opened $BROWSER"

    listed = {a["id"]: a for a in pixy.status_accounts()}
    assert listed.get(account["id"], {}).get("status") == "connected", f"status: {listed}"

    token = pixy.run("token", account["id"])
    assert token.returncode == 0 and token.stdout.strip(), f"a demo account hands out a token: {token.stderr}"

    assert pixy.run("unlink", account["id"]).returncode == 0
    assert account["id"] not in [a["id"] for a in pixy.status_accounts()]



def test_token_hands_out_a_valid_access_token_without_refreshing(pixy, oidc):
    account = assert_linked(*link_oidc(pixy, oidc))
    before = oidc.counters()["token_requests"].get("refresh_token", 0)
    first = pixy.run("token", account["id"]).stdout.strip()
    second = pixy.run("token", account["id"]).stdout.strip()
    assert first and first == second, "a valid access token (1 h left) is handed out as is"
    assert oidc.counters()["token_requests"].get("refresh_token", 0) == before, \
        "no refresh request for a token that is far from expiry"


def test_token_refreshes_an_expired_access_token_and_keeps_the_rotated_tokens(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=2)
    account = assert_linked(*link_oidc(pixy, server))
    stored = pixy_keyring_items(account["id"])
    assert {"access_token", "refresh_token"} <= set(stored), f"link must store both tokens: {sorted(stored)}"
    original = stored["access_token"]["secret"]

    time.sleep(3)  # the access token lives 2 s
    assert server.introspect(original).get("active") is False, "the linked access token must have expired"
    proc = pixy.run("token", account["id"])
    assert proc.returncode == 0, f"pixy token must refresh an expired token: {proc.stderr}"
    fresh = proc.stdout.strip()
    assert fresh and fresh != original, "an expired access token must be replaced by a new one"
    status, info = server.userinfo(fresh)
    assert status == 200 and info.get("sub") == "alice", f"the refreshed token must work: {status} {info}"
    assert server.counters()["token_requests"].get("refresh_token", 0) >= 1, "a refresh must reach the provider"

    now = pixy_keyring_items(account["id"])
    assert now["access_token"]["secret"] == fresh, "the keyring must hold the refreshed access token"
    assert now["refresh_token"]["secret"] != stored["refresh_token"]["secret"], \
        "the provider rotates refresh tokens of public clients: the new one must replace the old"


def test_a_browser_that_keeps_running_does_not_hold_the_link_open(pixy, tmp_path):
    """A browser command that stays open until the person closes it (one that was not running yet,
    a terminal browser): the link ends when the sign-in does, not when the browser exits."""
    browser = tmp_path / "browser-that-stays"
    browser.write_text(f'#!/bin/sh\n"{APPROVE}" "$1"\nexec sleep 300\n')
    browser.chmod(0o755)
    env = dict(pixy.env, BROWSER=str(browser))
    started = time.monotonic()
    proc, events = pixy.run_json("link", "demo", timeout=120, env=env)
    assert events and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    assert time.monotonic() - started < 60, "the link must not wait for the browser to exit"
