// Accounts and providers as the daemon's views describe them, for the tests to vary.
import type { Account, Found, Provider } from "../src/api";
import { type Flow, waitingFor } from "../src/flow";

export const NOW_MS = Date.UTC(2026, 10, 30, 12, 0, 0);
const NOW = NOW_MS / 1000;

export function account(overrides: Partial<Account> = {}): Account {
  return {
    id: "work-1a2b3c4d",
    provider: "work",
    label: "ada@example.com",
    status: "connected",
    statusText: "connected",
    reason: null,
    expiresAt: NOW + 3600,
    obtainedAt: NOW - 600,
    linkedAt: NOW - 3 * 86400,
    scopes: ["openid", "offline_access"],
    resource: null,
    recentUse: [],
    hasRefreshToken: true,
    revocationHost: "id.example.com",
    ...overrides,
  };
}

export function provider(overrides: Partial<Provider> = {}): Provider {
  return {
    id: "work",
    label: "Work SSO",
    host: "id.example.com",
    demo: false,
    preset: false,
    pasteOnly: false,
    device: false,
    needsApiKey: false,
    problem: null,
    ...overrides,
  };
}

export function found(overrides: Partial<Found> = {}): Found {
  return {
    issuer: "https://id.example.com",
    authorizationEndpoint: "https://id.example.com/auth",
    tokenEndpoint: "https://id.example.com/token",
    revocationEndpoint: "https://id.example.com/revoke",
    deviceAuthorizationEndpoint: null,
    pkceS256: true,
    pkceListed: true,
    issParameter: true,
    problem: null,
    suggestedId: "example",
    suggestedLabel: "Example",
    suggestedScopes: ["openid", "email", "offline_access"],
    ...overrides,
  };
}

export type Waiting = Extract<Flow, { phase: "waiting" }>;

/** A flow waiting at id.example.com, as a link to the demo provider does. */
export function waiting(overrides: Partial<Waiting> = {}): Waiting {
  return { ...waitingFor("demo", 1, false), host: "id.example.com", ...overrides };
}
