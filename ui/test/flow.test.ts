import { describe, expect, it, vi } from "vitest";

import { describe as describeError } from "../src/errors";
import { countdown, type FlowActions, renderFlow } from "../src/flow";
import { waiting } from "./fixtures";

function actions(): FlowActions {
  return { cancel: vi.fn(), dismiss: vi.fn(), openPaste: vi.fn(), submitPaste: vi.fn(), copy: vi.fn(), copyLink: vi.fn() };
}

describe("the link flow panel", () => {
  it("counts down to the timeout", () => {
    expect(countdown(null, 0)).toBe("");
    expect(countdown(125_000, 0)).toBe("2:05 left");
    expect(countdown(0, 5_000)).toBe("0:00 left");
  });

  it("waits for the browser with Cancel, Copy link and Paste code instead", () => {
    const act = actions();
    const panel = renderFlow(waiting(), act);
    expect(panel.dataset.flowState).toBe("waiting");
    expect(panel.textContent).toContain("Sign in at id.example.com");
    (panel.querySelector("[data-action=copy-link]") as HTMLButtonElement).click();
    expect(act.copyLink).toHaveBeenCalled();
    (panel.querySelector("[data-action=cancel]") as HTMLButtonElement).click();
    expect(act.cancel).toHaveBeenCalled();
    expect(panel.querySelector("[data-action=paste-open]")).not.toBeNull();
  });

  it("offers a device code instead where the provider has one", () => {
    const act = { ...actions(), useDevice: vi.fn() };
    const panel = renderFlow(waiting(), act);
    (panel.querySelector("[data-action=use-device]") as HTMLButtonElement).click();
    expect(act.useDevice).toHaveBeenCalled();
    expect(renderFlow(waiting(), actions()).querySelector("[data-action=use-device]")).toBeNull();
    expect(renderFlow(waiting({ byDevice: true }), act).querySelector("[data-action=use-device]")).toBeNull();
  });

  it("says when the browser could not be opened, and offers the link first", () => {
    const panel = renderFlow(waiting({ browserFailed: true }), actions());
    expect(panel.textContent).toContain("Your browser could not be opened");
    expect(panel.querySelector("[data-action=copy-link]")!.className).toBe("primary");
    const copied = renderFlow(waiting({ browserFailed: true, linkCopied: true }), actions());
    expect(copied.querySelector("[data-action=copy-link]")!.textContent).toBe("Link copied");
  });

  it("has no Cancel once the code is being exchanged", () => {
    const panel = renderFlow(waiting({ exchanging: true }), actions());
    expect(panel.textContent).toContain("Finishing up");
    expect(panel.querySelector("[data-action=cancel]")).toBeNull();
  });

  it("says a decline in the person's own words", () => {
    const error = { kind: "access_denied" as const, message: "the provider answered access_denied" };
    const panel = renderFlow({ phase: "error", providerId: "demo", error, steps: [] }, actions());
    expect(panel.getAttribute("role")).toBe("alert");
    expect(panel.textContent).toContain("You declined access");
    expect(describeError({ kind: "keyring_unavailable", message: "" })).toContain("No keyring is available");
  });
});
