// Consent: the questions of programs asking for an account's tokens, answered here with Allow
// once, Always allow this program, or Deny; and the programs allowed without asking, each with a
// Revoke. The daemon identified each program from the kernel; the window only shows what it says.

import type { Account, Choice, Grant, Question } from "./api";
import { el } from "./dom";

export interface ConsentActions {
  answer(question: Question, choice: Choice): void;
  revoke(grant: Grant): void;
}

const CHOICES: [Choice, string, string][] = [
  ["once", "Allow once", "primary"],
  ["always", "Always allow this program", "ghost"],
  ["deny", "Deny", "danger"],
];

/** How long a new question's buttons stay disabled: a click or a key press meant for something
 *  else, just as the question appears, must not answer it. */
export const ANSWER_DELAY_MS = 800;

/** The questions waiting for the person, each with its countdown to a denial. `firstShown` says
 *  when each was first shown (ms since the epoch). */
export function renderQuestions(
  panel: HTMLElement,
  questions: Question[],
  now: number,
  firstShown: Map<number, number>,
  actions: ConsentActions,
): void {
  panel.hidden = questions.length === 0;
  const items = questions.map((q) => {
    const wait = (firstShown.get(q.id) ?? now) + ANSWER_DELAY_MS - now;
    const buttons = CHOICES.map(([choice, label, style]) => {
      const button = el("button", { type: "button", class: style, "data-choice": choice, disabled: wait > 0 }, label);
      button.addEventListener("click", () => actions.answer(q, choice));
      return button;
    });
    if (wait > 0) window.setTimeout(() => buttons.forEach((b) => (b.disabled = false)), wait);
    return el(
      "li",
      { class: "question", "data-question-id": String(q.id) },
      el("p", { class: "ask" }, el("strong", {}, q.name), " wants a token for your account ", el("strong", {}, q.label), "."),
      el("p", { class: "muted small program", "data-question-program": "" }, q.program),
      el(
        "p",
        { class: "muted small" },
        q.scopes.length > 0 ? `Scopes: ${q.scopes.join(" ")}. ` : "",
        `Process ${q.pid}. `,
        el("span", { "data-question-countdown": String(q.expiresAt) }, secondsLeft(q.expiresAt, now)),
      ),
      el("div", { class: "choices" }, ...buttons),
    );
  });
  panel.replaceChildren(
    el(
      "h2",
      { id: "consent-title", tabindex: "-1" },
      questions.length === 1 ? "A program asks for an account" : "Programs ask for accounts",
    ),
    el("ul", { class: "questions" }, ...items),
  );
}

/** "Denied in 42 s unless you answer". */
export function secondsLeft(expiresAt: number, now: number): string {
  const left = Math.max(0, Math.round(expiresAt - now / 1000));
  return `Denied in ${left} s unless you answer.`;
}

/** The programs allowed without asking, by account. */
export function renderGrants(list: HTMLElement, grants: Grant[], accounts: Account[], actions: ConsentActions): void {
  const label = new Map(accounts.map((a) => [a.id, a.label]));
  const rows = grants.map((g) => {
    const revoke = el("button", { type: "button", class: "ghost", "data-action": "revoke-grant" }, "Revoke");
    revoke.addEventListener("click", () => actions.revoke(g));
    const any = g.program === "any";
    return el(
      "li",
      { class: "grant", "data-grant-program": g.program, "data-grant-account": g.account },
      el(
        "div",
        { class: "row" },
        el(
          "div",
          { class: "who" },
          el("span", { class: "name" }, any ? "Every program of yours" : shortProgram(g.program)),
          el("span", { class: "meta muted small" }, `${label.get(g.account) ?? g.account} · ${used(g.lastUsed)}`),
          any ? null : el("span", { class: "muted small program path" }, g.program),
        ),
        revoke,
      ),
    );
  });
  if (rows.length === 0) {
    rows.push(el("li", { class: "empty muted" }, "No program may use an account without asking you first."));
  }
  list.replaceChildren(...rows);
}

/** A program by its file names: "/usr/bin/python3.11 /home/a/job.py" reads "python3.11 job.py". */
export function shortProgram(program: string): string {
  return program
    .split(" ")
    .map((part) => part.split("/").pop() || part)
    .join(" ");
}

function used(lastUsed: number | null): string {
  return lastUsed === null ? "not used yet" : `last used ${ago(lastUsed, Date.now())}`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(time: number, now: number): string {
  const seconds = Math.max(0, Math.round(now / 1000 - time));
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  const days = Math.floor(seconds / 86400);
  return days === 1 ? "1 day ago" : `${days} days ago`;
}
