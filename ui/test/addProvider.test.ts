// The Add provider form against a fake of api.ts: what the person sees at each step, and what is
// sent to the daemon.
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../src/api", () => ({
  discoverProvider: vi.fn(),
  addProvider: vi.fn(),
}));

import * as api from "../src/api";
import type { Found } from "../src/api";
import { AddProvider, parseScopes, renderFound } from "../src/addProvider";
import { found, provider } from "./fixtures";

const discoverProvider = vi.mocked(api.discoverProvider);
const addProvider = vi.mocked(api.addProvider);

function setUp() {
  document.body.innerHTML = `
    <form id="add-provider">
      <input id="issuer" />
      <button type="submit" data-action="discover">Look up</button>
      <p data-error-for="issuer" hidden></p>
    </form>
    <div id="details" hidden></div>
    <p id="said"></p>`;
  const onAdded = vi.fn();
  const form = new AddProvider(
    document.querySelector("form")!,
    document.querySelector("#details")!,
    document.querySelector("#said")!,
    onAdded,
  );
  const issuer = document.querySelector<HTMLInputElement>("#issuer")!;
  return { form, onAdded, issuer };
}

const $ = <T extends HTMLElement>(css: string) => document.querySelector<T>(css)!;

describe("Add provider", () => {
  beforeEach(() => {
    discoverProvider.mockReset();
    addProvider.mockReset();
  });

  it("refuses an address that is not http(s) beside its field, without asking the daemon", async () => {
    const { form, issuer } = setUp();
    issuer.value = "id.example.com";
    await form.discover();
    expect(discoverProvider).not.toHaveBeenCalled();
    expect($("[data-error-for=issuer]").hidden).toBe(false);
    expect($("[data-error-for=issuer]").textContent).toContain("https://");
    expect(issuer.getAttribute("aria-invalid")).toBe("true");
  });

  it("says why discovery failed beside the address", async () => {
    const { form, issuer } = setUp();
    discoverProvider.mockRejectedValue({ kind: "discovery", message: "no OpenID or OAuth metadata at this address" });
    issuer.value = "https://nothing.example.com";
    await form.discover();
    expect($("[data-error-for=issuer]").textContent).toBe("No OpenID or OAuth metadata at this address.");
    expect($("#details").hidden).toBe(true);
  });

  it("shows what the issuer offers, fills in the suggestions and asks for the client id", async () => {
    const { form, issuer } = setUp();
    discoverProvider.mockResolvedValue(found());
    issuer.value = " https://id.example.com ";
    await form.discover();
    expect(discoverProvider).toHaveBeenCalledWith("https://id.example.com");
    const shown = $("[data-found]").textContent!;
    expect(shown).toContain("https://id.example.com/token");
    expect($("[data-pkce]").dataset.pkce).toBe("true");
    expect($<HTMLInputElement>("#provider-id").value).toBe("example");
    expect($<HTMLInputElement>("#provider-scopes").value).toBe("openid email offline_access");
    expect(document.activeElement?.id).toBe("provider-client-id");
  });

  it("offers no form for an issuer Pixy cannot sign in at", async () => {
    const { form, issuer } = setUp();
    discoverProvider.mockResolvedValue(found({ pkceS256: false, problem: "it does not support PKCE with S256" }));
    issuer.value = "https://old.example.com";
    await form.discover();
    expect($("[data-found-problem]").textContent).toContain("PKCE with S256");
    expect(document.querySelector("#provider-fields")).toBeNull();
  });

  it("shows each field's problem beside it and keeps what was typed", async () => {
    const { form, issuer, onAdded } = setUp();
    discoverProvider.mockResolvedValue(found());
    issuer.value = "https://id.example.com";
    await form.discover();
    addProvider.mockResolvedValue({
      provider: null,
      problems: [
        { field: "client_id", message: "Enter the client id." },
        { field: "id", message: "another provider already uses this id." },
      ],
    });
    $<HTMLButtonElement>("[data-action=save-provider]").click();
    await vi.waitFor(() => expect($("[data-error-for=client_id]").hidden).toBe(false));
    expect($("[data-error-for=client_id]").textContent).toBe("Enter the client id.");
    expect($("[data-error-for=id]").textContent).toContain("already uses");
    expect($<HTMLInputElement>("#provider-client-id").getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement?.id).toBe("provider-client-id");
    expect($<HTMLInputElement>("#provider-id").value).toBe("example");
    expect(onAdded).not.toHaveBeenCalled();
    // Typing in a field clears its problem.
    $<HTMLInputElement>("#provider-client-id").dispatchEvent(new Event("input"));
    expect($("[data-error-for=client_id]").hidden).toBe(true);
  });

  it("sends what was entered, then says it was added and closes", async () => {
    const { form, issuer, onAdded } = setUp();
    discoverProvider.mockResolvedValue(found());
    issuer.value = "https://id.example.com";
    await form.discover();
    $<HTMLInputElement>("#provider-client-id").value = "pixy-desktop";
    $<HTMLInputElement>("#provider-scopes").value = "openid, email  openid";
    const added = provider({ id: "example", label: "Example" });
    addProvider.mockResolvedValue({ provider: added, problems: [] });
    $<HTMLButtonElement>("[data-action=save-provider]").click();
    await vi.waitFor(() => expect(onAdded).toHaveBeenCalledWith(added));
    expect(addProvider).toHaveBeenCalledWith({
      id: "example",
      label: "Example",
      issuer: "https://id.example.com",
      clientId: "pixy-desktop",
      scopes: ["openid", "email"],
    });
    expect($("#said").textContent).toBe("Added Example. Connect it above.");
    expect($("#details").hidden).toBe(true);
    expect(issuer.value).toBe("");
  });
});

