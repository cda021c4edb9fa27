"""Linking MCP servers by their URL, end to end with real peers: the MCP TypeScript SDK's example
server (its demo OAuth provider matches redirect URIs exactly and checks RFC 8707 strictly), and
oidc-provider as the authorization server of protected resources (dynamic registration kept per
server and replaced once when the server forgot it, tokens bound to the resource, refresh with it).
Then the bad metadata a server can send, each refused before any browser opens with nothing
stored touched."""

import hashlib
import json
import socket
import time
import urllib.parse

import pytest

from conftest import ARTIFACTS, KEYRING_SERVICE, _slug, keyring_items
from mcp_peers import ProtectedResource, SdkServer, jwt_claims, read_registrations, run_client


@pytest.fixture
def sdk_server(request):
    artifacts = ARTIFACTS / _slug(request.node.nodeid)
    artifacts.mkdir(parents=True, exist_ok=True)
    server = SdkServer(artifacts / "sdk-server.log")
    try:
        yield server
    finally:
        server.stop()


def test_the_sdk_example_server_is_linked_by_its_url_and_its_tools_listed_with_pixys_token(pixy, sdk_server):
    done = run_client(pixy, sdk_server.url)
    assert done.returncode == 0, done.stderr
    tools = json.loads(done.stdout.splitlines()[0])["result"]["tools"]
    assert "greet" in {t["name"] for t in tools}, tools
    [account] = pixy.status_accounts()
    assert account["id"] == f"localhost-{sdk_server.mcp_port}", "the name comes from the host and port"
    assert account["resource"]["url"] == sdk_server.url
    assert account["resource"]["resource"] == sdk_server.url, "the token is bound to the resource"
    assert account["resource"]["authorization_server"].rstrip("/") == sdk_server.issuer.rstrip("/")
    assert account["resource"]["registration"] == "dynamic"
    [registration] = read_registrations(pixy)
    assert registration["redirect_uri"].startswith("http://127.0.0.1:"), registration
    # Its demo provider matches redirect URIs exactly: the registered port is the one bound again.
    again = pixy.run("link", sdk_server.url, "--json", "--explain")
    assert again.returncode == 0, again.stderr
    [kept] = read_registrations(pixy)
    assert kept == registration, "the registration is reused, port and all, not made again"
    assert "kept from an earlier link" in again.stdout


