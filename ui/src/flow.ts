// The one link flow the window runs at a time, as states, and the panel that shows it.
//
// The panel carries `data-flow-state` (`waiting`, `connected` or `error`): the tests wait on it and
// assistive technology hears its changes through `role="status"`.

import type { Account, PixyError } from "./api";
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
    }
  | { phase: "connected"; providerId: string; account: Account }
  | { phase: "error"; providerId: string; error: PixyError };

export interface FlowActions {
  cancel(): void;
  dismiss(): void;
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

export function renderFlow(flow: Exclude<Flow, { phase: "idle" }>, actions: FlowActions): HTMLElement {
  switch (flow.phase) {
    case "waiting": {
      const title = flow.exchanging ? "Finishing up…" : "Continue in your browser";
      const detail = flow.exchanging
        ? "The browser answered; storing your sign-in in the keyring."
        : flow.host
          ? `Sign in at ${flow.host}, then come back here.`
          : "Opening your browser…";
      // The countdown line is empty until the daemon says how long it waits.
      const cancel = el("button", { type: "button", class: "ghost", "data-action": "cancel" }, "Cancel");
      cancel.addEventListener("click", actions.cancel);
      return el(
        "div",
        { class: "flow waiting", "data-flow-state": "waiting", role: "status" },
        el("span", { class: "spinner", "aria-hidden": "true" }),
        el(
          "div",
          { class: "flow-text" },
          el("strong", {}, title),
          el("span", { class: "muted" }, detail),
          flow.exchanging
            ? null
            : el("span", { class: "countdown muted", "data-countdown": "" }, countdown(flow.deadline, Date.now())),
        ),
        flow.exchanging ? null : cancel,
      );
    }
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
        ),
        close,
      );
    }
  }
}