describe("Add provider while the address changes", () => {
  beforeEach(() => {
    discoverProvider.mockReset();
    addProvider.mockReset();
  });

  it("ignores an answer for an address no longer in the field", async () => {
    const { form, issuer } = setUp();
    let answer: (value: Found) => void = () => undefined;
    discoverProvider.mockReturnValue(new Promise((resolve) => (answer = resolve)));
    issuer.value = "https://old.example.com";
    const looking = form.discover();
    issuer.value = "https://new.example.com";
    answer(found({ issuer: "https://old.example.com" }));
    await looking;
    expect(document.querySelector("[data-found]")).toBeNull();
  });

  it("keeps the client id typed, and saves the address that was looked up", async () => {
    const { form, issuer } = setUp();
    discoverProvider.mockResolvedValue(found());
    issuer.value = "https://id.example.com";
    await form.discover();
    $<HTMLInputElement>("#provider-client-id").value = "pixy-desktop";
    issuer.value = "https://id2.example.com";
    issuer.dispatchEvent(new Event("input"));
    expect(document.querySelector("[data-found]")).toBeNull();
    await form.discover();
    expect($<HTMLInputElement>("#provider-client-id").value).toBe("pixy-desktop");
    addProvider.mockResolvedValue({ provider: null, problems: [{ field: "id", message: "taken." }] });
    issuer.value = "https://id2.example.com ";
    $<HTMLButtonElement>("[data-action=save-provider]").click();
    await vi.waitFor(() => expect(addProvider).toHaveBeenCalled());
    expect(addProvider.mock.calls[0][0].issuer).toBe("https://id2.example.com");
  });
});

describe("parts of the form", () => {
  it("reads scopes however they are separated", () => {
    expect(parseScopes(" openid,email\toffline_access  email ")).toEqual(["openid", "email", "offline_access"]);
    expect(parseScopes("")).toEqual([]);
  });

  it("says what is missing rather than leaving it blank", () => {
    const shown = renderFound(found({ revocationEndpoint: null, issParameter: false })).textContent!;
    expect(shown).toContain("nowhere: Disconnect only deletes the tokens here");
    expect(shown).toContain("✗ not sent");
  });
});
