#!/usr/bin/env bash
# An MCP client whose tokens come from Pixy: the glue between an MCP server and `pixy`.
#
#   tests/mcp/client.sh SERVER_URL
#
# It speaks Streamable HTTP with curl: initialize, notifications/initialized, tools/list, then
# tools/call of the first tool. A 401 links the server with `pixy link URL --www-authenticate`
# (the challenge the server sent); a 403 insufficient_scope steps the account up with
# `pixy link ACCOUNT --www-authenticate`. Each call carries `pixy token ACCOUNT`. Pixy does the
# rest (discovery, registration, the browser, the refusal of a looping sign-in), so this script
# keeps no token of its own, and gives up as soon as a `pixy link` fails.
#
# Environment: PIXY (the pixy binary; default: pixy on PATH); MCP_CONFORMANCE_CONTEXT, whose
# client_id/client_secret are a pre-registered client; PIXY_CLIENT_METADATA_URL, Pixy's Client ID
# Metadata Document. With BROWSER unset, the authorization URL is opened by a plain GET that
# follows the redirect to Pixy's listener (an authorization server that approves at once).
# Tool results go to stdout, one JSON line per call; what happens goes to stderr.
set -uo pipefail

url="${1:?usage: client.sh SERVER_URL}"
pixy="${PIXY:-pixy}"
export BROWSER="${BROWSER:-curl --silent --output /dev/null --location --max-redirs 3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

account=""
token=""
session=""
status=""
challenge=""

log() { echo "client.sh: $*" >&2; }

json_get() { # JSON_TEXT PYTHON_EXPR  -> prints the expression over the parsed value `v`
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# The last JSON-RPC message of a response body, JSON or server-sent events.
message_of() {
    python3 - "$1" <<'EOF'
import json, sys
body = open(sys.argv[1], encoding="utf-8", errors="replace").read()
messages = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")] or [body]
messages = [m for m in messages if m.strip()]
print(messages[-1] if messages else "{}")
EOF
}

post() { # JSON  -> sets status, challenge; body in $work/body
    local headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
    [[ -n "$token" ]] && headers+=(-H "Authorization: Bearer $token")
    [[ -n "$session" ]] && headers+=(-H "Mcp-Session-Id: $session")
    [[ -n "$session$token" ]] && headers+=(-H 'MCP-Protocol-Version: 2025-11-25')
    status="$(curl --silent --show-error --output "$work/body" --dump-header "$work/headers" \
        --write-out '%{http_code}' --max-time 30 -X POST "${headers[@]}" --data "$1" "$url")" || status=000
    challenge="$(grep -i '^www-authenticate:' "$work/headers" | head -n1 | cut -d: -f2- | sed 's/^ *//' | tr -d '\r')"
    local id
    id="$(grep -i '^mcp-session-id:' "$work/headers" | head -n1 | cut -d: -f2- | tr -d ' \r')"
    [[ -n "$id" ]] && session="$id"
    return 0
}

link() { # TARGET [ARGS...]  -> sets account
    local args=(link "$@" --json)
    [[ -n "$challenge" ]] && args+=(--www-authenticate "$challenge")
    local secret=""
    if [[ -n "${MCP_CONFORMANCE_CONTEXT:-}" && "$1" == http* ]]; then
        local id
        id="$(json_get "$MCP_CONFORMANCE_CONTEXT" 'v.get("client_id", "")')"
        secret="$(json_get "$MCP_CONFORMANCE_CONTEXT" 'v.get("client_secret", "")')"
        [[ -n "$id" ]] && args+=(--client-id "$id")
    fi
    local answer linked failure
    [[ -n "$secret" ]] && export PIXY_CLIENT_SECRET="$secret"
    answer="$("$pixy" "${args[@]}")"
    linked="$(grep '"event":"linked"' <<<"$answer")"
    if [[ -z "$linked" ]]; then
        failure="$(grep '"event":"error"' <<<"$answer" | head -n1)"
        [[ -n "$failure" ]] && failure="$(json_get "$failure" 'v["message"]')"
        log "pixy link $1 failed: ${failure:-no answer}; giving up"
        exit 1
    fi
    account="$(json_get "$linked" 'v["account"]["id"]')"
    # A test client nobody watches: it lets every program have the account, as CI set-ups choose.
    "$pixy" grants allow --program any --account "$account" >/dev/null || { log "pixy grants allow failed"; exit 1; }
    token="$("$pixy" token "$account")" || { log "pixy token $account failed"; exit 1; }
    log "linked $account"
}

# One JSON-RPC call, signing in or stepping up as the server asks; the result message goes to
# $work/result (not to stdout: a command substitution would lose what the call learnt).
call() { # JSON
    while true; do
        post "$1"
        case "$status" in
            2??)
                if [[ -s "$work/body" ]]; then message_of "$work/body" >"$work/result"; else echo '{}' >"$work/result"; fi
                return 0
                ;;
            401)
                log "401: linking $url"
                if [[ -n "$account" ]]; then link "$account"; else link "$url"; fi
                ;;
            403)
                if [[ "$challenge" != *insufficient_scope* ]]; then
                    log "403 without a step-up challenge; giving up"
                    exit 1
                fi
                log "403 insufficient_scope: stepping $account up"
                link "$account"
                ;;
            *)
                log "the server answered $status; giving up"
                exit 1
                ;;
        esac
    done
}

call '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"pixy-mcp-client","version":"1"}}}'
call '{"jsonrpc":"2.0","method":"notifications/initialized"}'
call '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
cat "$work/result"
tool="$(json_get "$(cat "$work/result")" '(v.get("result", {}).get("tools") or [{}])[0].get("name", "")')"
if [[ -n "$tool" ]]; then
    call "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"$tool\",\"arguments\":{}}}"
    cat "$work/result"
fi
