// The window's only door to the Rust side: typed wrappers around the Tauri commands.
//
// This is the one file that imports @tauri-apps/api, so the rest of the UI is plain TypeScript
// that can be read (and tested) without Tauri. Every value crossing this door is metadata: the Rust
// side never sends a token, code, state, verifier or full authorization URL.

import { Channel, invoke } from "@tauri-apps/api/core";

/** A provider one can link, as the window shows it. */
export interface Provider {
  id: string;
  label: string;
  /** Host of the issuer, e.g. `id.example.com`. */
  host: string;
  /** The embedded demo provider: a fixture, never a real account. */
  demo: boolean;
  /** A built-in preset (Claude, ChatGPT, ...). */
  preset: boolean;
  /** Its page shows a code to paste here: no redirect comes back to Pixy. */
  pasteOnly: boolean;
  /** It can link with a device code (entered on another device). */
  device: boolean;
  /** It needs the developer's API key (Grantex) before it can link, and none is kept yet. */
  needsApiKey: boolean;
  /** Why its definition in providers.toml cannot be used: shown as broken, with no Connect. */
  problem?: string | null;
}

export type AccountStatus = "connected" | "refreshing" | "expired" | "needs_relink" | "error";

/** A linked account: who it is and whether it still works. */
export interface Account {
  id: string;
  provider: string;
  label: string;
  status: AccountStatus;
  /** The status in words, as the CLI and the tray say it. */
  statusText: string;
  reason?: string | null;
  /** When the access token expires, in seconds since the Unix epoch. */
  expiresAt: number | null;
  /** When the current tokens were obtained: linked, or last refreshed. */
  obtainedAt: number;
  /** When the account was linked, if known. */
  linkedAt: number | null;
  /** The scopes granted. */
  scopes: string[];
  /** The MCP server (or other protected resource) the account is for, when linked by its URL. */
  resource?: ResourceChain | null;
  /** Its latest token handouts and refusals, newest first. */
  recentUse: Use[];
  /** Pixy keeps a refresh token, so it renews the access token itself. */
  hasRefreshToken: boolean;
  /** The host Disconnect asks to revoke the tokens at; null when the provider cannot revoke. */
  revocationHost: string | null;
}

/** What an issuer's metadata offers, before it is added as a provider. */
export interface Found {
  issuer: string;
  authorizationEndpoint: string | null;
  tokenEndpoint: string | null;
  revocationEndpoint: string | null;
  deviceAuthorizationEndpoint: string | null;
  /** It supports PKCE with S256 (or lists no methods, and S256 is tried). */
  pkceS256: boolean;
  /** It lists its PKCE methods, so `pkceS256` is its own word. */
  pkceListed: boolean;
  /** It sends `iss` with its answers (RFC 9207), which Pixy then checks. */
  issParameter: boolean;
  /** Why Pixy cannot sign in there, if so. */
  problem: string | null;
  suggestedId: string;
  suggestedLabel: string;
  suggestedScopes: string[];
}

/** A provider to add: what the person entered. */
export interface NewProvider {
  id: string;
  label: string;
  issuer: string;
  clientId: string;
  scopes: string[];
}

/** One field's problem, shown next to that field. */
export interface FieldProblem {
  field: "id" | "label" | "issuer" | "client_id" | "scopes";
  message: string;
}

/** The provider as now listed, or why each wrong field is wrong (then nothing was saved). */
export interface Added {
  provider: Provider | null;
  problems: FieldProblem[];
}

/** One token handout or refusal, as the audit log keeps it: no token, ever. */
export interface Use {
  /** Seconds since the Unix epoch. */
  time: number;
  handedOut: boolean;
  /** The program that asked: its executable, and its script. */
  program: string;
  /** What allowed it: "program", "any", "once", "run", or "none". */
  grant: string;
}

/** A program asking for an account's tokens, waiting for the person's answer. */
export interface Question {
  id: number;
  /** The executable's path, and its script's. */
  program: string;
  /** The program by its file name, as a person knows it. */
  name: string;
  pid: number;
  account: string;
  label: string;
  scopes: string[];
  /** When it counts as denied, in seconds since the Unix epoch. */
  expiresAt: number;
}

export type Choice = "once" | "always" | "deny";

/** A program allowed to have an account's tokens without asking ("any": every program). */
export interface Grant {
  program: string;
  account: string;
  grantedAt: number;
  lastUsed: number | null;
}

/** Where the window was asked to open. */
export interface LaunchView {
  consent: boolean;
  account: string | null;
}

/** How Pixy reached a resource's tokens: nothing here is secret. */
export interface ResourceChain {
  /** The URL the person gave. */
  url: string;
  /** The resource the tokens are bound to (RFC 8707), if the server took the parameter. */
  boundTo: string | null;
  /** Where the resource's metadata was (none for an older MCP server). */
  metadataUrl: string | null;
  /** The authorization server's issuer. */
  authorizationServer: string;
  /** How Pixy's client was registered there, in words. */
  registration: string;
}

/** One step of finding a resource's authorization server, and how it went. */
export interface ChainStep {
  step: string;
  ok: boolean;
  detail: string;
}

export type ErrorKind =
  | "invalid_request"
  | "provider_config"
  | "discovery"
  | "keyring_unavailable"
  | "keyring_locked"
  | "access_denied"
  | "authorization_failed"
  | "timeout"
  | "cancelled"
  | "token_endpoint"
  | "resource_refused"
  | "needs_relink"
  | "consent_denied"
  | "network"
  | "listener"
  | "daemon_unavailable"
  | "internal";

