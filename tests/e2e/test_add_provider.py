"""`pixy add-provider`: a provider added from its issuer alone, against oidc-provider, the way the
window's Add provider does it. What the file held stays as it was; a wrong field is named; a file
that is not TOML is never rewritten."""

from conftest import write_providers

HAND_WRITTEN = """# Providers of this machine.
[[provider]]
id = "old"   # kept as written
issuer = "https://id.example.com"
client_id = "someone"
"""


def test_a_provider_added_from_its_issuer_keeps_the_file_and_links(pixy, oidc):
    path = write_providers(pixy, HAND_WRITTEN)
    proc = pixy.run("add-provider", oidc.issuer, "--client-id", "pixy-test", "--id", "corp")
    assert proc.returncode == 0, f"add-provider must succeed: {proc.stderr}"
    assert oidc.metadata["token_endpoint"] in proc.stdout and "PKCE S256" in proc.stdout, \
        f"it shows what the issuer offers first:\n{proc.stdout}"
    assert "Added" in proc.stdout and "pixy link corp" in proc.stdout, proc.stdout
    text = path.read_text()
    assert text.startswith(HAND_WRITTEN), f"what was there is kept byte for byte:\n{text}"
    assert 'auth_params = { prompt = "consent" }' in text, "offline_access was offered, so consent is asked for"

    providers = pixy.json_events("providers")[-1]["providers"]
    assert "corp" in [p["id"] for p in providers], providers

    proc, events = pixy.run_json("link", "corp", timeout=90)
    assert events and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    account = events[-1]["account"]
    assert account["provider"] == "corp" and "offline_access" in account["scopes"], account

    again = pixy.run("add-provider", oidc.issuer, "--client-id", "pixy-test", "--id", "corp")
    assert again.returncode == 1 and "id: another provider already uses this id." in again.stderr, again.stderr
    assert path.read_text() == text, "a refused add writes nothing"


def test_an_address_pixy_would_not_send_a_secret_to_is_refused(pixy):
    proc = pixy.run("add-provider", "http://id.example.com", "--client-id", "x")
    assert proc.returncode == 1 and "https" in proc.stderr, proc.stderr
    assert not (pixy.config_home / "pixy" / "providers.toml").exists()


def test_a_providers_file_that_is_not_toml_is_left_as_it_is(pixy, oidc):
    path = write_providers(pixy, "[[provider]]\nid = \"a\"\nissuer = \n")
    proc = pixy.run("add-provider", oidc.issuer, "--client-id", "pixy-test")
    assert proc.returncode == 1 and "(line 3)" in proc.stderr and "fix providers.toml" in proc.stderr, proc.stderr
    assert path.read_text() == "[[provider]]\nid = \"a\"\nissuer = \n"
