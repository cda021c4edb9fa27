"""Each state a person meets in the real window (Tauri on WebKitGTK, under Xvfb, over WebDriver):
adding a provider by its issuer and connecting it, declining in the browser, a browser that will
not open and Cancel, Disconnect with what it revokes, a keyring that is not there, and an account
that needs relinking, seen in the window, the tray and a notification at once. Each state is kept
as a screenshot in the test's artifacts."""

import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from agents import browser_script
from conftest import APPROVE, KEYRING_SERVICE, oidc_link_args, pixy_keyring_items, write_providers
from desktop import indigo, screenshot, wait_painted, wait_until, windows_named
from windows import axe_violations, desktop, flow_state, record_ipc, recorded_ipc, window  # noqa: F401


def shoot(pixy, display, name):
    """A screenshot of the Pixy window as it is now, kept as `name`.png in the artifacts."""
    [shown] = windows_named(display, "^Pixy$")
    path = pixy.artifacts / f"{name}.png"
    assert wait_painted(display, shown, path, indigo) is not None, "the window must show its UI on screen"
    time.sleep(0.8)  # the page paints before its lists and panels settle
    screenshot(display, path, window=str(shown))
    return path


def settled_flow(driver, timeout=90):
    return wait_until(lambda: flow_state(driver) if flow_state(driver) in ("connected", "error") else None,
                      timeout=timeout, interval=0.3)


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def set_value(driver, css, text):
    """Replaces a field's text (typed key by key, as a person does, after it is cleared)."""
    driver.script("const e = document.querySelector(arguments[0]); e.value = ''; "
                  "e.dispatchEvent(new Event('input'))", css)
    if text:
        driver.type_into(css, text)


@pytest.fixture
def a_browser_that_approves_and_notes_the_address(pixy, tmp_path):
    noted = tmp_path / "authorization-url"
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "approve-noting", f'printf %s "$1" > "{noted}"\n'
                                                                           f'exec "{APPROVE}" "$1"\n'))
    return noted


@pytest.fixture
def providers_file_with_a_comment(pixy):
    return write_providers(pixy, "# Providers of this machine, kept by hand.\n")


