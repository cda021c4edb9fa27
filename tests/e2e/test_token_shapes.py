"""`pixy token` in the shape each consumer reads: bare (as before), an HTTP header line, the JSON
object of Claude Code's `headersHelper`, and `--min-valid`, which refreshes first a token that would
expire too soon. Real CLI, real daemon, the real keyring."""

import json

from conftest import oidc_link_args


def test_the_token_comes_bare_as_a_header_line_and_as_headers_json(pixy):
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    bare = pixy.run("token", "demo").stdout.strip()
    assert bare and "\n" not in bare
    assert pixy.run("token", "demo", "--header").stdout == f"Authorization: Bearer {bare}\n"
    assert json.loads(pixy.run("token", "demo", "--headers-json").stdout) == {"Authorization": f"Bearer {bare}"}
    both = pixy.run("token", "demo", "--header", "--headers-json")
    assert both.returncode == 2, "one shape at a time"


def test_min_valid_refreshes_a_token_that_would_expire_sooner(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=600)
    assert pixy.run(*oidc_link_args(server.issuer)).returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    first = pixy.run("token", account["id"], "--min-valid", "60").stdout.strip()
    assert server.counters()["token_requests"].get("refresh_token", 0) == 0, "ten minutes left is enough for 60 s"
    second = pixy.run("token", account["id"], "--min-valid", "900").stdout.strip()
    assert second and second != first, "a token with less than 900 s left is refreshed first"
    assert server.counters()["token_requests"]["refresh_token"] == 1
    event = json.loads(pixy.run("token", account["id"], "--json").stdout)
    assert event["access_token"] == second and event["expires_at"] is not None


def test_min_valid_without_a_refresh_token_says_to_link_again(pixy, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=600)
    args = ["link", "--issuer", server.issuer, "--client-id", "pixy-test", "--scope", "openid"]
    assert pixy.run(*args).returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    assert pixy.run("token", account["id"]).returncode == 0, "ten minutes left: handed out"
    short = pixy.run("token", account["id"], "--min-valid", "900")
    assert short.returncode == 1 and short.stdout == ""
    assert "no refresh token" in short.stderr and "link it again" in short.stderr, short.stderr
