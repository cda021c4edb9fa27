"""The real window (pixy-desktop, Tauri on WebKitGTK) under Xvfb, driven over WebDriver the way a
person would use it: Connect on the demo provider, approve in the "browser", see the account
connected; then close the window and check that nothing of it stays behind while the daemon does.

tauri-driver passes its own environment to the app, so it is started with the test user's: its
private XDG dirs (so its own daemon) and approve.py as $BROWSER.
"""

import json
import re
import subprocess
import sys
import time

import pytest

from agents import an_account_needing_relink, browser_script, finish, start_agent
from conftest import (APPROVE, code_on_page, copied_address, demo_issuer, forget_kept_grantex_key, grantex_at_demo,
                      write_providers)
from desktop import (alive, comm, indigo, request_close, screenshot, wait_painted, wait_until, windows_named)
from windows import app_pid, desktop, flow_state, webkit_helpers, window  # noqa: F401 (fixtures)


def test_connect_on_demo_links_an_account_and_closing_the_window_leaves_only_the_daemon(pixy, window):
    driver, display, driver_proc = window

    rows = driver.wait_for('li.provider[data-provider-id="demo"]', timeout=60)
    assert rows, f"the demo provider must be listed with its Connect button; the page shows:\n{driver.page_text()}"
    assert driver.first_attribute("li.provider", "data-provider-id") == "demo", "the demo provider must come first"
    assert "Demo" in driver.first_text("li.provider"), "the demo provider must be labelled as a demo, not a real account"

    pid = app_pid(driver_proc, pixy.desktop_bin)
    assert pid, "WebDriver must have started pixy-desktop as a child of tauri-driver"
    helpers = wait_until(lambda: webkit_helpers(pid), timeout=10)
    assert helpers, "a WebKit window runs its web content in WebKitWebProcess children"

    clicked = driver.click_first('li.provider[data-provider-id="demo"] button[data-action="connect"]')
    assert clicked, "the demo row must have a Connect button"

    def settled():
        state = flow_state(driver)
        return state if state in ("connected", "error") else None

    final = wait_until(settled, timeout=90, interval=0.3)
    if final != "connected":
        pytest.fail(f"after Connect the flow must end connected, it is {final!r}; "
                    f"the window shows:\n{driver.page_text()}")

    connected = 'li.account[data-status="connected"]'
    accounts = driver.wait_for(connected, timeout=15)
    assert accounts, f"the new account must be listed as connected; the window shows:\n{driver.page_text()}"
    assert "Connected" in (driver.first_text(connected) or ""), "a connected account row must say Connected in words"
    account_id = driver.first_attribute(connected, "data-account-id")

    names = windows_named(display, "^Pixy$")
    assert names, "the app's window must be titled Pixy"
    painted = wait_painted(display, names[0], pixy.artifacts / "window-connected-window.png", indigo)
    assert painted is not None, "the window must show its UI on screen, not stay blank"
    time.sleep(0.3)  # the connected panel fades in
    screenshot(display, pixy.artifacts / "window-connected.png")
    screenshot(display, pixy.artifacts / "window-connected-window.png", window=str(names[0]))

    helpers = webkit_helpers(pid)
    daemons = pixy.daemon_pids()
    assert daemons, "the window must have started a daemon (its client starts one when none answers)"

    # Closed as a person closes it (the window manager's close button), while the WebDriver
    # session is still open: the process must end by itself.
    request_close(display, names[0])

    gone = wait_until(lambda: not alive(pid), timeout=20)
    assert gone, "closing the last window must end pixy-desktop: nothing may keep the process alive"
    assert alive(driver_proc.pid), "tauri-driver must still be running, so it was not what ended the app"
    left = wait_until(lambda: not [p for p in helpers if alive(p)], timeout=10)
    assert left, (f"every WebKit process of the window must end with it, still running: "
                  f"{[(p, comm(p)) for p in helpers if alive(p)]}")

    assert all(alive(p) for p in daemons), "the daemon must outlive the window: it is the resident owner"
    listed = {a["id"]: a for a in pixy.status_accounts()}
    assert account_id in listed, f"the daemon must still hold the account the window linked: {listed}"
    assert listed[account_id]["status"] == "connected", f"and it must still be connected: {listed}"


