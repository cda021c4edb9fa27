"""The official MCP conformance suite (@modelcontextprotocol/conformance), client side, against
the real `pixy`: its daemon in a private keyring session links each scenario's server through
tests/mcp/client.sh, which makes the MCP calls with curl and `pixy token`.

Every scenario of the auth, backcompat and draft suites passes with no warning; the extension
scenarios Pixy does not take on are the only expected failures (tests/mcp/expected-failures.yml),
and the suite itself says when one of them starts passing."""

import re

from mcp_peers import MCP, conformance

SUITES = {"auth": 14, "backcompat": 2, "draft": 3}


def scenario_results(proc):
    """{scenario: (passed, failed, warnings)} from the suite summary."""
    found = re.findall(r"[✓✗] (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?", proc.stdout + proc.stderr)
    return {name: (int(p), int(f), int(w or 0)) for name, p, f, w in found}


def test_every_scenario_of_the_auth_backcompat_and_draft_suites_passes_without_a_warning(pixy):
    for suite, count in SUITES.items():
        proc = conformance(pixy, ["--suite", suite])
        results = scenario_results(proc)
        report = proc.stdout[-4000:] + proc.stderr[-4000:]
        assert len(results) == count, f"--suite {suite} ran {sorted(results)}, not {count} scenarios:\n{report}"
        bad = {name: r for name, r in results.items() if r[1] or r[2]}
        assert not bad, f"--suite {suite}: failures or warnings in {bad}:\n{report}"
        assert all(r[0] > 0 for r in results.values()), f"a scenario made no check at all: {results}"
        assert proc.returncode == 0, f"--suite {suite} exited {proc.returncode}:\n{report}"


def test_the_step_up_scenario_ends_with_one_account_holding_both_scopes(pixy):
    proc = conformance(pixy, ["--scenario", "auth/scope-step-up"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [account] = pixy.status_accounts()
    assert set(account["scopes"]) == {"mcp:basic", "mcp:write"}, account
    assert account["resource"]["registration"] == "dynamic", account["resource"]


def test_a_looping_client_gets_no_fourth_authorization(pixy):
    proc = conformance(pixy, ["--scenario", "auth/scope-retry-limit"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Client correctly limited retry attempts to 3" in proc.stdout + proc.stderr
    [stderr] = (pixy.artifacts / "conformance").rglob("stderr.txt")
    assert "will not open another sign-in" in stderr.read_text(), \
        "Pixy itself refused the fourth authorization, with words that say why"


def test_the_extension_scenarios_are_the_only_expected_failures(pixy):
    listed = (MCP / "expected-failures.yml").read_text()
    assert re.findall(r"^  - (\S+)$", listed, re.M) == [
        "auth/client-credentials-jwt", "auth/client-credentials-basic", "auth/cross-app-access-complete-flow"]
    # The suite exits non-zero for a listed scenario that passes (a stale entry) as well as for
    # one that fails without being listed.
    proc = conformance(pixy, ["--suite", "extensions"], expected_failures=MCP / "expected-failures.yml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