def test_a_registration_whose_port_is_taken_is_made_again_on_a_free_one(pixy, sdk_server):
    assert pixy.run("link", sdk_server.url).returncode == 0, pixy.last.stderr
    [first] = read_registrations(pixy)
    port = int(first["redirect_uri"].rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        # Another program listens there now (past the TIME_WAIT of Pixy's own last connection).
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        again = pixy.run("link", sdk_server.url, "--explain")
    assert again.returncode == 0, again.stderr
    [second] = read_registrations(pixy)
    assert second["redirect_uri"] != first["redirect_uri"], "registered again, with the port it now listens on"
    assert second["client_id"] != first["client_id"]
    assert "a new client id" in again.stderr


def test_status_and_explain_show_the_whole_chain(pixy, sdk_server):
    linked = pixy.run("link", sdk_server.url, "--explain", "--account", "sdk")
    assert linked.returncode == 0, linked.stderr
    for step in ("resource", "resource metadata", "authorization server", "scopes", "registration"):
        assert f"ok   {step}" in linked.stderr, f"--explain shows the {step} step:\n{linked.stderr}"
    assert "PKCE S256 yes" in linked.stderr
    status = pixy.run("status")
    assert f"resource {sdk_server.url}" in status.stdout, status.stdout
    assert "dynamic client registration" in status.stdout
    assert pixy.run("token", "sdk").stdout.strip(), "the account is named as asked"


def registration_secrets(issuer):
    """The fields of the keyring items Pixy keeps for its registration with `issuer` (the session's
    keyring is shared by every test, so only this server's)."""
    key = "registration:" + hashlib.sha256(issuer.rstrip("/").encode()).hexdigest()[:16]
    return sorted(i["username"].split(":", 2)[2] for i in keyring_items(service=KEYRING_SERVICE)
                  if i.get("username", "").startswith(key + ":"))


def mcp_authorization_server(oidc_factory, *resources, **env):
    return oidc_factory(OIDC_RESOURCES=" ".join(resources), **env)


def test_oidc_provider_registers_pixy_once_and_binds_each_token_to_its_resource(pixy, oidc_factory):
    first, second = ProtectedResource(), ProtectedResource()
    server = mcp_authorization_server(oidc_factory, first.url, second.url, OIDC_ACCESS_TTL=600)
    try:
        for resource in (first, second):
            resource.serve_metadata({"resource": resource.url, "authorization_servers": [server.issuer],
                                     "scopes_supported": ["mcp:tools"]})
        for name, resource in (("one", first), ("two", second)):
            linked = pixy.run("link", resource.url, "--account", name, "--json")
            assert linked.returncode == 0, linked.stdout + linked.stderr
            claims = jwt_claims(pixy.run("token", name).stdout.strip())
            assert claims["aud"] == resource.url, f"{name}'s token is bound to its own resource: {claims}"
            assert "mcp:tools" in claims["scope"].split()
        [registration] = read_registrations(pixy)
        assert registration["method"] == "dynamic"
        assert server.counters()["token_requests"].get("authorization_code") == 2
        assert server.log_path.read_text().count("client registered:") == 1, "the second resource at the same server reuses the client"
        assert registration_secrets(server.issuer) == ["registration_access_token"], \
            "only its RFC 7592 token is secret: a native client registers without a client secret"
    finally:
        first.stop()
        second.stop()


def test_a_refresh_keeps_the_token_bound_to_the_resource(pixy, oidc_factory):
    resource = ProtectedResource()
    server = mcp_authorization_server(oidc_factory, resource.url, OIDC_ACCESS_TTL=5)
    try:
        resource.serve_metadata({"resource": resource.url, "authorization_servers": [server.issuer],
                                 "scopes_supported": ["mcp:tools"]})
        assert pixy.run("link", resource.url, "--account", "short").returncode == 0, pixy.last.stderr
        first = pixy.run("token", "short").stdout.strip()
        time.sleep(4)
        second = pixy.run("token", "short").stdout.strip()
        assert second and second != first, "the token was refreshed"
        assert server.counters()["token_requests"].get("refresh_token", 0) >= 1
        assert jwt_claims(second)["aud"] == resource.url, "the refreshed token is bound to the resource too"
    finally:
        resource.stop()


def test_a_registration_the_server_forgot_is_replaced_once(pixy, oidc_factory):
    resource = ProtectedResource()
    server = mcp_authorization_server(oidc_factory, resource.url)
    try:
        resource.serve_metadata({"resource": resource.url, "authorization_servers": [server.issuer],
                                 "scopes_supported": ["mcp:tools"]})
        assert pixy.run("link", resource.url, "--account", "forgot").returncode == 0, pixy.last.stderr
        [before] = read_registrations(pixy)
        assert before["registration_client_uri"].startswith(server.issuer), "RFC 7592 management is kept"
        # Restarted on its memory store, the server has forgotten every client it registered.
        port = int(server.issuer.rsplit(":", 1)[1])
        server.stop()
        restarted = mcp_authorization_server(oidc_factory, resource.url, port=port)
        assert restarted.issuer == server.issuer
        relinked = pixy.run("link", resource.url, "--account", "forgot", "--explain")
        assert relinked.returncode == 0, relinked.stdout + relinked.stderr
        [after] = read_registrations(pixy)
        assert after["client_id"] != before["client_id"], "a new registration replaced the forgotten one"
        assert restarted.log_path.read_text().count("client registered:") == 1, "and only one was made"
        assert "a new client id" in relinked.stderr, relinked.stderr
    finally:
        resource.stop()


# ------------------------------------------------------------------------------------------------
# Bad input: refused before any browser, nothing stored touched


def stored_state(pixy):
    config = pixy.config_home / "pixy"
    files = {p.name: p.read_bytes() for p in config.glob("*.json")} if config.exists() else {}
    return files, sorted((i.get("username", ""), i["secret"]) for i in keyring_items(service=KEYRING_SERVICE))


def assert_refused_before_any_browser(pixy, url, *words, extra=()):
    before = stored_state(pixy)
    proc, events = pixy.run_json("link", url, *extra)
    assert proc.returncode == 1, events
    error = events[-1]
    assert error["event"] == "error", events
    for word in words:
        assert word in error["message"], f"{word!r} not in {error['message']!r}"
    assert not any(e["event"] == "authorize" for e in events), "no authorization was asked for"
    assert not pixy.approve_marker.exists(), "no browser was opened"
    assert stored_state(pixy) == before, "nothing stored was touched"
    return error


@pytest.fixture
def linked_demo(pixy):
    """An account and a kept registration that a bad link must leave alone."""
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    pixy.approve_marker.unlink(missing_ok=True)
    return pixy


def test_metadata_naming_another_resource_is_refused(linked_demo, oidc):
    resource = ProtectedResource()
    try:
        resource.serve_metadata({"resource": "https://evil.example/mcp", "authorization_servers": [oidc.issuer]})
        assert_refused_before_any_browser(linked_demo, resource.url, "another resource", "evil.example")
    finally:
        resource.stop()


@pytest.mark.parametrize("body, words", [
    ("<html>not json</html>", ["not valid JSON resource metadata"]),
    ("x" * (300 * 1024), ["more than 256 KiB"]),
])
def test_metadata_that_is_not_json_or_too_large_is_refused(linked_demo, body, words):
    resource = ProtectedResource()
    try:
        resource.serve_metadata(body)
        assert_refused_before_any_browser(linked_demo, resource.url, *words)
    finally:
        resource.stop()


def test_metadata_that_redirects_elsewhere_is_refused(linked_demo):
    resource = ProtectedResource()
    try:
        resource.routes["/.well-known/oauth-protected-resource/mcp"] = (
            302, {"Location": "https://elsewhere.example/metadata.json"}, "")
        assert_refused_before_any_browser(linked_demo, resource.url, "redirect")
        assert ("GET", "/.well-known/oauth-protected-resource/mcp") in resource.requests
    finally:
        resource.stop()


def test_an_authorization_server_without_s256_is_refused(linked_demo):
    resource = ProtectedResource()
    try:
        issuer = f"http://127.0.0.1:{resource.port}/as"
        resource.serve_metadata({"resource": resource.url, "authorization_servers": [issuer]})
        resource.routes["/.well-known/oauth-authorization-server/as"] = (200, {"Content-Type": "application/json"}, json.dumps({
            "issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
            "registration_endpoint": issuer + "/register", "code_challenge_methods_supported": ["plain"]}))
        assert_refused_before_any_browser(linked_demo, resource.url, "does not list PKCE S256")
    finally:
        resource.stop()


def authorization_server_at(resource, registration=None):
    """Serves the metadata of an authorization server at `resource`'s own port, under /as."""
    issuer = f"http://127.0.0.1:{resource.port}/as"
    resource.serve_metadata({"resource": resource.url, "authorization_servers": [issuer]})
    metadata = {"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
                "code_challenge_methods_supported": ["S256"]}
    if registration:
        metadata["registration_endpoint"] = issuer + "/register"
        resource.post_routes["/as/register"] = registration
    resource.routes["/.well-known/oauth-authorization-server/as"] = (
        200, {"Content-Type": "application/json"}, json.dumps(metadata))


def test_a_server_without_registration_asks_for_a_client_id(linked_demo):
    resource = ProtectedResource()
    try:
        authorization_server_at(resource)
        error = assert_refused_before_any_browser(linked_demo, resource.url, "does not allow automatic registration",
                                                  "--client-id")
        assert error["kind"] == "provider_config"
    finally:
        resource.stop()


def test_a_refused_registration_is_said_in_words(linked_demo):
    resource = ProtectedResource()
    try:
        refusal = json.dumps({"error": "invalid_redirect_uri", "error_description": "loopback not \u001b[31mallowed"})
        authorization_server_at(resource, (400, {"Content-Type": "application/json"}, refusal))
        error = assert_refused_before_any_browser(linked_demo, resource.url, "refused to register Pixy",
                                                  "invalid_redirect_uri", "loopback not")
        assert "\x1b" not in error["message"], "a server's text reaches the terminal without control characters"
        assert ("POST", "/as/register") in resource.requests
    finally:
        resource.stop()


def test_an_older_server_whose_metadata_names_another_issuer_is_refused(linked_demo):
    resource = ProtectedResource(challenge_names_metadata=False)
    try:
        # No resource metadata (a 2025-03-26 server): its origin's own metadata must be its own.
        origin = f"http://127.0.0.1:{resource.port}"
        resource.routes["/.well-known/oauth-authorization-server"] = (200, {"Content-Type": "application/json"}, json.dumps({
            "issuer": "https://as.good.example", "authorization_endpoint": origin + "/authorize",
            "token_endpoint": origin + "/token", "registration_endpoint": origin + "/register",
            "code_challenge_methods_supported": ["S256"]}))
        assert_refused_before_any_browser(linked_demo, resource.url, "names another server")
        assert ("POST", "/register") not in resource.requests, "nothing was registered"
    finally:
        resource.stop()


def test_an_account_of_another_provider_is_not_replaced_by_a_resource(linked_demo, sdk_server):
    [demo] = linked_demo.status_accounts()
    assert_refused_before_any_browser(linked_demo, sdk_server.url, "another server", "--account",
                                      extra=("--account", demo["id"]))
    assert linked_demo.status_accounts() == [demo], "the demo account is untouched"


def test_a_kept_registration_the_token_endpoint_no_longer_knows_is_replaced_once(pixy):
    # Fault injection no real server produces on cue: an authorization server that forgets a
    # client at its token endpoint (as after a database restore) while still approving it.
    resource = ProtectedResource()
    issuer = f"http://127.0.0.1:{resource.port}/as"
    state = {"registered": 0, "known": set()}

    def register(path, body):
        state["registered"] += 1
        client_id = f"client-{state['registered']}"
        state["known"].add(client_id)
        return 201, {"Content-Type": "application/json"}, json.dumps({"client_id": client_id})

    def authorize(path, body):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        target = f"{query['redirect_uri'][0]}?code=code-for-{query['client_id'][0]}&state={query['state'][0]}"
        return 302, {"Location": target}, ""

    def token(path, body):
        form = urllib.parse.parse_qs(body.decode())
        if form["client_id"][0] not in state["known"]:
            return 401, {"Content-Type": "application/json"}, '{"error":"invalid_client"}'
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "access_token": f"at-{form['client_id'][0]}", "token_type": "Bearer", "expires_in": 3600})

    try:
        resource.serve_metadata({"resource": resource.url, "authorization_servers": [issuer]})
        resource.routes["/.well-known/oauth-authorization-server/as"] = (200, {"Content-Type": "application/json"}, json.dumps({
            "issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
            "registration_endpoint": issuer + "/register", "code_challenge_methods_supported": ["S256"]}))
        resource.routes["/as/authorize"] = authorize
        resource.post_routes["/as/register"] = register
        resource.post_routes["/as/token"] = token

        assert pixy.run("link", resource.url, "--account", "restored").returncode == 0, pixy.last.stderr
        assert pixy.run("token", "restored").stdout.strip() == "at-client-1"
        state["known"].clear()
        relinked = pixy.run("link", resource.url, "--account", "restored", "--explain")
        assert relinked.returncode == 0, relinked.stderr
        assert "no longer knows the kept registration" in relinked.stderr
        assert state["registered"] == 2, "registered again once"
        assert [r["client_id"] for r in read_registrations(pixy)] == ["client-2"]
        assert pixy.run("token", "restored").stdout.strip() == "at-client-2"
    finally:
        resource.stop()
