// The providers one can link, the demo first, each with its Connect button and, while a flow runs
// for it, the flow panel underneath.

import type { Provider } from "./api";
import { el } from "./dom";
import { type Flow, type FlowActions, renderFlow } from "./flow";

export interface ProviderActions extends FlowActions {
  connect(providerId: string, device?: boolean, apiKey?: string | null): void;
  /** Gives up the browser sign-in in progress for a device code. */
  switchToDevice(providerId: string): void;
}

/** The demo leads: it is the one a person can try without an account anywhere. */
export function ordered(providers: Provider[]): Provider[] {
  return [...providers].sort((a, b) => Number(b.demo) - Number(a.demo));
}

export function initial(label: string): string {
  return (label.trim()[0] ?? "?").toUpperCase();
}

export function renderProviders(
  list: HTMLElement,
  providers: Provider[],
  flow: Flow,
  actions: ProviderActions,
): void {
  const busy = flow.phase === "waiting";
  const rows = ordered(providers).map((provider) => {
    if (provider.problem) {
      return renderBroken(provider, provider.problem);
    }
    const connect = el(
      "button",
      { type: "button", class: "primary", "data-action": "connect", disabled: busy },
      "Connect",
    );
    // A provider that needs the developer's API key asks for it here, once; it is kept in the
    // keyring after the first link.
    const apiKey = provider.needsApiKey
      ? el("input", {
          type: "password",
          class: "api-key",
          "data-api-key-input": "",
          autocomplete: "off",
          "aria-label": `${provider.label} developer API key`,
          placeholder: "Developer API key",
          disabled: busy,
        })
      : null;
    connect.addEventListener("click", () => {
      if (apiKey && apiKey.value.trim() === "") {
        apiKey.focus();
        return;
      }
      actions.connect(provider.id, false, apiKey?.value ?? null);
    });
    // For a machine whose browser is elsewhere: a code to enter on any device.
    const byDevice = provider.device
      ? el("button", { type: "button", class: "ghost", "data-action": "connect-device", disabled: busy }, "Use a code")
      : null;
    byDevice?.addEventListener("click", () => actions.connect(provider.id, true));
    // The demo is labelled as one even when its label does not say so.
    const tagged = provider.demo && !/\bdemo\b/i.test(provider.label);
    const name = el("span", { class: "name" }, provider.label, tagged ? el("span", { class: "tag" }, "Demo") : null);
    const sub = provider.demo ? "Test provider, not a real account" : provider.host;
    const row = el(
      "li",
      { class: "provider", "data-provider-id": provider.id },
      el(
        "div",
        { class: "row" },
        el("span", { class: provider.demo ? "avatar demo" : "avatar", "aria-hidden": "true" }, initial(provider.label)),
        el("div", { class: "who" }, name, el("span", { class: "muted small" }, sub)),
        apiKey,
        byDevice,
        connect,
      ),
    );
    if (flow.phase !== "idle" && flow.providerId === provider.id) {
      // While the browser is awaited, a provider that offers device codes offers that way too.
      const ways = provider.device ? { ...actions, useDevice: () => actions.switchToDevice(provider.id) } : actions;
      row.append(renderFlow(flow, ways));
    }
    return row;
  });
  if (rows.length === 0) {
    rows.push(el("li", { class: "empty muted" }, "No providers are configured."));
  }
  list.replaceChildren(...rows);
}

/** A definition in providers.toml that cannot be used: listed, marked broken, with the reason
 * (file, line and what is wrong) and no way to connect until it is fixed. */
function renderBroken(provider: Provider, problem: string): HTMLElement {
  const name = el("span", { class: "name" }, provider.label, el("span", { class: "tag broken" }, "Broken"));
  return el(
    "li",
    { class: "provider broken", "data-provider-id": provider.id, "data-broken": "true" },
    el(
      "div",
      { class: "row" },
      el("span", { class: "avatar", "aria-hidden": "true" }, "!"),
      el("div", { class: "who" }, name, el("span", { class: "muted small problem" }, problem)),
    ),
  );
}
