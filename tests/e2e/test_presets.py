"""The built-in presets, end to end: each one pointed at the embedded demo's matching mode by an
override in providers.toml that changes only its issuer and endpoints (and Claude's code page),
keeping the preset's client id, parameters, redirect and token body. Real CLI, real daemon, the
real keyring."""

import json
import socket
import subprocess

from conftest import code_on_page, copied_address, demo_issuer, pixy_keyring_items, write_providers


def point_at_demo(pixy, preset, extra=""):
    """Overrides `preset` in providers.toml with the demo's endpoints."""
    issuer = demo_issuer(pixy)
    write_providers(pixy, f'[[provider]]\nid = "{preset}"\nissuer = "{issuer}"\n'
                          f'authorization_endpoint = "{issuer}/oauth/authorize"\n'
                          f'token_endpoint = "{issuer}/v1/oauth/token"\n{extra}')
    return issuer


def test_the_presets_are_listed_with_the_persons_providers(pixy):
    proc, events = pixy.run_json("providers")
    providers = {p["id"]: p for p in events[-1]["providers"]}
    assert providers["claude"]["preset"] is True and providers["claude"]["paste_only"] is True
    assert providers["chatgpt"]["preset"] is True and "paste_only" not in providers["chatgpt"]
    assert providers["claude"]["issuer"] == "https://claude.ai"


def test_claude_links_by_pasting_the_code_its_page_shows(pixy):
    issuer = point_at_demo(pixy, "claude", 'paste_redirect_uri = "DEMO/oauth/code/callback"\n'.replace(
        "DEMO", demo_issuer(pixy)))
    link = subprocess.Popen([pixy.bin, "link", "claude", "--no-browser", "--json"], env=pixy.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    authorize = json.loads(link.stdout.readline())
    assert authorize["event"] == "authorize" and authorize["paste_only"] is True, authorize
    assert "client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e" in authorize["url"] and "code=true" in authorize["url"]
    shown = code_on_page(copied_address(pixy, authorize["url"]))
    code, state = shown.split("#")
    out, err = link.communicate(input=f"nonsense?\n{code}#{'x' * len(state)}\n\"{shown}\"\n", timeout=60)
    events = [authorize] + [json.loads(line) for line in out.splitlines() if line.strip()]
    kinds = [e["event"] for e in events]
    assert kinds.count("paste_rejected") == 2 and kinds[-1] == "linked", f"{kinds}\n{err}"
    assert link.returncode == 0
    account = events[-1]["account"]
    assert account["provider"] == "claude" and account["label"] == "demo@pixy.invalid"
    assert pixy.run("token", "claude").returncode == 0
    assert set(pixy_keyring_items(account["id"])) >= {"access_token", "refresh_token"}, "the tokens are in the keyring"
    # The person follows the preset elsewhere: a refresh goes to the token endpoint as JSON too.
    assert issuer in (pixy.config_home / "pixy" / "providers.toml").read_text()


def test_chatgpt_links_through_port_1455_or_1457_when_1455_is_taken(pixy):
    point_at_demo(pixy, "chatgpt")
    proc, events = pixy.run_json("link", "chatgpt")
    assert proc.returncode == 0, f"{events}\n{proc.stderr}"
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback" in events[0]["url"]
    assert events[-1]["account"]["label"] == "demo@pixy.invalid"
    with socket.socket() as taken:
        # The first link's connections may linger in TIME_WAIT on 1455; a listener may still bind.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 1455))
        taken.listen()
        proc, events = pixy.run_json("link", "chatgpt")
    assert proc.returncode == 0, f"{events}\n{proc.stderr}"
    assert "localhost%3A1457" in events[0]["url"]
    assert [a["provider"] for a in pixy.status_accounts()] == ["chatgpt"], "the same account, linked again"


def test_a_broken_override_names_file_line_and_key_and_leaves_the_rest(pixy):
    write_providers(pixy, '[[provider]]\nid = "claude"\ntoken_request = "xml"\n')
    proc, events = pixy.run_json("providers")
    providers = {p["id"]: p for p in events[-1]["providers"]}
    problem = providers["claude"]["problem"]
    assert "providers.toml line 1" in problem and "token_request" in problem or "xml" in problem, problem
    assert "problem" not in providers["chatgpt"], "the other preset stays usable"
    proc, events = pixy.run_json("link", "claude", "--no-browser")
    assert proc.returncode == 1 and events[-1]["kind"] == "provider_config", events
