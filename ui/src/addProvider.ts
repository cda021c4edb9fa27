// Add provider: an issuer's address, looked up; what it offers, shown; then the client id and
// scopes the person fills in, saved to providers.toml by the daemon. Each field's problem is shown
// beside that field, and the daemon checks every field again before anything is written.

import * as api from "./api";
import type { FieldProblem, Found, PixyError, Provider } from "./api";
import { el } from "./dom";

/** The fields of the form, by the daemon's names, with their labels and element ids. */
const FIELDS: { field: FieldProblem["field"]; label: string; id: string; hint?: string }[] = [
  { field: "label", label: "Name", id: "provider-label" },
  { field: "id", label: "Id", id: "provider-id", hint: "How scripts name it: pixy token ID." },
  {
    field: "client_id",
    label: "Client id",
    id: "provider-client-id",
    hint: "From the provider, where you registered Pixy as a native app with the redirect http://127.0.0.1/callback.",
  },
  { field: "scopes", label: "Scopes", id: "provider-scopes", hint: "Separated by spaces." },
];

/** Scopes as typed: split on spaces and commas, blanks and repeats dropped. */
export function parseScopes(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((s) => s !== ""))];
}

/** A daemon sentence as the start of a line: capitalised, with its full stop. */
export function asSentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** What the issuer offers, as the person checks it before saving. */
export function renderFound(found: Found): HTMLElement {
  const endpoint = (term: string, url: string | null, none: string) => [
    el("dt", {}, term),
    el("dd", { class: url ? "url" : "muted" }, url ?? none),
  ];
  const check = (term: string, ok: boolean, yes: string, no: string, key: string) => [
    el("dt", {}, term),
    el("dd", { class: ok ? "check ok" : "check bad", [`data-${key}`]: String(ok) }, `${ok ? "✓" : "✗"} ${ok ? yes : no}`),
  ];
  return el(
    "dl",
    { class: "found small", "data-found": "" },
    ...endpoint("Signs in at", found.authorizationEndpoint, "not named"),
    ...endpoint("Tokens from", found.tokenEndpoint, "not named"),
    ...endpoint("Revokes at", found.revocationEndpoint, "nowhere: Disconnect only deletes the tokens here"),
    ...endpoint("Device codes", found.deviceAuthorizationEndpoint, "not offered"),
    ...check(
      "PKCE with S256",
      found.pkceS256,
      found.pkceListed ? "supported" : "not listed; Pixy sends it anyway",
      "not supported",
      "pkce",
    ),
    ...check("iss in answers", found.issParameter, "sent, and checked by Pixy", "not sent", "iss"),
  );
}

export class AddProvider {
  private found: Found | null = null;
  /** The address `found` is for: what is saved, whatever the field holds by then. */
  private lookedUp = "";
  /** A client id typed before the address changed, kept for the next lookup. */
  private keptClientId = "";
  private readonly issuerInput: HTMLInputElement;
  private readonly lookUp: HTMLButtonElement;
  private readonly details: HTMLElement;
  private readonly said: HTMLElement;