def test_a_provider_added_by_its_issuer_connects_and_no_secret_crosses_into_the_page(
        pixy, oidc, a_browser_that_approves_and_notes_the_address, providers_file_with_a_comment, window):
    driver, display, _ = window
    assert driver.wait_for('li.provider[data-provider-id="demo"]', timeout=60), driver.page_text()
    record_ipc(driver)

    # An address Pixy would never send a secret to is refused beside its field.
    driver.type_into("#issuer", "ftp://id.example.com")
    assert driver.click_first('[data-action="discover"]')
    issuer_error = '[data-error-for="issuer"]:not([hidden])'
    assert driver.wait_for(issuer_error, timeout=10), "a wrong address is said beside its field"
    assert "https://" in driver.first_text(issuer_error)

    set_value(driver, "#issuer", oidc.issuer)
    assert driver.click_first('[data-action="discover"]')
    assert driver.wait_for("[data-found]", timeout=30), f"discovery shows what it found:\n{driver.page_text()}"
    found = driver.first_text("[data-found]")
    assert oidc.metadata["token_endpoint"] in found and oidc.metadata["authorization_endpoint"] in found, found
    assert driver.first_attribute("[data-pkce]", "data-pkce") == "true", "oidc-provider supports S256"
    iss = oidc.metadata.get("authorization_response_iss_parameter_supported", False)
    assert driver.first_attribute("[data-iss]", "data-iss") == str(bool(iss)).lower(), "iss support is shown as it is"
    assert driver.script("return document.activeElement.id") == "provider-client-id", \
        "the client id, the one thing discovery cannot suggest, takes the focus"
    shoot(pixy, display, "state-add-provider-found")

    # Saved without a client id: the problem is said beside that field, and nothing is written.
    before = providers_file_with_a_comment.read_text()
    assert driver.click_first('[data-action="save-provider"]')
    client_error = '[data-error-for="client_id"]:not([hidden])'
    assert driver.wait_for(client_error, timeout=15), f"the missing client id is said:\n{driver.page_text()}"
    assert driver.first_attribute("#provider-client-id", "aria-invalid") == "true"
    assert providers_file_with_a_comment.read_text() == before, "nothing is saved while a field is wrong"
    shoot(pixy, display, "state-add-provider-invalid")

    driver.type_into("#provider-client-id", "pixy-test")
    set_value(driver, "#provider-id", "test-idp")
    set_value(driver, "#provider-label", "Test IdP")
    assert driver.click_first('[data-action="save-provider"]')
    row = 'li.provider[data-provider-id="test-idp"]'
    assert driver.wait_for(row, timeout=30), f"the provider is listed once saved:\n{driver.page_text()}"
    saved = providers_file_with_a_comment.read_text()
    assert saved.startswith(before), f"what the file held is kept as it was:\n{saved}"
    assert 'id = "test-idp"' in saved and f'issuer = "{oidc.issuer}"' in saved and 'client_id = "pixy-test"' in saved

    assert driver.click_first(f'{row} [data-action="connect"]')
    assert settled_flow(driver) == "connected", f"the new provider links:\n{driver.page_text()}"
    [account] = [a for a in pixy.status_accounts() if a["provider"] == "test-idp"]
    assert "alice" in account["label"] and "offline_access" in account["scopes"], account
    assert driver.wait_for(f'li.account[data-account-id="{account["id"]}"]', timeout=15)
    shoot(pixy, display, "state-add-provider-connected")

    # Every payload that crossed between the page and the Rust side, searched for the secrets.
    log = recorded_ipc(driver)
    text = "\n".join(log)
    assert any("discover_provider" in line for line in log) and any("add_provider" in line for line in log), \
        f"the recorder saw the commands: {log[:5]}"
    assert account["id"] in text, "the recorder saw what came back"
    exchange = oidc.last_code_exchange()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        a_browser_that_approves_and_notes_the_address.read_text()).query))
    items = pixy_keyring_items(account["id"])
    secrets = {
        "code": exchange["code"],
        "verifier": exchange["code_verifier"],
        "state": query["state"],
        "challenge": query["code_challenge"],
        "access token": items["access_token"]["secret"],
        "refresh token": items["refresh_token"]["secret"],
    }
    assert all(secrets.values()), "each secret was found to search for"
    crossed = [name for name, value in secrets.items() if value in text]
    assert not crossed, f"never in an IPC payload: {crossed}"


@pytest.fixture
def a_browser_where_the_person_declines(pixy, tmp_path):
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "deny", f'PIXY_APPROVE_DECISION=deny exec "{APPROVE}" "$1"\n'))


def test_connect_and_decline_in_the_browser_says_so(pixy, a_browser_where_the_person_declines, window):
    driver, display, _ = window
    row = 'li.provider[data-provider-id="demo"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    assert driver.click_first(f'{row} [data-action="connect"]')
    assert settled_flow(driver) == "error", driver.page_text()
    assert driver.first_attribute("[data-flow-state]", "data-error-kind") == "access_denied"
    assert "You declined access" in driver.first_text("[data-flow-state]"), driver.page_text()
    assert pixy.status_accounts() == [], "nothing is linked"
    shoot(pixy, display, "state-declined")


@pytest.fixture
def a_browser_that_will_not_open(pixy, tmp_path):
    noted = tmp_path / "authorization-url"
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "broken-browser", f'printf %s "$1" > "{noted}"\nexit 3\n'))
    return noted


def test_a_browser_that_will_not_open_offers_the_link_and_cancel_frees_the_port(
        pixy, a_browser_that_will_not_open, window):
    driver, display, _ = window
    row = 'li.provider[data-provider-id="demo"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    assert driver.click_first(f'{row} [data-action="connect"]')
    said = lambda: driver.first_text('[data-flow-state="waiting"]') or ""
    assert wait_until(lambda: "could not be opened" in said(), timeout=30), f"the window says so: {said()!r}"
    assert wait_until(lambda: (driver.first_text("[data-countdown]") or "").endswith("left"), timeout=10), \
        "a countdown to the timeout"
    url = a_browser_that_will_not_open.read_text()
    port = urllib.parse.urlsplit(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["redirect_uri"]).port
    assert listening(port), "the loopback listener waits for the browser"

    assert driver.click_first('[data-action="copy-link"]')
    assert wait_until(lambda: driver.first_text('[data-action="copy-link"]') == "Link copied", timeout=10)
    pasted = subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=dict(os.environ, DISPLAY=display),
                            capture_output=True, text=True, timeout=10)
    assert pasted.stdout == url, "Copy link puts the whole sign-in link on the clipboard"
    shoot(pixy, display, "state-browser-failed")

    assert driver.click_first('[data-action="cancel"]')
    assert wait_until(lambda: flow_state(driver) is None, timeout=10), "Cancel goes back to idle"
    assert wait_until(lambda: not listening(port), timeout=15), "and the loopback port is released"
    assert driver.find_all(f'{row} [data-action="connect"]'), "the row has its Connect again"
    assert driver.first_attribute(f'{row} [data-action="connect"]', "disabled") is None, "and it works"


