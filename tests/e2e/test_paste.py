"""Linking by paste: the browser is on another machine, so the person copies the address it ended
on (or the code a provider's page shows) into `pixy link --paste`, while the loopback listener
keeps waiting too. Real CLI, real daemon, the embedded demo provider, the real keyring."""

import json
import socket
import subprocess
import urllib.parse

from conftest import copied_address


def test_a_pasted_address_links_after_junk_and_another_sign_ins_address_are_turned_away(pixy):
    link = subprocess.Popen([pixy.bin, "link", "demo", "--paste", "--no-browser", "--json"], env=pixy.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    authorize = json.loads(link.stdout.readline())
    assert authorize["event"] == "authorize"
    address = copied_address(pixy, authorize["url"])
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(address).query)["state"][0]
    foreign = address.replace(state, "x" * len(state))
    out, err = link.communicate(input=f"what is this\n{foreign}\n  '{address}'  \n", timeout=60)
    events = [authorize] + [json.loads(line) for line in out.splitlines() if line.strip()]
    kinds = [e["event"] for e in events]
    assert kinds.count("paste_rejected") == 2 and kinds[-1] == "linked", f"{kinds}\n{err}"
    reasons = [e["reason"] for e in events if e["event"] == "paste_rejected"]
    assert "another sign-in" in reasons[1], reasons
    assert not any(state in r or "what is this" in r for r in reasons), "a reason never quotes the paste"
    assert link.returncode == 0

    port = urllib.parse.urlsplit(address).port
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the listener closed once the paste won"
    assert [a["provider"] for a in pixy.status_accounts()] == ["demo"]
