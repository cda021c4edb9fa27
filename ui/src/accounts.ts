// The linked accounts, each with its status and an Unlink that asks once more before it revokes.

import type { Account, Provider, ResourceChain, Use } from "./api";
import { ago, shortProgram } from "./consent";
import { el } from "./dom";
import { initial } from "./providers";

export interface AccountActions {
  /** First click arms the button; the second, while armed, unlinks. */
  unlink(accountId: string): void;
  reconnect(account: Account): void;
  refresh(account: Account): void;
}

export function renderAccounts(
  list: HTMLElement,
  accounts: Account[],
  providers: Provider[],
  armed: string | null,
  busy: boolean,
  actions: AccountActions,
): void {
  const providerLabel = new Map(providers.map((p) => [p.id, p.label]));
  const rows = accounts.map((account) => {
    const unlink = el(
      "button",
      {
        type: "button",
        class: armed === account.id ? "danger" : "ghost",
        "data-action": "unlink",
      },
      armed === account.id ? "Really unlink?" : "Unlink",
    );
    unlink.addEventListener("click", () => actions.unlink(account.id));
    // An account that needs the person says why under its row, with the way out beside it: the
    // row itself keeps room for the label and the status.
    let attention: HTMLElement | null = null;
    if (account.status !== "connected" && account.status !== "refreshing") {
      const reconnect = el(
        "button",
        { type: "button", class: "primary", "data-action": "reconnect", disabled: busy },
        "Reconnect",
      );
      reconnect.addEventListener("click", () => actions.reconnect(account));
      attention = el(
        "div",
        { class: "attention" },
        el("p", { class: "muted small reason" }, account.reason ?? ""),
        reconnect,
      );
    } else if (account.reason) {
      attention = el("div", { class: "attention" }, el("p", { class: "muted small reason" }, account.reason));
    }
    const refresh = el(
      "button",
      { type: "button", class: "ghost small-button", "data-action": "refresh", disabled: busy },
      "Refresh now",
    );
    refresh.addEventListener("click", () => actions.refresh(account));
    const times = el(
      "div",
      { class: "times muted small" },
      el("span", { "data-times": "" }, timesOf(account, Date.now())),
      account.status === "connected" || account.status === "refreshing" ? refresh : null,
    );
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
          // The status never shrinks: a long provider label gives way to it.
          el(
            "span",
            { class: "meta muted small" },
            el("span", { class: "provider-name" }, providerLabel.get(account.provider) ?? account.provider),
            el("span", { "aria-hidden": "true" }, "·"),
            el("span", { class: `status ${account.status}` }, account.statusText),
          ),
        ),
        unlink,
      ),
      attention,
      times,
      account.recentUse.length > 0 ? renderUse(account.recentUse) : null,
      account.resource ? renderChain(account.resource, account.scopes) : null,
    );
  });
  if (rows.length === 0) {
    rows.push(el("li", { class: "empty muted" }, "No accounts yet. Connect one above; the sign-in happens in your browser."));
  }
  list.replaceChildren(...rows);
}

/** "Linked 3 days ago · refreshed 5 min ago". */
export function timesOf(account: Account, now: number): string {
  const refreshed = `refreshed ${ago(account.obtainedAt, now)}`;
  if (account.linkedAt === null) return refreshed.charAt(0).toUpperCase() + refreshed.slice(1);
  if (account.obtainedAt <= account.linkedAt) return `Linked ${ago(account.linkedAt, now)}`;
  return `Linked ${ago(account.linkedAt, now)} · ${refreshed}`;
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