@pytest.fixture
def an_account_that_needs_relinking(pixy):
    """An account whose refresh was refused; the window's daemon loads it when it starts."""
    return an_account_needing_relink(pixy, "bob.with.a.rather.long.address@example.com")


def test_an_account_that_needs_relinking_shows_its_status_in_full_why_and_a_reconnect(
        pixy, an_account_that_needs_relinking, window):
    driver, display, _ = window
    row = 'li.account[data-status="needs_relink"]'
    assert driver.wait_for(row, timeout=60), f"the account must be listed; the window shows:\n{driver.page_text()}"
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-needs-relink.png", indigo) is not None, \
        "the window must show its UI on screen"

    assert driver.first_text(f"{row} [data-badge]") == "Needs relink", "the status must be said in words"
    # Laid out in the real window: the status is not cut short, whatever the label's length.
    clipped = driver.script("const s = document.querySelector(arguments[0]); "
                            "const row = s.closest('.row').getBoundingClientRect(); "
                            "return s.scrollWidth > s.clientWidth || s.getBoundingClientRect().right > row.right + 0.5",
                            f"{row} [data-badge]")
    assert clipped is False, "the status must be shown in full, not cut off by the buttons beside it"
    reason = driver.first_text(f"{row} .reason") or ""
    assert "link it again" in reason, f"the row must say why and what to do, it says {reason!r}"
    assert driver.first_text(f'{row} button[data-action="reconnect"]') == "Reconnect", \
        "an account that needs relinking must offer Reconnect"
    time.sleep(1)  # the first frame is painted before the page has loaded its lists
    screenshot(display, pixy.artifacts / "window-needs-relink.png", window=str(names[0]))


@pytest.fixture
def a_broken_provider_definition(pixy):
    path = pixy.config_home / "pixy" / "providers.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[[provider]]\nid = "work"\nlabel = "Work SSO"\nissuer = "https://id.work.example"\n'
                    'client_id = "pixy"\n\n[[provider]]\nid = "typo"\nissuer = "https://id.work.example"\n'
                    'clientid = "pixy"\n')
    return path


def test_a_broken_provider_definition_is_shown_as_broken_with_its_line_and_no_connect(
        pixy, a_broken_provider_definition, window):
    driver, display, _ = window
    broken = 'li.provider[data-provider-id="typo"]'
    assert driver.wait_for(broken, timeout=60), f"the broken entry must be listed; the window shows:\n{driver.page_text()}"
    assert driver.first_attribute(broken, "data-broken") == "true"
    problem = driver.first_text(f"{broken} .problem") or ""
    assert "line 7" in problem and "clientid" in problem, f"the row says where and what is wrong: {problem!r}"
    assert driver.first_text(f"{broken} .tag") == "Broken"
    assert not driver.find_all(f'{broken} button[data-action="connect"]'), "a broken definition cannot be connected"
    good = 'li.provider[data-provider-id="work"]'
    assert driver.first_text(f'{good} button[data-action="connect"]') == "Connect", "the good entry stays usable"
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-broken-provider.png", indigo) is not None
    time.sleep(1)  # the first frame is painted before the page has loaded its lists
    screenshot(display, pixy.artifacts / "window-broken-provider.png", window=str(names[0]))


@pytest.fixture
def a_damaged_account_index(pixy):
    index = pixy.config_home / "pixy" / "accounts.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text('{"version": 1, "accounts": [{"id": "work-0123abcd", "provider": "work"}]}')
    return index


