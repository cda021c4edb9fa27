// A real OpenID Provider (oidc-provider) on 127.0.0.1 for Pixy's end-to-end tests.
//
// Usage: node server.mjs [PORT]        (or OIDC_PORT=PORT; 0 or nothing picks a free port)
// When it listens it prints one JSON line on stdout: {"issuer": "http://127.0.0.1:PORT"}.
//
// Environment:
//   OIDC_ACCESS_TTL   access-token lifetime in seconds (default 3600), for refresh tests
//   OIDC_REFRESH_TTL  refresh-token lifetime in seconds (default 14 days)
//   OIDC_REVOCATION_METADATA  where the revocation endpoint is published: "openid" (default: in
//                     OpenID discovery), "rfc8414" (only in /.well-known/oauth-authorization-server,
//                     as some providers do) or "none" (nowhere; the endpoint still answers)
//   OIDC_DEVICE_TTL   device-code lifetime in seconds (default 600, oidc-provider's), for tests
//                     where a device code expires
//   OIDC_TOKEN_DELAY_MS  hold every token-endpoint answer this many milliseconds after it is made
//                     (the grant is already issued, a refresh token already rotated), so a test
//                     can act while a response is on its way; counters.token_in_flight says how
//                     many are being held
//   OIDC_RESOURCES    space-separated URLs of protected resources (MCP servers) this provider issues
//                     tokens for. Set, it is an MCP authorization server: RFC 7591 dynamic
//                     registration (open) with RFC 7592 management, RFC 8707 resource indicators
//                     (an access token for a resource is a JWT whose `aud` is that resource, with
//                     scope mcp:tools), and a refresh token for every client that may refresh.
//
// Device Authorization Grant (RFC 8628): the device_authorization_endpoint (/device/auth) is in
// discovery; the person enters the user code at /device (verification_uri; the answer's
// verification_uri_complete carries the code), confirms or aborts, then signs in and consents as
// in the code flow. The answer has no `interval` and the token endpoint never answers slow_down:
// oidc-provider does neither, so clients poll at RFC 8628's default of 5 seconds. offline_access
// is kept for a device code (no prompt parameter there), so its tokens include a refresh token.
// An expired device code answers expired_token until 15 s (clock tolerance) past its lifetime,
// then invalid_grant: the store forgets it. The first showing of each device page prints an
// oidc-provider NOTICE line on stdout, after the issuer line.
//
// Clients:
//   pixy-test  native public client (PKCE required, as oidc-provider does for every public client),
//              redirect http://127.0.0.1/callback (any port matches for a native client); grants
//              authorization_code, refresh_token and urn:ietf:params:oauth:grant-type:device_code
//   rs         confidential client used by the tests to call the introspection endpoint
//
// Test-only routes (never part of a real provider):
//   GET /_test/counters  -> {"token_requests": {GRANT_TYPE: n}, "token_errors": {GRANT_TYPE: n},
//                            "revocations": n, "introspections": n, "token_in_flight": n}
//   POST /_test/hold-tokens, POST /_test/release-tokens -> from the first until the second, every
//                            token answer is held once made (counted in token_in_flight), so a test
//                            acts while one is on its way, however long that takes
//   GET /_test/last-code-exchange -> {"code": ..., "code_verifier": ...} of the latest
//                            authorization_code request, so a test can look for those secrets in
//                            Pixy's logs and output (they are never printed here)
//
// Errors of the token, revocation, introspection, userinfo, authorization and device endpoints are
// logged to stderr: oidc-provider answers with a generic message and keeps the cause for its log.
// Nothing here logs a code or token value.

