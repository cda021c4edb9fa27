// The linked accounts, each with a status badge, when it was linked and refreshed, and its
// actions: Refresh now, Reconnect, and Disconnect, which first says what it will revoke.

import type { Account, Grant, Provider, ResourceChain, Use } from "./api";
import { ago, shortProgram } from "./consent";
import { el } from "./dom";
import { type Flow, type FlowActions, accountPanel, renderFlow } from "./flow";
import { initial } from "./providers";

export interface AccountActions extends FlowActions {
  /** Opens the confirmation under the account (null closes it). */
  confirmDisconnect(accountId: string | null): void;
  disconnect(account: Account): void;
  reconnect(account: Account): void;
  refresh(account: Account): void;
}

/** A healthy account without a refresh token shows how long it has left once this near. */
const EXPIRY_SHOWN_WITHIN_S = 24 * 3600;

export type BadgeTone = "ok" | "busy" | "warn" | "bad";

/** The status badge: its words and its tone. */
export function badgeOf(account: Account, nowMs: number): { text: string; tone: BadgeTone } {
  switch (account.status) {
    case "refreshing":
      return { text: "Refreshing", tone: "busy" };
    case "needs_relink":
      return { text: "Needs relink", tone: "warn" };
    case "error":
      return { text: "Error", tone: "bad" };
    case "expired":
      return { text: "Expired", tone: "warn" };
    case "connected": {
      // With a refresh token Pixy renews it: the account stays connected whatever the expiry.
      const left = account.expiresAt === null ? null : account.expiresAt - nowMs / 1000;
      if (!account.hasRefreshToken && left !== null && left < EXPIRY_SHOWN_WITHIN_S) {
        return left > 0 ? { text: `Expires in ${span(left)}`, tone: "warn" } : { text: "Expired", tone: "warn" };
      }
      return { text: "Connected", tone: "ok" };
    }
  }
}

/** `45 s`, `12 min`, `3 h`: a duration as a badge says it. */
export function span(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.floor(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

/** What Disconnect does to this account, said before it is done. */
export function disconnectWords(account: Account, providerLabel: string, grants: number): string {
  const token = account.hasRefreshToken ? "its refresh and access tokens" : "its access token";
  const revoke = account.revocationHost
    ? `Pixy asks ${account.revocationHost} to revoke ${token}, then deletes them from your keyring.`
    : `${providerLabel} offers no way to revoke a sign-in: Pixy deletes ${token} from your keyring, and the provider's copy lapses when it expires.`;
  const programs =
    grants === 0 ? "" : grants === 1 ? " One program allowed to use it loses access." : ` ${grants} programs allowed to use it lose access.`;
  return `${revoke}${programs}`;
}

export function renderAccounts(
  list: HTMLElement,
  accounts: Account[],
  providers: Provider[],
  grants: Grant[],
  confirming: string | null,
  flow: Flow,
  actions: AccountActions,
): void {
  const busy = flow.phase === "waiting";
  const providerLabel = new Map(providers.map((p) => [p.id, p.label]));
  const now = Date.now();
  const rows = accounts.map((account) => {
    const provider = providerLabel.get(account.provider) ?? account.provider;
    const needsPerson = account.status !== "connected" && account.status !== "refreshing";
    const button = (action: string, text: string, style: string, onClick: () => void, disabled = busy) => {
      const b = el(
        "button",
        { type: "button", class: style, "data-action": action, disabled, "aria-label": `${text}: ${account.label}` },
        text,
      );
      b.addEventListener("click", onClick);
      return b;
    };
    const badge = badgeOf(account, now);
    const actionsRow = el(
      "div",
      { class: "account-actions", role: "group", "aria-label": `Actions for ${account.label}` },
      account.status === "connected" || account.status === "refreshing"
        ? button("refresh", "Refresh now", "ghost", () => actions.refresh(account))
        : null,
      button("reconnect", "Reconnect", needsPerson ? "primary" : "ghost", () => actions.reconnect(account)),
      button("disconnect", "Disconnect", "ghost", () => actions.confirmDisconnect(account.id), false),
    );
    const held = grants.filter((g) => g.account === account.id).length;
    return el(
      "li",
      { class: "account", "data-account-id": account.id, "data-status": account.status },
      el(
        "div",
        { class: "row" },
        el("span", { class: "avatar", "aria-hidden": "true" }, initial(account.label)),
        el(
          "div",
          { class: "who" },
          el("span", { class: "name" }, account.label),
          el(
            "span",
            { class: "meta muted small" },
            el("span", { class: "provider-name" }, provider),
          ),
        ),
        // The badge keeps one width whatever it says, so nothing beside it moves when it changes.
        el(
          "span",
          { class: `badge ${badge.tone}`, "data-badge": "", role: "status", "aria-label": `Status: ${badge.text}` },
          badge.text,
        ),
      ),
      account.reason ? el("p", { class: "muted small reason", "data-reason": "" }, account.reason) : null,
      account.scopes.length > 0
        ? el("p", { class: "scopes muted small", "data-scopes": "" }, `Scopes: ${account.scopes.join(" ")}`)
        : null,
      el("p", { class: "times muted small", "data-times": "" }, timesOf(account, now)),
      account.recentUse.length > 0 ? renderUse(account.recentUse) : null,
      account.resource ? renderChain(account.resource, account.scopes) : null,
      confirming === account.id ? renderConfirm(account, provider, held, actions) : actionsRow,
      // Reconnect's progress, under the account it signs in again.
      flow.phase !== "idle" && flow.providerId === accountPanel(account.id) ? renderFlow(flow, actions) : null,
    );
  });
  if (rows.length === 0) {
    rows.push(
      el(
        "li",
        { class: "empty muted", "data-empty": "accounts" },
        el("strong", {}, "No accounts linked yet."),
        " Choose Connect beside a provider below: you sign in in your browser, and Pixy keeps the tokens in your keyring.",
      ),
    );
  }
  list.replaceChildren(...rows);
}

/** The confirmation that replaces the account's actions: what will be revoked, then Disconnect
 *  or Keep. Keep takes the focus, so Enter alone never disconnects. */
function renderConfirm(account: Account, provider: string, grants: number, actions: AccountActions): HTMLElement {
  const heading = `Disconnect ${account.label}?`;
  const keep = el("button", { type: "button", class: "ghost", "data-action": "keep" }, "Keep");
  keep.addEventListener("click", () => actions.confirmDisconnect(null));
  const go = el("button", { type: "button", class: "danger", "data-action": "confirm-disconnect" }, "Disconnect");
  go.addEventListener("click", () => actions.disconnect(account));
  const box = el(
    "div",
    { class: "confirm", role: "alertdialog", "aria-label": heading, "data-confirm": account.id },
    el("div", { class: "confirm-text" }, el("strong", {}, heading), el("span", { class: "small" }, disconnectWords(account, provider, grants))),
    el("div", { class: "account-actions" }, keep, go),
  );
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") actions.confirmDisconnect(null);
  });
  return box;
}

