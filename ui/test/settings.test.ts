// Settings against a fake of api.ts: the login entry's state shown as it is, a change made, and a
// failure said beside the setting with the box back on what the entry really is.
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../src/api", () => ({
  autostartEnabled: vi.fn(),
  setAutostart: vi.fn(),
}));

import * as api from "../src/api";
import { Autostart } from "../src/settings";

const autostartEnabled = vi.mocked(api.autostartEnabled);
const setAutostart = vi.mocked(api.setAutostart);

function setUp() {
  document.body.innerHTML = `
    <input id="autostart" type="checkbox" />
    <label for="autostart">Start Pixy at login (in the tray)</label>
    <p id="autostart-error" role="alert" hidden></p>`;
  const box = document.querySelector<HTMLInputElement>("#autostart")!;
  const problem = document.querySelector<HTMLElement>("#autostart-error")!;
  return { setting: new Autostart(box, problem), box, problem };
}

/** Lets the promises the setting is waiting on settle. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

const unwritable = {
  kind: "internal" as const,
  message: "Pixy could not add its login entry to /home/ada/.config/autostart: not a directory.",
};

describe("Start Pixy at login", () => {
  beforeEach(() => {
    autostartEnabled.mockReset();
    setAutostart.mockReset();
  });

  it("shows whether the login entry is there", async () => {
    const { setting, box } = setUp();
    autostartEnabled.mockResolvedValue(true);
    expect(box.dataset.entry, "unknown until read").toBeUndefined();
    await setting.load();
    expect(box.checked).toBe(true);
    expect(box.dataset.entry).toBe("on");
    autostartEnabled.mockResolvedValue(false);
    await setting.load();
    expect(box.checked, "read again, it follows an entry removed by hand").toBe(false);
  });

  it("turns on when clicked, and shows what the entry is afterwards", async () => {
    const { setting, box, problem } = setUp();
    autostartEnabled.mockResolvedValue(false);
    await setting.load();
    setAutostart.mockResolvedValue(true);
    box.click();
    await settled();
    expect(setAutostart).toHaveBeenCalledWith(true);
    expect(box.checked).toBe(true);
    expect(problem.hidden, "nothing went wrong").toBe(true);
    expect(box.hasAttribute("aria-busy")).toBe(false);
  });

  it("turns off when clicked again", async () => {
    const { setting, box } = setUp();
    autostartEnabled.mockResolvedValue(true);
    await setting.load();
    setAutostart.mockResolvedValue(false);
    box.click();
    await settled();
    expect(setAutostart).toHaveBeenCalledWith(false);
    expect(box.checked).toBe(false);
  });

  it("says a failure beside the setting in words and goes back to the entry's real state", async () => {
    const { setting, box, problem } = setUp();
    autostartEnabled.mockResolvedValue(false);
    await setting.load();
    setAutostart.mockRejectedValue(unwritable);
    box.click();
    await settled();
    expect(box.checked, "the entry was not written, so the box is off again").toBe(false);
    expect(problem.hidden).toBe(false);
    expect(problem.textContent).toBe(unwritable.message);
    expect(box.getAttribute("aria-invalid")).toBe("true");
    expect(autostartEnabled, "the real state is read after the failure").toHaveBeenCalledTimes(2);
  });

  it("clears the failure once a change goes through", async () => {
    const { setting, box, problem } = setUp();
    autostartEnabled.mockResolvedValue(false);
    setAutostart.mockRejectedValueOnce(unwritable).mockResolvedValueOnce(true);
    await setting.load();
    box.click();
    await settled();
    expect(problem.hidden).toBe(false);
    box.click();
    await settled();
    expect(box.checked).toBe(true);
    expect(problem.hidden).toBe(true);
    expect(box.hasAttribute("aria-invalid")).toBe(false);
  });

  it("keeps what it knew when the entry cannot be read after a failure", async () => {
    const { setting, box } = setUp();
    autostartEnabled.mockResolvedValueOnce(true).mockRejectedValue(unwritable);
    await setting.load();
    setAutostart.mockRejectedValue(unwritable);
    box.click();
    await settled();
    expect(box.checked, "asked to turn off and failed: it is still on").toBe(true);
  });

  it("ignores a click while a change is on its way", async () => {
    const { setting, box } = setUp();
    autostartEnabled.mockResolvedValue(false);
    await setting.load();
    let finish: (value: boolean) => void = () => undefined;
    setAutostart.mockReturnValue(new Promise((resolve) => (finish = resolve)));
    box.click();
    expect(box.getAttribute("aria-busy")).toBe("true");
    box.click();
    expect(setAutostart, "one change at a time").toHaveBeenCalledTimes(1);
    expect(box.checked, "the second click did not toggle the box").toBe(true);
    finish(true);
    await settled();
    expect(box.checked).toBe(true);
  });

  it("keeps a change when a reading started before it comes back after it", async () => {
    // The window comes to the front (a read) just as the person clicks (a change).
    const { setting, box } = setUp();
    let readBefore: (value: boolean) => void = () => undefined;
    autostartEnabled.mockReturnValueOnce(new Promise((resolve) => (readBefore = resolve)));
    const reading = setting.load();
    setAutostart.mockResolvedValue(true);
    box.click();
    await settled();
    readBefore(false);
    await reading;
    expect(box.checked, "the entry was read as off before it was written").toBe(true);
    expect(box.dataset.entry).toBe("on");
  });

  it("says when the entry cannot be read", async () => {
    const { setting, problem } = setUp();
    const message = "Pixy could not tell whether it starts at login: no home";
    autostartEnabled.mockRejectedValue({ kind: "internal", message });
    await setting.load();
    expect(problem.hidden).toBe(false);
    expect(problem.textContent).toBe("Pixy could not tell whether it starts at login: no home.");
  });
});