def test_a_damaged_account_index_is_said_in_the_window(pixy, a_damaged_account_index, window):
    driver, display, _ = window
    notice = '#notice [data-notice="index"]'
    assert driver.wait_for(notice, timeout=60), f"the window must say so; it shows:\n{driver.page_text()}"
    text = driver.first_text(notice) or ""
    assert "could not be read" in text and "accounts.json.corrupt-" in text, text
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-damaged-index.png", indigo) is not None
    time.sleep(1)  # the first frame is painted before the page has loaded its lists
    screenshot(display, pixy.artifacts / "window-damaged-index.png", window=str(names[0]))


@pytest.fixture
def a_recording_browser(pixy, tmp_path):
    """A $BROWSER that only notes the address it is given: the person opens it on another device."""
    noted = tmp_path / "opened-url"
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "note-url", f'printf "%s" "$1" > "{noted}"\n'))
    return noted


@pytest.fixture
def claude_at_the_demo(pixy):
    """The Claude preset pointed at the embedded demo's Claude mode (its daemon started first)."""
    issuer = demo_issuer(pixy)
    write_providers(pixy, f'[[provider]]\nid = "claude"\nissuer = "{issuer}"\n'
                          f'authorization_endpoint = "{issuer}/oauth/authorize"\n'
                          f'token_endpoint = "{issuer}/v1/oauth/token"\n'
                          f'paste_redirect_uri = "{issuer}/oauth/code/callback"\n')


def test_a_code_shown_by_the_providers_page_is_pasted_into_the_window(
        pixy, a_recording_browser, claude_at_the_demo, window):
    driver, display, _ = window
    row = 'li.provider[data-provider-id="claude"]'
    assert driver.wait_for(row, timeout=60), f"the Claude preset must be listed; the window shows:\n{driver.page_text()}"
    assert driver.click_first(f'{row} button[data-action="connect"]')
    assert driver.wait_for(f"{row} [data-paste-input]", timeout=30), \
        f"a provider whose page shows a code opens the paste field; the window shows:\n{driver.page_text()}"
    assert "Copy the code from your browser" in (driver.first_text(f"{row} .flow") or "")

    # The person signs in where the browser opened and copies the code the page shows.
    url = wait_until(lambda: a_recording_browser.exists() and a_recording_browser.read_text(), timeout=15)
    shown = code_on_page(copied_address(pixy, url))

    driver.type_into(f"{row} [data-paste-input]", "not a code")
    assert driver.click_first(f'{row} button[data-action="paste-submit"]')
    assert driver.wait_for(f"{row} [data-paste-reason]", timeout=15), driver.page_text()
    reason = driver.first_text(f"{row} [data-paste-reason]") or ""
    assert reason.startswith("Not used:") and "not a code" not in reason, reason
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-paste.png", indigo) is not None
    time.sleep(1)  # the first frame is painted before the page has loaded its lists
    screenshot(display, pixy.artifacts / "window-paste.png", window=str(names[0]))

    driver.type_into(f"{row} [data-paste-input]", shown)
    assert driver.click_first(f'{row} button[data-action="paste-submit"]')
    final = wait_until(lambda: flow_state(driver) if flow_state(driver) in ("connected", "error") else None,
                       timeout=30, interval=0.3)
    assert final == "connected", f"the pasted code links the account; the window shows:\n{driver.page_text()}"
    assert [a["provider"] for a in pixy.status_accounts()] == ["claude"]


@pytest.fixture
def a_provider_with_a_device_endpoint(pixy, oidc):
    meta = oidc.metadata
    write_providers(pixy, f'[[provider]]\nid = "tv"\nlabel = "Test OP"\nissuer = "{oidc.issuer}"\nclient_id = "pixy-test"\n'
                          f'scopes = ["openid", "email", "offline_access"]\n'
                          f'authorization_endpoint = "{meta["authorization_endpoint"]}"\n'
                          f'token_endpoint = "{meta["token_endpoint"]}"\n'
                          f'device_authorization_endpoint = "{meta["device_authorization_endpoint"]}"\n')
    return oidc