/** "Linked 3 days ago · refreshed 5 min ago · token valid for 52 min". */
export function timesOf(account: Account, now: number): string {
  const refreshed = `refreshed ${ago(account.obtainedAt, now)}`;
  let text: string;
  if (account.linkedAt === null) text = refreshed.charAt(0).toUpperCase() + refreshed.slice(1);
  else if (account.obtainedAt <= account.linkedAt) text = `Linked ${ago(account.linkedAt, now)}`;
  else text = `Linked ${ago(account.linkedAt, now)} · ${refreshed}`;
  const left = account.expiresAt === null ? null : account.expiresAt - now / 1000;
  if (account.status === "connected" && account.hasRefreshToken && left !== null && left > 0) {
    text += ` · token valid for ${span(left)}`;
  }
  return text;
}

/** The account's latest handouts: which program, when, and whether it got a token. */
function renderUse(uses: Use[]): HTMLElement {
  const now = Date.now();
  return el(
    "ul",
    { class: "recent muted small", "aria-label": "Recent use", "data-recent-use": "" },
    ...uses.map((use) =>
      el(
        "li",
        { title: use.program },
        el("span", { class: "program" }, shortProgram(use.program)),
        ` ${use.handedOut ? "got a token" : "was refused"} ${ago(use.time, now)}`,
      ),
    ),
  );
}

/** How Pixy reached an MCP server's tokens, folded away under its account. */
function renderChain(chain: ResourceChain, scopes: string[]): HTMLElement {
  const row = (term: string, value: string | null) =>
    value ? [el("dt", {}, term), el("dd", {}, value)] : [];
  return el(
    "details",
    { class: "chain small", "data-chain": "" },
    el("summary", { class: "muted" }, `MCP server ${chain.url}`),
    el(
      "dl",
      {},
      ...row("Server", chain.url),
      ...row("Tokens bound to", chain.boundTo ?? "not bound (the server refused the resource parameter)"),
      ...row("Resource metadata", chain.metadataUrl ?? "none (an older MCP server)"),
      ...row("Authorization server", chain.authorizationServer),
      ...row("Pixy's client", chain.registration),
      ...row("Scopes", scopes.length > 0 ? scopes.join(" ") : "none"),
    ),
  );
}
