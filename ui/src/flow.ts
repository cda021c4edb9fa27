// The one link flow the window runs at a time, as states, and the panel that shows it.
//
// The panel carries `data-flow-state` (`waiting`, `connected` or `error`): the tests wait on it and
// assistive technology hears its changes through `role="status"`. While waiting it shows one of
// three ways through: the browser (with "Paste code instead"), a paste field for a provider whose
// page shows a code, or a device code to enter elsewhere.

import type { Account, ChainStep, PixyError } from "./api";
import { el } from "./dom";
import { describe } from "./errors";

export type Flow =
  | { phase: "idle" }
  | {
      phase: "waiting";
      providerId: string;
      /** Which Connect this is: a late answer of an earlier, cancelled one carries another. */
      serial: number;
      /** Host the person continues at; unknown until the daemon has built the URL. */
      host: string | null;
      /** When the daemon gives up, in ms since the epoch; null until it said so. */
      deadline: number | null;
      exchanging: boolean;
      /** The provider's page shows a code to paste: nothing else will come back. */
      pasteOnly: boolean;
      /** The paste field is open. */
      pasteOpen: boolean;
      /** Why the last paste was not used. */
      pasteReason: string | null;
      /** A device-code link: null until the daemon has the code. */
      device: DeviceCode | null;
      /** This link asked for a device code. */
      byDevice: boolean;
      /** No browser could be opened: the person copies the link. */
      browserFailed: boolean;
      /** The link was put on the clipboard. */
      linkCopied: boolean;
      /** Why the link could not be put on the clipboard. */
      copyProblem: string | null;
      /** A resource linked by its URL: the steps of finding its sign-in, so far. */
      steps: ChainStep[];
    }
  | { phase: "connected"; providerId: string; account: Account }
  | { phase: "error"; providerId: string; error: PixyError; steps: ChainStep[] };

type Waiting = Extract<Flow, { phase: "waiting" }>;

/** A flow that has just started: nothing heard from the daemon yet. */
export function waitingFor(providerId: string, serial: number, byDevice: boolean): Waiting {
  return {
    phase: "waiting",
    providerId,
    serial,
    host: null,
    deadline: null,
    exchanging: false,
    pasteOnly: false,
    pasteOpen: false,
    pasteReason: null,
    device: null,
    byDevice,
    browserFailed: false,
    linkCopied: false,
    copyProblem: null,
    steps: [],
  };
}

/** The panel of a flow that signs the account `accountId` in again (Reconnect). */
export function accountPanel(accountId: string): string {
  return `@account:${accountId}`;
}

/** A device code for the person to enter at `verificationUri`. */
export interface DeviceCode {
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | null;
}

export interface FlowActions {
  cancel(): void;
  dismiss(): void;
  openPaste(): void;
  submitPaste(text: string): void;
  copy(text: string): void;
  /** Puts the sign-in link on the clipboard (the Rust side does; the page never sees it). */
  copyLink(): void;
  /** Starts over with a device code, for a provider that offers one. */
  useDevice?(): void;
}

/** `m:ss left`, or nothing once the deadline is unknown or past. */
export function countdown(deadline: number | null, now: number): string {
  if (deadline === null) return "";
  const seconds = Math.max(0, Math.round((deadline - now) / 1000));
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return `${m}:${s} left`;
}

const CHECK = "M5 10.5l3.2 3.2L15 7";

function icon(path: string): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("aria-hidden", "true");
  const stroke = document.createElementNS(ns, "path");
  stroke.setAttribute("d", path);
  svg.append(stroke);
  return svg;
}


function waitingText(flow: Waiting): [string, string] {
  if (flow.host === null && flow.steps.length > 0 && !flow.exchanging) {
    return ["Finding how to sign in…", "Reading the server's metadata and registering Pixy with it."];
  }
  if (flow.exchanging) return ["Finishing up…", "Signed in; storing your sign-in in the keyring."];
  if (flow.byDevice) {
    return flow.device
      ? ["Enter this code on any device", `Open ${flow.device.verificationUri} in a browser anywhere and enter:`]
      : ["Asking for a code…", "The code to enter on another device is on its way."];
  }
  if (flow.browserFailed) {
    const where = flow.host ? ` to sign in at ${flow.host}` : "";
    return ["Your browser could not be opened", `Copy the link and open it in a browser yourself${where}.`];
  }
  if (flow.pasteOnly) {
    const where = flow.host ? `Sign in at ${flow.host}` : "Sign in in your browser";
    return ["Copy the code from your browser", `${where}; the page then shows a code. Paste it here.`];
  }
  const detail = flow.host ? `Sign in at ${flow.host}, then come back here.` : "Opening your browser…";
  return ["Continue in your browser", detail];
}

