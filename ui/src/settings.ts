// Settings: Start Pixy at login (in the tray). The checkbox shows whether Pixy's login entry is
// there now, read from the entry itself (no preference is kept beside it), so it is read again
// whenever the window comes back to the front. A change that fails is said beside the setting, and
// the box goes back to what the entry really is.

import * as api from "./api";
import type { PixyError } from "./api";
import { asSentence } from "./addProvider";

export class Autostart {
  /** A change is on its way to the entry: another click waits for it. */
  private busy = false;
  /** Counts reads and changes, so a read that a change overtook does not undo what it shows. */
  private serial = 0;

  /** `box` is the checkbox; `problem` is where a failure is said, beside it. */
  constructor(
    private readonly box: HTMLInputElement,
    private readonly problem: HTMLElement,
  ) {
    // The box is not disabled while busy: that would take the keyboard's focus away from it.
    box.addEventListener("click", (event) => {
      if (this.busy) event.preventDefault();
    });
    box.addEventListener("change", () => void this.set(box.checked));
  }

  /** Shows whether the login entry is there. */
  async load(): Promise<void> {
    if (this.busy) return;
    const serial = ++this.serial;
    try {
      const enabled = await api.autostartEnabled();
      if (serial !== this.serial) return;
      this.show(enabled);
      this.say(null);
    } catch (error) {
      if (serial !== this.serial) return;
      this.say(error as PixyError);
    }
  }

  /** Adds or removes the login entry, then shows whether it is there. */
  async set(enabled: boolean): Promise<void> {
    this.busy = true;
    this.serial += 1;
    this.box.setAttribute("aria-busy", "true");
    try {
      this.show(await api.setAutostart(enabled));
      this.say(null);
    } catch (error) {
      this.say(error as PixyError);
      // The entry decides what the box shows; when even it cannot be read, nothing changed.
      this.show(await api.autostartEnabled().catch(() => !enabled));
    } finally {
      this.busy = false;
      this.box.removeAttribute("aria-busy");
    }
  }

  private show(enabled: boolean): void {
    this.box.checked = enabled;
    // What the entry was when last read, whatever a click has done to the box since.
    this.box.dataset.entry = enabled ? "on" : "off";
  }

  private say(error: PixyError | null): void {
    this.problem.textContent = error ? asSentence(error.message) : "";
    this.problem.hidden = error === null;
    if (error) this.box.setAttribute("aria-invalid", "true");
    else this.box.removeAttribute("aria-invalid");
  }
}
