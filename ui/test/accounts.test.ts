import { beforeEach, describe, expect, it, vi } from "vitest";

import type { AccountActions } from "../src/accounts";
import { badgeOf, disconnectWords, renderAccounts, timesOf } from "../src/accounts";
import type { Grant } from "../src/api";
import { account, NOW_MS, provider, waiting } from "./fixtures";

function actions(): AccountActions {
  return {
    confirmDisconnect: vi.fn(),
    disconnect: vi.fn(),
    reconnect: vi.fn(),
    refresh: vi.fn(),
    cancel: vi.fn(),
    dismiss: vi.fn(),
    openPaste: vi.fn(),
    submitPaste: vi.fn(),
    copy: vi.fn(),
    copyLink: vi.fn(),
  };
}

const grant = (program: string): Grant => ({ program, account: "work-1a2b3c4d", grantedAt: 0, lastUsed: null });

describe("the status badge", () => {
  it("says each status in words, with a tone to match", () => {
    expect(badgeOf(account(), NOW_MS)).toEqual({ text: "Connected", tone: "ok" });
    expect(badgeOf(account({ status: "refreshing" }), NOW_MS)).toEqual({ text: "Refreshing", tone: "busy" });
    expect(badgeOf(account({ status: "needs_relink" }), NOW_MS)).toEqual({ text: "Needs relink", tone: "warn" });
    expect(badgeOf(account({ status: "error" }), NOW_MS)).toEqual({ text: "Error", tone: "bad" });
  });

  it("counts down an access token Pixy cannot renew, and not one it renews", () => {
    const in12min = NOW_MS / 1000 + 12 * 60 + 5;
    expect(badgeOf(account({ hasRefreshToken: false, expiresAt: in12min }), NOW_MS).text).toBe("Expires in 12 min");
    expect(badgeOf(account({ hasRefreshToken: true, expiresAt: in12min }), NOW_MS).text).toBe("Connected");
    expect(badgeOf(account({ hasRefreshToken: false, expiresAt: NOW_MS / 1000 - 1 }), NOW_MS).text).toBe("Expired");
    expect(badgeOf(account({ hasRefreshToken: false, expiresAt: null }), NOW_MS).text).toBe("Connected");
  });
});

describe("what Disconnect says it will do", () => {
  it("names where it revokes, which tokens, and the programs that lose access", () => {
    expect(disconnectWords(account(), "Work SSO", 0)).toBe(
      "Pixy asks id.example.com to revoke its refresh and access tokens, then deletes them from your keyring.",
    );
    expect(disconnectWords(account({ hasRefreshToken: false }), "Work SSO", 1)).toContain(
      "revoke its access token, then deletes them from your keyring. One program allowed to use it loses access.",
    );
    expect(disconnectWords(account(), "Work SSO", 3)).toContain("3 programs allowed to use it lose access.");
  });

  it("says plainly when the provider cannot revoke", () => {
    const words = disconnectWords(account({ revocationHost: null }), "Work SSO", 0);
    expect(words).toContain("Work SSO offers no way to revoke");
    expect(words).toContain("lapses when it expires");
  });
});

describe("the account list", () => {
  let list: HTMLUListElement;
  beforeEach(() => {
    document.body.innerHTML = '<ul id="accounts"></ul>';
    list = document.querySelector("ul")!;
  });

  it("has a clear empty state that says what to do", () => {
    renderAccounts(list, [], [provider()], [], null, { phase: "idle" }, actions());
    const empty = list.querySelector("[data-empty=accounts]")!;
    expect(empty.textContent).toContain("No accounts linked yet.");
    expect(empty.textContent).toContain("Connect");
  });

  it("shows the provider, the scopes, the badge and the three actions of each account", () => {
    renderAccounts(list, [account()], [provider()], [], null, { phase: "idle" }, actions());
    const row = list.querySelector("li.account")!;
    expect(row.querySelector(".provider-name")!.textContent).toBe("Work SSO");
    expect(row.querySelector("[data-scopes]")!.textContent).toBe("Scopes: openid offline_access");
    expect(row.querySelector("[data-badge]")!.getAttribute("aria-label")).toBe("Status: Connected");
    const labels = [...row.querySelectorAll("button")].map((b) => b.textContent);
    expect(labels).toEqual(["Refresh now", "Reconnect", "Disconnect"]);
  });

  it("leads with Reconnect, and no Refresh now, for an account that needs the person", () => {
    const needing = account({ status: "needs_relink", reason: "The provider refused the refresh token; link it again" });
    renderAccounts(list, [needing], [provider()], [], null, { phase: "idle" }, actions());
    expect(list.querySelector("[data-action=refresh]")).toBeNull();
    expect(list.querySelector("[data-action=reconnect]")!.className).toBe("primary");
    expect(list.querySelector("[data-reason]")!.textContent).toContain("link it again");
  });

  it("asks before disconnecting, with Keep and Escape to go back", () => {
    const act = actions();
    renderAccounts(list, [account()], [provider()], [grant("/usr/bin/git")], "work-1a2b3c4d", { phase: "idle" }, act);
    const confirm = list.querySelector("[data-confirm]")!;
    expect(confirm.getAttribute("role")).toBe("alertdialog");
    expect(confirm.textContent).toContain("Disconnect ada@example.com?");
    expect(confirm.textContent).toContain("One program allowed to use it loses access.");
    expect(list.querySelector("[data-action=disconnect]")).toBeNull();
    (confirm.querySelector("[data-action=keep]") as HTMLButtonElement).click();
    expect(act.confirmDisconnect).toHaveBeenCalledWith(null);
    confirm.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(act.confirmDisconnect).toHaveBeenCalledTimes(2);
    expect(act.disconnect).not.toHaveBeenCalled();
    (confirm.querySelector("[data-action=confirm-disconnect]") as HTMLButtonElement).click();
    expect(act.disconnect).toHaveBeenCalledWith(expect.objectContaining({ id: "work-1a2b3c4d" }));
  });

  it("shows a Reconnect's progress under its account", () => {
    const flow = waiting({ providerId: "@account:work-1a2b3c4d" });
    renderAccounts(list, [account()], [provider()], [], null, flow, actions());
    expect(list.querySelector("li.account [data-flow-state=waiting]")).not.toBeNull();
    expect((list.querySelector("[data-action=reconnect]") as HTMLButtonElement).disabled).toBe(true);
  });
});

describe("when an account was linked and refreshed", () => {
  it("says both, and how long the access token is good for", () => {
    expect(timesOf(account(), NOW_MS)).toBe("Linked 3 days ago · refreshed 10 min ago · token valid for 1 h");
    expect(timesOf(account({ obtainedAt: NOW_MS / 1000 - 3 * 86400 }), NOW_MS)).toBe(
      "Linked 3 days ago · token valid for 1 h",
    );
  });
});
