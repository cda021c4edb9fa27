// Copy diagnostics: the report `pixy doctor` prints goes to the clipboard from Pixy's own process
// (the page never holds it), and the page says what it found, so a person knows whether there is
// anything to fix before they paste it into a support request.

import * as api from "./api";
import type { PixyError } from "./api";
import { asSentence } from "./addProvider";

export class CopyDiagnostics {
  private busy = false;

  /** `button` copies; `said` is where the outcome is said (a status region). */
  constructor(
    private readonly button: HTMLButtonElement,
    private readonly said: HTMLElement,
  ) {
    button.addEventListener("click", () => void this.copy());
  }

  async copy(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.button.setAttribute("aria-busy", "true");
    this.say("Gathering diagnostics…", false);
    try {
      const found = await api.copyDiagnostics();
      this.say(outcome(found), found.problems.length > 0);
    } catch (error) {
      this.say(`Nothing was copied: ${asSentence((error as PixyError).message)}`, true);
    } finally {
      this.busy = false;
      this.button.removeAttribute("aria-busy");
    }
  }

  private say(text: string, problem: boolean): void {
    this.said.textContent = text;
    this.said.classList.toggle("problem", problem);
  }
}

/** What the copied report found, in a sentence. */
export function outcome(found: api.Diagnostics): string {
  const count = found.problems.length;
  if (count === 0) return "Diagnostics copied. No problem found.";
  const first = found.problems[0];
  const more = count > 1 ? ` (and ${count - 1} more)` : "";
  return `Diagnostics copied. ${count === 1 ? "One problem" : `${count} problems`} found: ${first}${more}.`;
}