@pytest.fixture
def an_oidc_account(pixy, oidc):
    proc, events = pixy.run_json(*oidc_link_args(oidc.issuer), timeout=90)
    assert events and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    return events[-1]["account"]


def test_disconnect_says_what_it_revokes_then_revokes_at_the_provider(pixy, oidc, an_oidc_account, window):
    driver, display, _ = window
    account = an_oidc_account
    refresh_token = pixy_keyring_items(account["id"])["refresh_token"]["secret"]
    assert oidc.introspect(refresh_token)["active"] is True
    row = f'li.account[data-account-id="{account["id"]}"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    violations = axe_violations(driver)
    assert violations == [], f"the accessibility audit of the window with an account: {violations}"

    assert driver.click_first(f'{row} [data-action="disconnect"]')
    confirm = f'{row} [data-confirm]'
    assert driver.wait_for(confirm, timeout=10)
    words = driver.first_text(confirm)
    assert "127.0.0.1" in words and "refresh and access tokens" in words, f"it says what it revokes: {words!r}"
    assert driver.script("return document.activeElement.dataset.action") == "keep", "Keep, the safe choice, has the focus"
    shoot(pixy, display, "state-disconnect-confirm")
    violations = axe_violations(driver)
    assert violations == [], f"the accessibility audit of the confirmation: {violations}"
    assert driver.click_first(f'{confirm} [data-action="keep"]')
    assert wait_until(lambda: not driver.find_all(confirm), timeout=10), "Keep closes it"
    assert driver.script("return document.activeElement.dataset.action") == "disconnect", "the focus goes back"
    assert oidc.introspect(refresh_token)["active"] is True, "Keep revokes nothing"

    assert driver.click_first(f'{row} [data-action="disconnect"]')
    assert driver.click_first(f'{confirm} [data-action="confirm-disconnect"]')
    assert wait_until(lambda: not driver.find_all(row), timeout=30), "the account is gone"
    assert driver.wait_for('[data-empty="accounts"]', timeout=10), "the list says it is empty, and what to do"
    assert oidc.introspect(refresh_token)["active"] is False, "the refresh token is revoked at the provider"
    assert pixy_keyring_items(account["id"]) == {}, "and its secrets are gone from the keyring"
    shoot(pixy, display, "state-empty")


@pytest.fixture
def no_keyring(pixy, tmp_path):
    launches = tmp_path / "browser-launches"
    pixy.env["BROWSER"] = str(browser_script(tmp_path, "recorder", f'echo launched >> "{launches}"\n'))
    pixy.env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent"
    return launches


def test_a_keyring_that_is_not_there_is_said_before_any_browser_opens(pixy, no_keyring, window):
    driver, display, _ = window
    row = 'li.provider[data-provider-id="demo"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    assert driver.click_first(f'{row} [data-action="connect"]')
    assert settled_flow(driver, timeout=60) == "error", driver.page_text()
    assert driver.first_attribute("[data-flow-state]", "data-error-kind") == "keyring_unavailable"
    assert "No keyring is available" in driver.first_text("[data-flow-state]")
    assert not no_keyring.exists(), "no browser was opened"
    shoot(pixy, display, "state-no-keyring")


def copy_diagnostics(driver, display):
    """Clicks Copy diagnostics; returns (what the window said, the clipboard's text)."""
    said = lambda: driver.first_text("#diagnostics-said") or ""
    # The lists above fill first: a click aimed while they grow lands where the button was.
    assert driver.wait_for('li.provider[data-provider-id="demo"]', timeout=60), driver.page_text()
    assert driver.click_first("#copy-diagnostics")
    assert wait_until(lambda: said().startswith(("Diagnostics copied", "Nothing was copied")), timeout=30), said()
    pasted = subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=dict(os.environ, DISPLAY=display),
                            capture_output=True, text=True, timeout=10)
    return said(), pasted.stdout