  /** `form` holds the issuer field; `details` receives what was found and the rest of the form;
   *  `said` announces the outcome. */
  constructor(
    private readonly form: HTMLFormElement,
    details: HTMLElement,
    said: HTMLElement,
    private readonly onAdded: (provider: Provider) => void,
  ) {
    this.issuerInput = form.querySelector<HTMLInputElement>("#issuer")!;
    this.lookUp = form.querySelector<HTMLButtonElement>("[data-action=discover]")!;
    this.details = details;
    this.said = said;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.discover();
    });
    this.issuerInput.addEventListener("input", () => {
      this.fieldError("issuer", null);
      // Another address: what was found belongs to the old one. A client id typed is kept.
      if (this.found && this.issuerInput.value.trim() !== this.lookedUp) {
        this.keptClientId = this.details.querySelector<HTMLInputElement>("[name=client_id]")?.value ?? "";
        this.close();
      }
    });
  }

  async discover(): Promise<void> {
    const issuer = this.issuerInput.value.trim();
    this.say("", false);
    if (!/^https?:\/\/./i.test(issuer)) {
      this.fieldError("issuer", "Enter the provider's address, starting with https://.");
      this.issuerInput.focus();
      return;
    }
    this.fieldError("issuer", null);
    this.lookUp.disabled = true;
    this.lookUp.textContent = "Looking up…";
    try {
      const found = await api.discoverProvider(issuer);
      // The address changed while it was looked up: this answer is for an address no longer there.
      if (this.issuerInput.value.trim() !== issuer) return;
      this.found = found;
      this.lookedUp = issuer;
      this.renderDetails();
    } catch (error) {
      if (this.issuerInput.value.trim() !== issuer) return;
      this.found = null;
      this.details.replaceChildren();
      this.details.hidden = true;
      this.fieldError("issuer", asSentence((error as PixyError).message));
      this.issuerInput.focus();
    } finally {
      this.lookUp.disabled = false;
      this.lookUp.textContent = "Look up";
    }
  }

  private renderDetails(): void {
    const found = this.found!;
    const parts: HTMLElement[] = [renderFound(found)];
    if (found.problem) {
      parts.push(el("p", { class: "field-error", role: "alert", "data-found-problem": "" }, `Pixy cannot sign in there: ${found.problem}.`));
      this.details.replaceChildren(...parts);
      this.details.hidden = false;
      return;
    }
    const values: Record<string, string> = {
      label: found.suggestedLabel,
      id: found.suggestedId,
      client_id: this.keptClientId,
      scopes: found.suggestedScopes.join(" "),
    };
    const fields = FIELDS.map(({ field, label, id, hint }) => {
      const errorId = `${id}-error`;
      const hintId = `${id}-hint`;
      const input = el("input", {
        id,
        name: field,
        type: "text",
        autocomplete: "off",
        spellcheck: "false",
        value: values[field],
        "aria-describedby": hint ? `${hintId} ${errorId}` : errorId,
        required: field !== "scopes",
      });
      input.addEventListener("input", () => this.fieldError(field, null));
      return el(
        "div",
        { class: "field" },
        el("label", { for: id }, label),
        input,
        hint ? el("span", { class: "hint muted small", id: hintId }, hint) : null,
        el("p", { class: "field-error", id: errorId, "data-error-for": field, hidden: true }),
      );
    });
    const save = el("button", { type: "submit", class: "primary", "data-action": "save-provider" }, "Save provider");
    const cancel = el("button", { type: "button", class: "ghost", "data-action": "cancel-provider" }, "Cancel");
    cancel.addEventListener("click", () => this.close());
    const form = el(
      "form",
      { class: "provider-fields", id: "provider-fields", novalidate: true, "aria-label": "New provider" },
      ...fields,
      el("div", { class: "form-actions" }, cancel, save),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.save(form, save);
    });
    parts.push(form);
    this.details.replaceChildren(...parts);
    this.details.hidden = false;
    // The client id is the one thing discovery cannot suggest.
    this.details.querySelector<HTMLInputElement>("#provider-client-id")?.focus();
  }

  private async save(form: HTMLFormElement, save: HTMLButtonElement): Promise<void> {
    const value = (name: string) => form.querySelector<HTMLInputElement>(`[name=${name}]`)!.value;
    save.disabled = true;
    try {
      const added = await api.addProvider({
        id: value("id").trim(),
        label: value("label").trim(),
        issuer: this.lookedUp,
        clientId: value("client_id").trim(),
        scopes: parseScopes(value("scopes")),
      });
      if (added.problems.length > 0 || !added.provider) {
        this.showProblems(added.problems);
        return;
      }
      this.close();
      this.issuerInput.value = "";
      this.keptClientId = "";
      this.say(`Added ${added.provider.label}. Connect it above.`, false);
      this.onAdded(added.provider);
    } catch (error) {
      this.say(asSentence((error as PixyError).message), true);
    } finally {
      save.disabled = false;
    }
  }

  private showProblems(problems: FieldProblem[]): void {
    for (const problem of problems) this.fieldError(problem.field, problem.message);
    const first = problems[0];
    if (!first) return;
    const input =
      first.field === "issuer"
        ? this.issuerInput
        : this.details.querySelector<HTMLInputElement>(`[name=${first.field}]`);
    input?.focus();
  }

  /** Shows (or with null, clears) the problem beside `field`. */
  private fieldError(field: FieldProblem["field"], message: string | null): void {
    const box = (field === "issuer" ? this.form : this.details).querySelector<HTMLElement>(`[data-error-for=${field}]`);
    const input =
      field === "issuer" ? this.issuerInput : this.details.querySelector<HTMLInputElement>(`[name=${field}]`);
    if (!box) return;
    box.textContent = message ?? "";
    box.hidden = message === null;
    if (message === null) input?.removeAttribute("aria-invalid");
    else input?.setAttribute("aria-invalid", "true");
  }

  /** Says how the last save went, as a success or as a problem. */
  private say(text: string, problem: boolean): void {
    this.said.textContent = text;
    this.said.classList.toggle("problem", problem);
  }

  close(): void {
    this.found = null;
    this.details.replaceChildren();
    this.details.hidden = true;
  }
}