import http from 'node:http';
import crypto from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const portArg = process.argv[2] ?? process.env.OIDC_PORT ?? '0';
const port = Number.parseInt(portArg, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.mjs: not a port: ${portArg}`);
  process.exit(2);
}

function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number.parseInt(raw, 10);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`server.mjs: ${name} must be a positive number of seconds, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const accessTtl = seconds('OIDC_ACCESS_TTL', 3600);
const refreshTtl = seconds('OIDC_REFRESH_TTL', 14 * 24 * 3600);
const deviceTtl = seconds('OIDC_DEVICE_TTL', 600);
const tokenDelayMs = Number.parseInt(process.env.OIDC_TOKEN_DELAY_MS ?? '0', 10);
if (!Number.isInteger(tokenDelayMs) || tokenDelayMs < 0) {
  console.error(`server.mjs: OIDC_TOKEN_DELAY_MS must be a number of milliseconds, got ${process.env.OIDC_TOKEN_DELAY_MS}`);
  process.exit(2);
}
const revocationMetadata = process.env.OIDC_REVOCATION_METADATA || 'openid';
const resources = (process.env.OIDC_RESOURCES ?? '').split(/\s+/).filter(Boolean);
if (!['openid', 'rfc8414', 'none'].includes(revocationMetadata)) {
  console.error(`server.mjs: OIDC_REVOCATION_METADATA must be openid, rfc8414 or none, got ${revocationMetadata}`);
  process.exit(2);
}

// A fresh signing key per run: nothing secret is committed, and no development keystore warning.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };

const counters = { token_requests: {}, token_errors: {}, revocations: 0, introspections: 0, token_in_flight: 0 };
let lastCodeExchange = {};
// POST /_test/hold-tokens: token answers are held (made, not sent) until POST /_test/release-tokens.
let holding = false;
const releaseHeld = [];

function bump(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

const configuration = {
  clients: [
    {
      client_id: 'pixy-test',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ],
      response_types: ['code'],
    },
    {
      client_id: 'rs',
      client_secret: 'rs-test-secret',
      grant_types: [],
      redirect_uris: [],
      response_types: [],
    },
  ],
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@pixy.test`, email_verified: true };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'email', 'offline_access'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  ttl: {
    AccessToken: accessTtl,
    AuthorizationCode: 60,
    DeviceCode: deviceTtl,
    IdToken: 3600,
    RefreshToken: refreshTtl,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: refreshTtl,
  },
};

if (resources.length > 0) {
  configuration.scopes.push('mcp:tools');
  Object.assign(configuration.features, {
    registration: { enabled: true },
    registrationManagement: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        if (!resources.includes(resourceIndicator)) throw new errors.InvalidTarget();
        return { scope: 'mcp:tools', audience: resourceIndicator, accessTokenFormat: 'jwt', accessTokenTTL: accessTtl };
      },
    },
  });
  configuration.issueRefreshToken = async (ctx, client) => client.grantTypeAllowed('refresh_token');
}

const server = http.createServer();

server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);

  // Where the revocation endpoint is published. The RFC 8414 document, when served, is the
  // provider's own discovery document.
  provider.use(async (ctx, next) => {
    const rfc8414 = ctx.method === 'GET' && ctx.path === '/.well-known/oauth-authorization-server';
    if (rfc8414 && revocationMetadata === 'rfc8414') {
      ctx.path = '/.well-known/openid-configuration';
      await next();
      return;
    }
    await next();
    if (ctx.oidc?.route === 'discovery' && revocationMetadata !== 'openid' && ctx.body) {
      const { revocation_endpoint: _, ...rest } = ctx.body;
      ctx.body = rest;
    }
  });

  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/_test/counters') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = counters;
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/_test/last-code-exchange') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = lastCodeExchange;
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/_test/hold-tokens') {
      holding = true;
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/_test/release-tokens') {
      holding = false;
      releaseHeld.splice(0).forEach((release) => release());
      ctx.status = 204;
      return;
    }
    await next();
    const route = ctx.oidc?.route;
    if (route === 'token' && (tokenDelayMs > 0 || holding)) {
      counters.token_in_flight += 1;
      try {
        if (holding) await new Promise((resolve) => releaseHeld.push(resolve));
        else await new Promise((resolve) => setTimeout(resolve, tokenDelayMs));
      } finally {
        counters.token_in_flight -= 1;
      }
    }
    if (route === 'token') {
      const grant = ctx.oidc.params?.grant_type ?? ctx.oidc.body?.grant_type ?? 'unknown';
      bump(counters.token_requests, grant);
      if (grant === 'authorization_code') {
        const params = ctx.oidc.params ?? {};
        lastCodeExchange = { code: params.code, code_verifier: params.code_verifier };
      }
      if (ctx.status >= 400) bump(counters.token_errors, grant);
      console.error(`token request grant_type=${grant} status=${ctx.status}`);
    } else if (route === 'revocation') {
      counters.revocations += 1;
      console.error(`revocation request status=${ctx.status}`);
    } else if (route === 'introspection') {
      counters.introspections += 1;
    }
  });

  const logError = (what) => (ctx, err) => {
    const detail = err.error_detail ? ` (${err.error_detail})` : '';
    console.error(`${what}: ${err.error ?? err.name}: ${err.error_description ?? err.message}${detail}`);
  };
  provider.on('grant.error', logError('token error'));
  provider.on('revocation.error', logError('revocation error'));
  provider.on('introspection.error', logError('introspection error'));
  provider.on('userinfo.error', logError('userinfo error'));
  provider.on('authorization.error', logError('authorization error'));
  provider.on('device_authorization.error', logError('device authorization error'));
  provider.on('code_verification.error', logError('device verification error'));
  provider.on('device_resume.error', logError('device verification error'));
  provider.on('server_error', logError('server error'));
  provider.on('grant.success', () => console.error('token granted'));
  provider.on('registration_create.success', (ctx, client) => console.error(`client registered: ${client.clientId}`));
  provider.on('registration_create.error', logError('registration error'));

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

server.on('error', (err) => {
  console.error(`server.mjs: ${err.message}`);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