def test_copy_diagnostics_puts_the_doctor_report_on_the_clipboard_and_no_secret(pixy, window):
    assert pixy.run("link", "demo", timeout=90).returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    driver, display, _ = window
    said, report = copy_diagnostics(driver, display)
    assert said == "Diagnostics copied. No problem found.", said
    assert report.startswith("Pixy doctor\n"), f"the report `pixy doctor` prints: {report[:200]!r}"
    for section in ("Keyring", "Providers", "Accounts", "Ports (127.0.0.1)"):
        assert f"\n{section}\n" in report, f"the report has its {section} section"
    assert "unlocked   yes" in report and account["id"] in report, report
    secrets = [item["secret"] for item in pixy_keyring_items(account["id"]).values() if item["secret"]]
    assert secrets, "the account's tokens are in the keyring to look for"
    assert not any(secret in report for secret in secrets), "no token of the account is in the report"
    driver.script("document.querySelector('#diagnostics-said').scrollIntoView({block: 'end'})")
    shoot(pixy, display, "state-diagnostics-copied")


def test_copy_diagnostics_says_what_is_wrong_when_there_is_no_keyring(pixy, no_keyring, window):
    driver, display, _ = window
    said, report = copy_diagnostics(driver, display)
    assert said.startswith("Diagnostics copied. One problem found: the keyring cannot be reached"), said
    assert "start gnome-keyring or KeePassXC" in report, report
    assert driver.first_attribute("#diagnostics-said", "class") == "said small problem"


# ------------------------------------------------------------------------------------------------
# An account that needs relinking, on a desktop with a tray and a notification server


WATCHER = "org.kde.StatusNotifierWatcher"


def gdbus(*args):
    proc = subprocess.run(["gdbus", "call", "--session", *args], capture_output=True, text=True, timeout=15,
                          stdin=subprocess.DEVNULL)
    return proc.stdout if proc.returncode == 0 else ""


def tray_property(name):
    """A property of the (only) StatusNotifierItem registered, as gdbus prints it."""
    items = gdbus("--dest", WATCHER, "--object-path", "/StatusNotifierWatcher", "--method",
                  "org.freedesktop.DBus.Properties.Get", WATCHER, "RegisteredStatusNotifierItems")
    found = re.findall(r"'([^']+)'", items)
    if not found:
        return ""
    service, _, path = found[0].partition("/")
    return gdbus("--dest", service, "--object-path", "/" + path if path else "/StatusNotifierItem", "--method",
                 "org.freedesktop.DBus.Properties.Get", "org.kde.StatusNotifierItem", name)


def notifications(env):
    proc = subprocess.run(["dunstctl", "history"], env=env, capture_output=True, text=True, timeout=15)
    return [n["summary"]["data"] + " | " + n["body"]["data"] for n in json.loads(proc.stdout)["data"][0]]


@pytest.fixture
def a_desktop_with_tray_and_notices(pixy, desktop):
    """On the window's display: a StatusNotifier watcher and host, and dunst; started before the
    daemon, which registers its tray icon when it starts."""
    started, display = desktop
    env = dict(pixy.env, DISPLAY=display)
    started.start("status-notifier-watcher", ["status-notifier-watcher"], env=env)
    started.start("gtk-sni-tray", ["gtk-sni-tray-standalone", "--bottom", "--end", "--size", "40"], env=env)
    started.start("dunst", ["dunst"], env=env)
    assert wait_until(lambda: subprocess.run(["dunstctl", "is-paused"], env=env, capture_output=True).returncode == 0,
                      timeout=15), "dunst did not start"
    assert wait_until(lambda: "true" in gdbus("--dest", WATCHER, "--object-path", "/StatusNotifierWatcher",
                                              "--method", "org.freedesktop.DBus.Properties.Get", WATCHER,
                                              "IsStatusNotifierHostRegistered"), timeout=20)
    pixy.env["DISPLAY"] = display
    return env