/** What failed, as a kind the UI words for a person, and the daemon's own sentence. */
export interface PixyError {
  kind: ErrorKind;
  message: string;
}

/** Progress of a link flow, pushed while `connect` is pending. */
export type FlowEvent =
  | { event: "browser"; host: string; pasteOnly: boolean }
  | {
      event: "device";
      userCode: string;
      verificationUri: string;
      verificationUriComplete: string | null;
      expiresIn: number;
    }
  | { event: "pasteRejected"; reason: string }
  | { event: "waiting"; secondsLeft: number }
  | { event: "browserFailed" }
  | { event: "exchanging" }
  | ({ event: "step" } & ChainStep);

/** Tauri rejects with whatever the command's error serialised to, or with a bare string when the
 *  call never reached the command (a missing permission, a crashed backend): make both one shape. */
function asPixyError(raw: unknown): PixyError {
  return isPixyError(raw) ? raw : { kind: "internal", message: String(raw) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw asPixyError(raw);
  }
}

export function providers(): Promise<Provider[]> {
  return call("providers");
}

/** The linked accounts, and what was lost when the daemon read its account index, if anything. */
export interface Accounts {
  accounts: Account[];
  problem: string | null;
}

export function accounts(): Promise<Accounts> {
  return call("accounts");
}

/** Links an account with `providerId` in the browser, or with a device code when `device`;
 *  `apiKey` is the developer API key a provider needs (kept in the keyring from then on).
 *  Resolves with the account once the tokens are stored; `onEvent` hears the progress. */
export function connect(
  providerId: string,
  onEvent: (event: FlowEvent) => void,
  device = false,
  apiKey: string | null = null,
): Promise<Account> {
  const channel = new Channel<FlowEvent>();
  channel.onmessage = onEvent;
  return call("connect", { providerId, device, apiKey, onEvent: channel });
}

/** Signs the account in again (Reconnect), with its provider and the scopes it was granted.
 *  Resolves with the account once its new tokens are stored. */
export function reconnect(accountId: string, onEvent: (event: FlowEvent) => void): Promise<Account> {
  const channel = new Channel<FlowEvent>();
  channel.onmessage = onEvent;
  return call("reconnect", { accountId, onEvent: channel });
}

/** Links the MCP server (or other protected resource) whose address `target` is, or signs the
 *  account `target` names in to its server again, keeping its scopes. The daemon finds the
 *  server's sign-in and registers Pixy there: `onEvent` hears each step of that, then the flow's
 *  progress. */
export function connectResource(target: string, onEvent: (event: FlowEvent) => void): Promise<Account> {
  const channel = new Channel<FlowEvent>();
  channel.onmessage = onEvent;
  return call("connect_resource", { target, account: null, onEvent: channel });
}

/** Hands a pasted code (or `code#state`, or the redirect address) to the flow in progress. A
 *  rejection comes back as a `pasteRejected` event; a usable one ends the flow. */
export function paste(text: string): Promise<void> {
  return call("paste", { text });
}

/** Cancels the flow in progress, if any; its `connect` then rejects with `cancelled`. */
export function cancel(): Promise<void> {
  return call("cancel");
}

/** Refreshes the account's tokens now; resolves with the account as it is afterwards. */
export function refresh(accountId: string): Promise<Account> {
  return call("refresh", { accountId });
}

export function unlink(accountId: string): Promise<void> {
  return call("unlink", { accountId });
}

/** The consent questions waiting for an answer. */
export function questions(): Promise<Question[]> {
  return call("questions");
}

export function answer(question: number, choice: Choice): Promise<void> {
  return call("answer", { question, choice });
}

export function grants(): Promise<Grant[]> {
  return call("grants");
}

export function revokeGrant(program: string, account: string): Promise<void> {
  return call("revoke_grant", { program, account });
}

export function launchView(): Promise<LaunchView> {
  return call("launch_view");
}

/** Calls `onChange` when a later launch of the window asked for another view (the running window
 *  takes it over); `launchView()` then says which. */
export function onLaunchViewChanged(onChange: () => void): void {
  window.addEventListener("pixy-launch", onChange);
}

/** What the issuer at `issuer` offers. */
export function discoverProvider(issuer: string): Promise<Found> {
  return call("discover_provider", { issuer });
}

/** Adds the provider to providers.toml. */
export function addProvider(provider: NewProvider): Promise<Added> {
  return call("add_provider", {
    provider: {
      id: provider.id,
      label: provider.label,
      issuer: provider.issuer,
      client_id: provider.clientId,
      scopes: provider.scopes,
    },
  });
}

/** Puts the sign-in link of the flow in progress on the clipboard (it never reaches the page). */
export function copyLink(): Promise<void> {
  return call("copy_link");
}

/** What Copy diagnostics found: each problem of the report, in one line. */
export interface Diagnostics {
  problems: string[];
}

/** Puts the diagnostics report (what `pixy doctor` prints; no secret) on the clipboard. */
export function copyDiagnostics(): Promise<Diagnostics> {
  return call("copy_diagnostics");
}

/** Whether Pixy starts at login (in the tray): whether its login entry is there now. */
export function autostartEnabled(): Promise<boolean> {
  return call("autostart_enabled");
}

/** Adds or removes Pixy's login entry; resolves with whether it is there afterwards. */
export function setAutostart(enabled: boolean): Promise<boolean> {
  return call("set_autostart", { enabled });
}

export function isPixyError(value: unknown): value is PixyError {
  return !!value && typeof value === "object" && "kind" in value && "message" in value;
}