function renderWaiting(flow: Waiting, actions: FlowActions): HTMLElement {
  const [title, detail] = waitingText(flow);
  const cancel = el("button", { type: "button", class: "ghost", "data-action": "cancel" }, "Cancel");
  cancel.addEventListener("click", actions.cancel);
  const text = el("div", { class: "flow-text" }, el("strong", {}, title), el("span", { class: "muted" }, detail));
  if (flow.steps.length > 0) text.append(renderSteps(flow.steps));
  if (!flow.exchanging) {
    if (flow.device) text.append(renderDeviceCode(flow.device, actions));
    const mayPaste = !flow.byDevice && flow.host !== null;
    // The other ways through, side by side: the link to open elsewhere, and the code to paste.
    const ways = el("div", { class: "flow-ways" });
    if (mayPaste) {
      const copy = el(
        "button",
        { type: "button", class: flow.browserFailed ? "primary" : "link", "data-action": "copy-link" },
        flow.linkCopied ? "Link copied" : "Copy link",
      );
      copy.addEventListener("click", actions.copyLink);
      ways.append(copy);
    }
    if (actions.useDevice && !flow.byDevice && !flow.pasteOnly) {
      const device = el("button", { type: "button", class: "link", "data-action": "use-device" }, "Use a code instead");
      device.addEventListener("click", actions.useDevice);
      ways.append(device);
    }
    if (mayPaste && (flow.pasteOnly || flow.pasteOpen)) {
      text.append(renderPasteForm(flow, actions));
    } else if (mayPaste) {
      const open = el("button", { type: "button", class: "link", "data-action": "paste-open" }, "Paste code instead");
      open.addEventListener("click", actions.openPaste);
      ways.append(open);
    }
    if (ways.childElementCount > 0) text.append(ways);
    if (flow.copyProblem) {
      text.append(el("span", { class: "paste-reason", role: "alert" }, `The link was not copied: ${flow.copyProblem}`));
    }
    // The countdown line is empty until the daemon says how long it waits.
    text.append(el("span", { class: "countdown muted", "data-countdown": "" }, countdown(flow.deadline, Date.now())));
  }
  return el(
    "div",
    { class: "flow waiting", "data-flow-state": "waiting", role: "status" },
    el("span", { class: "spinner", "aria-hidden": "true" }),
    text,
    flow.exchanging ? null : cancel,
  );
}

/** The chain of finding a resource's sign-in, each step with how it went. */
export function renderSteps(steps: ChainStep[]): HTMLElement {
  return el(
    "ol",
    { class: "steps small", "data-steps": "", "aria-label": "Steps" },
    ...steps.map((s) =>
      el(
        "li",
        { class: s.ok ? "step ok" : "step failed", "data-step": s.step, "data-ok": String(s.ok) },
        el("span", { class: "step-mark", "aria-hidden": "true" }, s.ok ? "✓" : "✗"),
        el("span", { class: "step-name" }, s.step),
        s.detail ? el("span", { class: "step-detail muted" }, s.detail) : null,
      ),
    ),
  );
}

function renderDeviceCode(device: DeviceCode, actions: FlowActions): HTMLElement {
  const copy = el("button", { type: "button", class: "ghost", "data-action": "copy-code" }, "Copy");
  copy.addEventListener("click", () => {
    actions.copy(device.userCode);
    copy.textContent = "Copied";
  });
  return el(
    "div",
    { class: "device-code" },
    el("output", { class: "user-code", "data-user-code": "", "aria-label": "Code to enter" }, device.userCode),
    copy,
  );
}

function renderPasteForm(flow: Waiting, actions: FlowActions): HTMLElement {
  const input = el("input", {
    type: "text",
    class: "paste-input",
    "data-paste-input": "",
    autocomplete: "off",
    spellcheck: "false",
    "aria-label": "Code or address from the browser",
    placeholder: "Paste the code or the address",
  });
  const submit = el("button", { type: "submit", class: "primary", "data-action": "paste-submit" }, "Use code");
  const form = el("form", { class: "paste", "data-paste": "" }, input, submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim() !== "") actions.submitPaste(input.value);
  });
  const why = flow.pasteReason?.replace(/\.$/, "");
  const reason = why
    ? el("span", { class: "paste-reason", "data-paste-reason": "", role: "alert" }, `Not used: ${why}.`)
    : null;
  return el("div", { class: "paste-box" }, form, reason);
}

export function renderFlow(flow: Exclude<Flow, { phase: "idle" }>, actions: FlowActions): HTMLElement {
  switch (flow.phase) {
    case "waiting":
      return renderWaiting(flow, actions);
    case "connected": {
      const done = el("button", { type: "button", class: "ghost", "data-action": "dismiss" }, "Done");
      done.addEventListener("click", actions.dismiss);
      return el(
        "div",
        { class: "flow connected", "data-flow-state": "connected", role: "status" },
        el("span", { class: "badge-icon ok" }, icon(CHECK)),
        el(
          "div",
          { class: "flow-text" },
          el("strong", {}, "Connected"),
          el("span", { class: "muted" }, flow.account.label),
        ),
        done,
      );
    }
    case "error": {
      const close = el("button", { type: "button", class: "ghost", "data-action": "dismiss" }, "Dismiss");
      close.addEventListener("click", actions.dismiss);
      return el(
        "div",
        { class: "flow error", "data-flow-state": "error", "data-error-kind": flow.error.kind, role: "alert" },
        el("span", { class: "badge-icon bad", "aria-hidden": "true" }, "!"),
        el(
          "div",
          { class: "flow-text" },
          el("strong", {}, describe(flow.error)),
          el("span", { class: "muted" }, flow.error.message),
          // The failed step's words are the error's own, said just above.
          flow.steps.length > 0
            ? renderSteps(flow.steps.map((s) => (s.detail === flow.error.message ? { ...s, detail: "" } : s)))
            : null,
        ),
        close,
      );
    }
  }
}