@pytest.fixture
def an_account_with_short_lived_tokens(pixy, a_desktop_with_tray_and_notices, oidc_factory):
    server = oidc_factory(OIDC_ACCESS_TTL=6)
    proc, events = pixy.run_json(*oidc_link_args(server.issuer), timeout=90)
    assert events and events[-1]["event"] == "linked", f"{events}\n{proc.stderr}"
    return server, events[-1]["account"]


def test_an_account_that_needs_relinking_shows_in_the_window_the_tray_and_a_notice_and_reconnects(
        pixy, a_desktop_with_tray_and_notices, an_account_with_short_lived_tokens, window):
    driver, display, _ = window
    env = a_desktop_with_tray_and_notices
    server, account = an_account_with_short_lived_tokens
    row = f'li.account[data-account-id="{account["id"]}"]'
    assert driver.wait_for(f'{row}[data-status="connected"]', timeout=60), driver.page_text()
    assert wait_until(lambda: "Active" in tray_property("Status"), timeout=20), "the tray shows all is well"

    refresh_token = subprocess.run(
        ["secret-tool", "lookup", "service", KEYRING_SERVICE, "username", f"{account['id']}:refresh_token"],
        capture_output=True, text=True, timeout=30).stdout.strip()
    body = urllib.parse.urlencode({"token": refresh_token, "client_id": "pixy-test"}).encode()
    revoke = urllib.request.Request(server.metadata["revocation_endpoint"], data=body, method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(revoke, timeout=10) as answer:
        assert answer.status == 200, "the provider revoked the sign-in"

    geometry = lambda: driver.script(
        "const b = document.querySelector(arguments[0] + ' [data-badge]').getBoundingClientRect();"
        "const r = document.querySelector(arguments[0] + ' .row').getBoundingClientRect();"
        "return [b.left, b.width, r.height]", row)
    before = geometry()
    badge = lambda: driver.first_text(f"{row} [data-badge]")
    assert wait_until(lambda: badge() == "Needs relink", timeout=60), f"the window's badge: {badge()!r}"
    assert geometry() == before, f"nothing in the account's row moves when its status changes: {before} {geometry()}"
    assert wait_until(lambda: "NeedsAttention" in tray_property("Status"), timeout=15), tray_property("Status")
    assert "needs relinking" in tray_property("Title"), tray_property("Title")
    displayed = lambda: subprocess.run(["dunstctl", "count", "displayed"], env=env, capture_output=True,
                                       text=True, timeout=15).stdout.strip()
    assert wait_until(lambda: displayed() == "1", timeout=20), "the person is told, in one notification"
    time.sleep(1)
    screenshot(display, pixy.artifacts / "state-needs-relink-desktop.png")
    shoot(pixy, display, "state-needs-relink")
    time.sleep(4)
    assert displayed() == "1", "told once, though the schedule tries again"
    subprocess.run(["dunstctl", "close"], env=env, timeout=15)
    told = wait_until(lambda: [n for n in notifications(env) if "needs reconnecting" in n], timeout=10)
    assert told and len(told) == 1, f"the notification names what happened: {notifications(env)}"

    assert driver.click_first(f'{row} [data-action="reconnect"]')
    assert settled_flow(driver) == "connected", driver.page_text()
    assert wait_until(lambda: badge() == "Connected", timeout=30), f"reconnected: {badge()!r}"
    assert wait_until(lambda: "Active" in tray_property("Status"), timeout=20), "the tray is well again"
    [listed] = [a for a in pixy.status_accounts() if a["id"] == account["id"]]
    assert listed["status"] == "connected" and "offline_access" in listed["scopes"], \
        f"Reconnect asks for what the account had, the refresh token's scope too: {listed}"


@pytest.fixture
def a_linked_demo_account(pixy):
    assert pixy.run("link", "demo", timeout=90).returncode == 0, pixy.last.stderr
    [account] = pixy.status_accounts()
    return account


def test_the_window_stays_whole_at_200_percent_and_passes_the_accessibility_audit(
        pixy, a_linked_demo_account, window):
    driver, display, _ = window
    row = f'li.account[data-account-id="{a_linked_demo_account["id"]}"]'
    assert driver.wait_for(row, timeout=60), driver.page_text()
    violations = axe_violations(driver)
    assert violations == [], f"the accessibility audit of the window: {violations}"
    # The audit sees what it should: a button with no name is caught.
    driver.script("const b = document.createElement('button'); b.id = 'nameless'; document.body.append(b)")
    assert "button-name" in [v["id"] for v in axe_violations(driver)], "the audit must catch a nameless button"
    driver.script("document.getElementById('nameless').remove()")

    # Every control is reached with Tab, and shows where the keyboard is when it is.
    controls = driver.script("return [...document.querySelectorAll('button:not([disabled]), input, summary')]"
                             ".filter(e => e.offsetParent !== null).length")
    driver.script("document.activeElement && document.activeElement.blur()")
    stops = []
    for _ in range(controls + 3):
        driver.press_key("\ue004")  # Tab
        stops.append(driver.script(
            "const e = document.activeElement; const s = getComputedStyle(e);"
            "return [e.dataset.action || e.id || e.tagName, s.outlineStyle !== 'none' && s.outlineWidth !== '0px']"))
    reached = {name for name, _ in stops}
    assert len(reached) >= min(controls, 8) and {"connect", "disconnect", "issuer"} <= reached, \
        f"Tab walks the controls ({controls} of them): {stops}"
    unseen = sorted({name for name, shown in stops if not shown and name != "BODY"})
    assert not unseen, f"a control reached with Tab must show a visible outline: {unseen}"

    driver.script("document.documentElement.style.zoom = '2'")
    time.sleep(0.5)
    overflow = driver.script("""
        const page = document.documentElement;
        const overflows = e => {
          const box = e.getBoundingClientRect(), parent = e.parentElement.getBoundingClientRect();
          return e.scrollWidth > e.clientWidth + 1 || box.right > parent.right + 1 || box.left < parent.left - 1;
        };
        const cut = [...document.querySelectorAll('button, [data-badge], h2, label')]
          .filter(e => e.offsetParent !== null && overflows(e))
          .map(e => { const b = e.getBoundingClientRect(), p = e.parentElement.getBoundingClientRect();
                      return `${e.textContent.trim()} [${Math.round(b.left)}-${Math.round(b.right)} in ` +
                             `${Math.round(p.left)}-${Math.round(p.right)}, ${e.scrollWidth}/${e.clientWidth}]`; });
        const hidden = [...document.querySelectorAll('.who .name')]
          .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width < 80)
          .map(e => e.textContent.trim());
        return [page.scrollWidth - page.clientWidth, cut, hidden];""")
    assert overflow[0] <= 1, f"at 200% nothing is wider than the window ({overflow[0]} px too wide)"
    assert overflow[1] == [], f"at 200% no button, badge or heading is cut short: {overflow[1]}"
    assert overflow[2] == [], f"at 200% each name keeps room to be read: {overflow[2]}"
    driver.script("document.querySelector(arguments[0]).scrollIntoView()", row)
    shoot(pixy, display, "state-zoom-200")


@pytest.fixture
def a_dark_desktop(pixy):
    pixy.env["GTK_THEME"] = "Adwaita:dark"


def test_the_window_follows_a_dark_desktop_theme(pixy, a_dark_desktop, window):
    driver, display, _ = window
    assert driver.wait_for('li.provider[data-provider-id="demo"]', timeout=60), driver.page_text()
    assert driver.script("return matchMedia('(prefers-color-scheme: dark)').matches") is True, \
        "the page hears that the desktop is dark"
    background = driver.script("return getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(21, 22, 28)", f"and paints itself dark: {background}"
    violations = axe_violations(driver)
    assert violations == [], f"the accessibility audit of the dark window: {violations}"
    shoot(pixy, display, "state-dark")


def test_a_second_launch_brings_the_running_window_forward_on_the_account_it_names(
        pixy, a_linked_demo_account, window):
    driver, display, _ = window
    account = a_linked_demo_account["id"]
    assert driver.wait_for(f'li.account[data-account-id="{account}"]', timeout=60), driver.page_text()
    assert len(windows_named(display, "^Pixy$")) == 1
    second = subprocess.run([pixy.desktop_bin, "--account", account], env=dict(pixy.env, DISPLAY=display),
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, f"the second launch hands over and exits: {second.stderr}"
    assert driver.wait_for(f'li.account.focused[data-account-id="{account}"]', timeout=15), \
        "the running window shows the account the second launch named"
    time.sleep(1)
    assert len(windows_named(display, "^Pixy$")) == 1, "and no second window opened"