def test_a_device_code_is_shown_large_with_a_countdown_and_links_when_entered(
        pixy, a_provider_with_a_device_endpoint, window):
    driver, display, _ = window
    row = 'li.provider[data-provider-id="tv"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    assert driver.click_first(f'{row} button[data-action="connect-device"]'), "a device endpoint offers a code"
    assert driver.wait_for(f"{row} [data-user-code]", timeout=30), driver.page_text()
    user_code = driver.first_text(f"{row} [data-user-code]")
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", user_code or ""), user_code
    size = driver.script("return parseFloat(getComputedStyle(document.querySelector('[data-user-code]')).fontSize)")
    assert size >= 24, f"the code is shown large, not at {size}px"
    lines = driver.script("const r = document.createRange(); "
                          "r.selectNodeContents(document.querySelector('[data-user-code]')); "
                          "return r.getClientRects().length")
    assert lines == 1, f"the code is shown on one line, not broken over {lines}"
    countdown = wait_until(lambda: driver.first_text(f"{row} [data-countdown]"), timeout=5) or ""
    assert countdown.endswith("left"), countdown
    assert driver.first_text(f'{row} button[data-action="copy-code"]') == "Copy"
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-device.png", indigo) is not None
    time.sleep(1)  # the first frame is painted before the page has loaded its lists
    screenshot(display, pixy.artifacts / "window-device.png", window=str(names[0]))


    verification_uri = a_provider_with_a_device_endpoint.issuer + "/device"
    done = subprocess.run([sys.executable, str(APPROVE), "device", "approve", verification_uri, user_code],
                          env=pixy.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    final = wait_until(lambda: flow_state(driver) if flow_state(driver) in ("connected", "error") else None,
                       timeout=60, interval=0.5)
    assert final == "connected", driver.page_text()


@pytest.fixture
def grantex_at_the_demo(pixy):
    """The Grantex preset pointed at the embedded demo's Grantex contract, with no key kept yet."""
    forget_kept_grantex_key()
    grantex_at_demo(pixy)
    yield
    forget_kept_grantex_key()


def test_a_provider_that_needs_an_api_key_takes_it_in_the_window(pixy, grantex_at_the_demo, window):
    driver, display, _ = window
    row = 'li.provider[data-provider-id="grantex"]'
    assert driver.wait_for(f"{row} [data-api-key-input]", timeout=60), driver.page_text()
    assert driver.first_attribute(f"{row} [data-api-key-input]", "type") == "password", "the key is not shown"
    assert driver.click_first(f'{row} button[data-action="connect"]')
    time.sleep(0.5)
    assert flow_state(driver) is None, "Connect without the key asks for it rather than starting"
    assert driver.script("return document.activeElement.hasAttribute('data-api-key-input')"), "the field has focus"
    driver.type_into(f"{row} [data-api-key-input]", "demo-grantex-sandbox-key")
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-api-key.png", indigo) is not None
    time.sleep(1)  # the first frame is painted before the page has loaded its lists
    screenshot(display, pixy.artifacts / "window-api-key.png", window=str(names[0]))
    assert driver.click_first(f'{row} button[data-action="connect"]')
    final = wait_until(lambda: flow_state(driver) if flow_state(driver) in ("connected", "error") else None,
                       timeout=30, interval=0.3)
    assert final == "connected", driver.page_text()
    [account] = pixy.status_accounts()
    assert account["label"] == "alice for did:grantex:ag_demo_agent"
    assert wait_until(lambda: not driver.find_all(f"{row} [data-api-key-input]"), timeout=10), \
        "once kept, the key is not asked again"


@pytest.fixture
def an_mcp_server(pixy):
    from mcp_peers import SdkServer
    server = SdkServer(pixy.artifacts / "sdk-server.log")
    try:
        yield server
    finally:
        server.stop()


def test_an_mcp_server_is_added_by_its_address_and_its_chain_is_shown(pixy, an_mcp_server, window):
    driver, display, _ = window
    assert driver.wait_for("#resource-url", timeout=60), driver.page_text()
    driver.type_into("#resource-url", an_mcp_server.url)
    assert driver.click_first('button[data-action="add-by-url"]')
    final = wait_until(lambda: flow_state(driver) if flow_state(driver) in ("connected", "error") else None,
                       timeout=60, interval=0.3)
    assert final == "connected", f"the server is linked from its address alone; the window shows:\n{driver.page_text()}"
    account = f'li.account[data-account-id="localhost-{an_mcp_server.mcp_port}"]'
    assert driver.wait_for(f"{account} [data-chain]", timeout=15), driver.page_text()
    driver.click_first(f"{account} [data-chain] summary")
    chain = driver.first_text(f"{account} [data-chain]") or ""
    for shown in (an_mcp_server.url, "dynamic client registration", f"localhost:{an_mcp_server.auth_port}",
                  "mcp:tools"):
        assert shown in chain, f"{shown!r} is part of the chain the account shows: {chain!r}"
    assert driver.script("return document.querySelector('#resource-url').value") == "", "the field is cleared"
    driver.script(f"document.querySelector('{account}').scrollIntoView()")
    names = windows_named(display, "^Pixy$")
    assert names and wait_painted(display, names[0], pixy.artifacts / "window-mcp.png", indigo) is not None
    time.sleep(1)
    screenshot(display, pixy.artifacts / "window-mcp.png", window=str(names[0]))


def test_a_server_whose_metadata_names_another_resource_fails_at_that_step_in_the_window(pixy, window):
    from mcp_peers import ProtectedResource
    driver, display, _ = window
    resource = ProtectedResource()
    try:
        resource.serve_metadata({"resource": "https://evil.example/mcp", "authorization_servers": ["https://evil.example"]})
        assert driver.wait_for("#resource-url", timeout=60), driver.page_text()
        driver.type_into("#resource-url", resource.url)
        assert driver.click_first('button[data-action="add-by-url"]')
        final = wait_until(lambda: flow_state(driver) if flow_state(driver) in ("connected", "error") else None,
                           timeout=30, interval=0.3)
        assert final == "error", driver.page_text()
        failed = driver.script("return [...document.querySelectorAll('[data-step][data-ok=\"false\"]')]"
                               ".map(s => s.getAttribute('data-step'))")
        assert failed == ["resource metadata"], f"the step that failed is the one marked: {failed}"
        assert "another resource" in (driver.first_text("#by-url-flow") or "")
        assert not pixy.approve_marker.exists(), "no browser was opened"
        # The address field at the top, so the card's Add button (indigo) shows above the failed step.
        driver.script("document.querySelector('#resource-url').scrollIntoView({block: 'start'})")
        names = windows_named(display, "^Pixy$")
        assert names and wait_painted(display, names[0], pixy.artifacts / "window-mcp-error.png", indigo) is not None
        time.sleep(1)
        screenshot(display, pixy.artifacts / "window-mcp-error.png", window=str(names[0]))
    finally:
        resource.stop()


@pytest.fixture
def consent_in_the_window(pixy, desktop):
    """Consent on, with a short timeout, in a daemon with the window's display, whichever client
    starts it."""
    pixy.env["DISPLAY"] = desktop[1]
    pixy.env["PIXY_CONSENT_TIMEOUT"] = "10"
    pixy.allow_any = False


def test_a_program_s_question_is_answered_in_the_window_and_its_grant_revoked_there(
        pixy, consent_in_the_window, window, tmp_path):
    driver, display, _ = window
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    [account] = [a["id"] for a in pixy.status_accounts()]
    question = "#consent li.question"

    def answered_in_window(name, choice):
        agent = start_agent(pixy, tmp_path, name, account)
        assert driver.wait_for(question, timeout=30), f"the question shows:\n{driver.page_text()}"
        asked = driver.first_text(f"{question} .ask") or ""
        assert f"{name}.py wants a token for your account" in asked, asked
        assert str(tmp_path / f"{name}.py") in (driver.first_text(f"{question} [data-question-program]") or "")
        if choice == "once":
            names = windows_named(display, "^Pixy$")
            wait_painted(display, names[0], pixy.artifacts / "window-consent.png", indigo)
            time.sleep(1)
            screenshot(display, pixy.artifacts / "window-consent.png", window=str(names[0]))
        if choice:
            # A new question's buttons wait a moment, so a stray click cannot answer it.
            assert driver.wait_for(f'{question} [data-choice="{choice}"]:not([disabled])', timeout=10)
            driver.click_first(f'{question} [data-choice="{choice}"]')
        result = finish(agent)
        assert wait_until(lambda: not driver.find_all(question), timeout=15), "the answered question goes"
        return result

    code, token, err = answered_in_window("window_agent", "once")
    assert code == 0 and len(token) > 10, err
    code, _, err = answered_in_window("window_agent", "always")
    assert code == 0, "Allow once is not kept: asked again, then allowed always"
    grant = f'#grants li.grant[data-grant-account="{account}"]'
    assert driver.wait_for(grant, timeout=15), f"the grant is listed:\n{driver.page_text()}"
    again = finish(start_agent(pixy, tmp_path, "window_agent", account))
    assert again[0] == 0 and not driver.find_all(question), "an allowed program is not asked again"

    code, out, err = answered_in_window("denied_agent", "deny")
    assert code == 1 and out == "" and "you denied" in err, err
    code, out, err = answered_in_window("ignored_agent", None)
    assert code == 1 and "nobody answered within 10 s" in err, err

    used = f'li.account[data-account-id="{account}"] [data-recent-use] li'
    assert driver.wait_for(used, timeout=15), f"the account shows its recent use:\n{driver.page_text()}"
    recent = [e["text"] for e in [{"text": driver.first_text(used)}]]
    assert "ignored_agent.py was refused" in recent[0], recent
    driver.script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", f'li.account[data-account-id="{account}"]')
    time.sleep(0.5)
    screenshot(display, pixy.artifacts / "window-grants-and-recent-use.png", window=str(windows_named(display, "^Pixy$")[0]))

    driver.click_first(f'{grant} [data-action="revoke-grant"]')
    assert wait_until(lambda: not driver.find_all(grant), timeout=15), "the revoked grant goes from the list"
    listed = json.loads(pixy.run("grants", "--json").stdout)["grants"]
    assert listed == [], f"and from the daemon: {listed}"


def test_refresh_now_renews_the_tokens_and_the_account_says_when_it_was_linked_and_refreshed(pixy, window):
    driver, display, _ = window
    assert pixy.run("link", "demo").returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    row = f'li.account[data-account-id="{account["id"]}"]'
    assert driver.wait_for(f"{row} [data-times]", timeout=30), f"the window follows the CLI:\n{driver.page_text()}"
    assert (driver.first_text(f"{row} [data-times]") or "").startswith("Linked just now")
    before = pixy.run("token", account["id"]).stdout.strip()
    time.sleep(1.2)  # a refresh in a later second than the link
    assert driver.click_first(f'{row} button[data-action="refresh"]')
    said = lambda: driver.first_text(f"{row} [data-times]") or ""
    assert wait_until(lambda: "refreshed just now" in said(), timeout=20), f"the account says it: {said()!r}"
    after = pixy.run("token", account["id"]).stdout.strip()
    assert after and after != before, "Refresh now brought a new access token"
    assert driver.first_text(f"{row} [data-badge]") == "Connected"
    [shown] = windows_named(display, "^Pixy$")
    assert wait_painted(display, shown, pixy.artifacts / "window-refreshed.png", indigo) is not None
    time.sleep(1)
    screenshot(display, pixy.artifacts / "window-refreshed.png", window=str(shown))
