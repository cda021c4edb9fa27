// Copy diagnostics against a fake of api.ts: the outcome said in the status region, problems
// counted, a failure said with nothing copied, and a second click while one runs ignored.
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("../src/api", () => ({
  copyDiagnostics: vi.fn(),
}));

import * as api from "../src/api";
import { CopyDiagnostics, outcome } from "../src/diagnostics";

const copyDiagnostics = vi.mocked(api.copyDiagnostics);

function setUp() {
  document.body.innerHTML = `
    <button id="copy-diagnostics">Copy diagnostics</button>
    <p id="diagnostics-said" class="said" role="status"></p>`;
  const button = document.querySelector<HTMLButtonElement>("#copy-diagnostics")!;
  const said = document.querySelector<HTMLElement>("#diagnostics-said")!;
  return { copier: new CopyDiagnostics(button, said), button, said };
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("Copy diagnostics", () => {
  beforeEach(() => {
    copyDiagnostics.mockReset();
  });

  it("says the report was copied and that nothing is wrong", async () => {
    copyDiagnostics.mockResolvedValue({ problems: [] });
    const { button, said } = setUp();
    button.click();
    expect(said.textContent).toBe("Gathering diagnostics…");
    await settled();
    expect(copyDiagnostics).toHaveBeenCalledTimes(1);
    expect(said.textContent).toBe("Diagnostics copied. No problem found.");
    expect(said.classList.contains("problem")).toBe(false);
    expect(button.hasAttribute("aria-busy")).toBe(false);
  });

  it("names the first problem and counts the others", async () => {
    copyDiagnostics.mockResolvedValue({
      problems: ["the keyring is locked", "alice@id.example.com needs relinking"],
    });
    const { button, said } = setUp();
    button.click();
    await settled();
    expect(said.textContent).toBe("Diagnostics copied. 2 problems found: the keyring is locked (and 1 more).");
    expect(said.classList.contains("problem")).toBe(true);
  });

  it("says one problem in words", () => {
    expect(outcome({ problems: ["no Secret Service answers on the session bus"] })).toBe(
      "Diagnostics copied. One problem found: no Secret Service answers on the session bus.",
    );
  });

  it("says nothing was copied when the clipboard fails", async () => {
    copyDiagnostics.mockRejectedValue({ kind: "internal", message: "The clipboard could not be used: no display" });
    const { button, said } = setUp();
    button.click();
    await settled();
    expect(said.textContent).toBe("Nothing was copied: The clipboard could not be used: no display.");
    expect(said.classList.contains("problem")).toBe(true);
  });

  it("ignores a second click while the report is gathered", async () => {
    let finish: (value: api.Diagnostics) => void = () => {};
    copyDiagnostics.mockReturnValue(new Promise((resolve) => (finish = resolve)));
    const { button } = setUp();
    button.click();
    button.click();
    expect(copyDiagnostics).toHaveBeenCalledTimes(1);
    finish({ problems: [] });
    await settled();
    button.click();
    expect(copyDiagnostics).toHaveBeenCalledTimes(2);
  });
});
