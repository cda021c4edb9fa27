// The window: loads providers and accounts from the daemon, runs one link flow at a time, and
// re-renders from a single state whenever something changes.

import "./style.css";
import * as api from "./api";
import type { Account, Choice, FlowEvent, Grant, PixyError, Provider, Question } from "./api";
import { renderAccounts } from "./accounts";
import { AddProvider } from "./addProvider";
import { renderGrants, renderQuestions, secondsLeft } from "./consent";
import { accountPanel, countdown, type Flow, renderFlow, waitingFor } from "./flow";
import { describe } from "./errors";
import { el } from "./dom";
import { renderProviders } from "./providers";
import { Autostart } from "./settings";
import { CopyDiagnostics } from "./diagnostics";

interface State {
  providers: Provider[];
  accounts: Account[];
  flow: Flow;
  /** The account whose Disconnect asks for confirmation. */
  confirming: string | null;
  /** Why the lists could not be loaded, if they could not. */
  problem: PixyError | null;
  /** What the daemon lost reading its account index (a damaged file), if anything. */
  indexProblem: string | null;
  /** Whether the daemon has answered once: until then empty lists mean "unknown", not "none". */
  loaded: boolean;
  /** Programs asking for an account's tokens, waiting for an answer here or in a notification. */
  questions: Question[];
  grants: Grant[];
  /** The account the window was opened on (from a relink notice), shown highlighted. */
  focusAccount: string | null;
}

const state: State = {
  providers: [],
  accounts: [],
  flow: { phase: "idle" },
  confirming: null,
  problem: null,
  indexProblem: null,
  loaded: false,
  questions: [],
  grants: [],
  focusAccount: null,
};

/** Whether the window has scrolled to the account it was opened on. */
let scrolledToFocus = false;

/** The flow of a resource linked by its URL: its panel goes under the "Add by URL" form. */
const BY_URL = "@by-url";

const providerList = document.querySelector<HTMLUListElement>("#providers")!;
const byUrlForm = document.querySelector<HTMLFormElement>("#add-by-url")!;
const byUrlInput = document.querySelector<HTMLInputElement>("#resource-url")!;
const byUrlFlow = document.querySelector<HTMLElement>("#by-url-flow")!;
const accountList = document.querySelector<HTMLUListElement>("#accounts")!;
const notice = document.querySelector<HTMLElement>("#notice")!;
const consentPanel = document.querySelector<HTMLElement>("#consent")!;
const grantList = document.querySelector<HTMLUListElement>("#grants")!;
const consentActions = { answer, revoke: revokeGrant };
/** What the flow panel's buttons do, wherever the panel is shown. Functions declared below. */
const flowActions = { cancel, dismiss, openPaste, submitPaste, copy, copyLink };

/** The linked accounts and the grants, re-rendered alone when only they changed. */
function renderAccountLists(): void {
  const active = document.activeElement as HTMLElement | null;
  const row = active?.closest<HTMLElement>("[data-account-id]");
  const focused =
    row && active?.dataset.action ? { account: row.dataset.accountId!, action: active.dataset.action } : null;
  renderAccounts(accountList, state.accounts, state.providers, state.grants, state.confirming, state.flow, {
    ...flowActions,
    confirmDisconnect,
    disconnect: (account) => void disconnect(account.id),
    reconnect: (account) => void reconnect(account),
    refresh: (account) => void refreshNow(account),
  });
  // A redraw keeps the focus on the same button of the same account.
  if (focused) {
    accountList
      .querySelector<HTMLElement>(`[data-account-id="${CSS.escape(focused.account)}"] [data-action="${focused.action}"]`)
      ?.focus();
  }
  renderGrants(grantList, state.grants, state.accounts, consentActions);
  if (state.focusAccount) {
    const focused = accountList.querySelector(`[data-account-id="${CSS.escape(state.focusAccount)}"]`);
    focused?.classList.add("focused");
    // Opened on this account (a relink notice): shown once it is listed.
    if (focused && !scrolledToFocus) {
      scrolledToFocus = true;
      focused.scrollIntoView({ block: "center" });
    }
  }
}

function render(): void {
  const busy = state.flow.phase === "waiting";
  if (state.loaded) {
    renderProviders(providerList, state.providers, state.flow, {
      ...flowActions,
      connect,
      switchToDevice: (providerId) => {
        cancel();
        void connect(providerId, true);
      },
    });
    renderAccountLists();
  } else {
    const pending = state.problem ? "Not available until Pixy's background service answers." : "Loading…";
    for (const list of [providerList, accountList, grantList]) {
      list.replaceChildren(el("li", { class: "empty muted" }, pending));
    }
  }
  byUrlForm.querySelectorAll<HTMLInputElement | HTMLButtonElement>("input, button").forEach((node) => {
    node.disabled = busy;
  });
  const flow = state.flow;
  if (flow.phase !== "idle" && flow.providerId === BY_URL) {
    byUrlFlow.replaceChildren(renderFlow(flow, flowActions));
  } else {
    byUrlFlow.replaceChildren();
  }
  if (state.problem) {
    const retry = el("button", { type: "button", class: "ghost", "data-action": "retry" }, "Try again");
    retry.addEventListener("click", () => void refresh());
    notice.replaceChildren(
      el(
        "div",
        { class: "flow-text" },
        el("strong", {}, describe(state.problem)),
        el("span", { class: "muted" }, state.problem.message),
      ),
      retry,
    );
    notice.hidden = false;
  } else if (state.indexProblem) {
    notice.replaceChildren(
      el(
        "div",
        { class: "flow-text", "data-notice": "index" },
        el("strong", {}, "Some linked accounts could not be read"),
        el("span", { class: "muted" }, state.indexProblem),
      ),
    );
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
}

async function refresh(): Promise<void> {
  try {
    const [providers, listed, grants] = await Promise.all([api.providers(), api.accounts(), api.grants()]);
    state.providers = providers;
    state.accounts = listed.accounts;
    state.grants = grants;
    state.indexProblem = listed.problem;
    state.problem = null;
    state.loaded = true;
  } catch (error) {
    state.problem = error as PixyError;
  }
  render();
}

let flowSerial = 0;

function onFlowEvent(serial: number, event: FlowEvent): void {
  const flow = state.flow;
  // A late event of a flow that was cancelled or replaced must not bring its panel back.
  if (flow.phase !== "waiting" || flow.serial !== serial) return;
  switch (event.event) {
    case "browser":
      flow.host = event.host;
      flow.pasteOnly = event.pasteOnly;
      break;
    case "device":
      flow.device = {
        userCode: event.userCode,
        verificationUri: event.verificationUri,
        verificationUriComplete: event.verificationUriComplete,
      };
      flow.deadline = Date.now() + event.expiresIn * 1000;
      break;
    case "pasteRejected":
      flow.pasteReason = event.reason;
      flow.pasteOpen = true;
      break;
    case "waiting":
      flow.deadline = Date.now() + event.secondsLeft * 1000;
      flow.exchanging = false;
      break;
    case "exchanging":
      flow.exchanging = true;
      break;
    case "browserFailed":
      // Too late to matter once the browser has come back with a code.
      if (!flow.exchanging) flow.browserFailed = true;
      break;
    case "step":
      flow.steps = [...flow.steps, { step: event.step, ok: event.ok, detail: event.detail }];
      break;
  }
  render();
  if (event.event === "pasteRejected") focusPaste();
}

/** Signs an account in again; its progress shows under the account. */
function reconnect(account: Account): Promise<void> {
  if (account.resource) return connectResource(account.id);
  return runFlow(accountPanel(account.id), false, (onEvent) => api.reconnect(account.id, onEvent));
}

function connect(providerId: string, byDevice = false, apiKey: string | null = null): Promise<void> {
  return runFlow(providerId, byDevice, (onEvent) => api.connect(providerId, onEvent, byDevice, apiKey));
}

/** Links the resource (an MCP server) at the address `target`, or signs the account `target`
 *  names in to it again. */
async function connectResource(target: string): Promise<void> {
  await runFlow(BY_URL, false, (onEvent) => api.connectResource(target, onEvent));
  // The address is kept for another try after a failure, and cleared once it is linked.
  if (state.flow.phase === "connected" && state.flow.providerId === BY_URL) byUrlInput.value = "";
}

async function runFlow(
  providerId: string,
  byDevice: boolean,
  start: (onEvent: (event: FlowEvent) => void) => Promise<Account>,
): Promise<void> {
  if (state.flow.phase === "waiting") return;
  const serial = ++flowSerial;
  state.flow = waitingFor(providerId, serial, byDevice);
  render();
  try {
    const account = await start((event) => onFlowEvent(serial, event));
    if (state.flow.phase === "waiting" && state.flow.serial === serial) {
      state.flow = { phase: "connected", providerId, account };
    }
    state.accounts = await api
      .accounts()
      .then((listed) => listed.accounts)
      .catch(() => upsert(state.accounts, account));
    // What a link changes about a provider (an API key now kept) shows at once.
    state.providers = await api.providers().catch(() => state.providers);
  } catch (error) {
    const pixyError = error as PixyError;
    // A Cancel the person clicked needs no message: the panel simply goes away.
    const current = state.flow;
    if (current.phase !== "waiting" || current.serial !== serial) return;
    state.flow = { phase: "error", providerId, error: pixyError, steps: current.steps };
  }
  render();
}

function upsert(accounts: Account[], account: Account): Account[] {
  return [...accounts.filter((a) => a.id !== account.id), account];
}

function cancel(): void {
  state.flow = { phase: "idle" };
  render();
  void api.cancel();
}

function openPaste(): void {
  if (state.flow.phase !== "waiting") return;
  state.flow.pasteOpen = true;
  render();
  focusPaste();
}

function focusPaste(): void {
  document.querySelector<HTMLInputElement>("[data-paste-input]")?.focus();
}

function submitPaste(text: string): void {
  if (state.flow.phase !== "waiting") return;
  state.flow.pasteReason = null;
  // The verdict comes back as flow progress (`pasteRejected`) or as the flow's end.
  api.paste(text).catch((error: PixyError) => {
    if (state.flow.phase !== "waiting") return;
    state.flow.pasteReason = error.message;
    render();
  });
}

function copy(text: string): void {
  void navigator.clipboard?.writeText(text).catch(() => undefined);
}

function copyLink(): void {
  const flow = state.flow;
  if (flow.phase !== "waiting") return;
  api
    .copyLink()
    .then(() => {
      if (state.flow !== flow) return;
      flow.linkCopied = true;
      render();
      document.querySelector<HTMLElement>("[data-action=copy-link]")?.focus();
    })
    .catch((error: PixyError) => {
      if (state.flow !== flow) return;
      flow.copyProblem = error.message;
      render();
    });
}

function dismiss(): void {
  state.flow = { phase: "idle" };
  render();
}

/** Runs one change at the daemon, then reloads the lists. A failure is said in the notice, set
 *  after the reload, which would otherwise clear it. */
async function change(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
    state.problem = null;
  } catch (error) {
    await refresh();
    state.problem = error as PixyError;
    render();
    return;
  }
  await refresh();
}

/** Refreshes an account's tokens now; the list shows the account's new status either way. */
function refreshNow(account: Account): Promise<void> {
  return change(() => api.refresh(account.id));
}

/** Opens the Disconnect confirmation under an account, or closes it (null). */
function confirmDisconnect(accountId: string | null): void {
  const closing = state.confirming;
  state.confirming = accountId;
  renderAccountLists();
  // The confirmation's safe choice takes the focus; closing it gives the focus back to its button.
  if (accountId !== null) accountList.querySelector<HTMLElement>("[data-confirm] [data-action=keep]")?.focus();
  if (accountId === null && closing !== null) {
    accountList
      .querySelector<HTMLElement>(`[data-account-id="${CSS.escape(closing)}"] [data-action=disconnect]`)
      ?.focus();
  }
}

async function disconnect(accountId: string): Promise<void> {
  state.confirming = null;
  await change(async () => {
    await api.unlink(accountId);
    // A "Connected" panel about the account just removed would now be wrong.
    if (state.flow.phase === "connected" && state.flow.account.id === accountId) {
      state.flow = { phase: "idle" };
    }
  });
}

/** Asks the daemon for the questions waiting; a new one is brought to the person's eye. */
async function pollQuestions(): Promise<void> {
  let questions: Question[];
  try {
    questions = await api.questions();
  } catch {
    return; // the lists' own refresh says when the daemon cannot be reached
  }
  const known = new Set(state.questions.map((q) => q.id));
  const arrived = questions.some((q) => !known.has(q.id));
  const same = questions.length === state.questions.length && !arrived;
  if (same) return;
  const answeredElsewhere = state.questions.length > questions.length;
  state.questions = questions;
  for (const q of questions) if (!firstShown.has(q.id)) firstShown.set(q.id, Date.now());
  renderQuestions(consentPanel, state.questions, Date.now(), firstShown, consentActions);
  if (arrived) {
    // The heading takes the focus, not a button: no key press meant for something else answers.
    consentPanel.scrollIntoView({ block: "start" });
    consentPanel.querySelector<HTMLElement>("#consent-title")?.focus();
  }
  // What an answer changed (a new grant, a handout) shows in the lists.
  if (answeredElsewhere) void refresh();
}

/** When each question was first shown, for the delay before it can be answered. */
const firstShown = new Map<number, number>();

async function answer(question: Question, choice: Choice): Promise<void> {
  state.questions = state.questions.filter((q) => q.id !== question.id);
  renderQuestions(consentPanel, state.questions, Date.now(), firstShown, consentActions);
  try {
    await api.answer(question.id, choice);
  } catch (error) {
    // Answered elsewhere first, or expired: the notice says so; nothing else changes.
    state.problem = error as PixyError;
  }
  await refresh();
}

function revokeGrant(grant: Grant): Promise<void> {
  return change(() => api.revokeGrant(grant.program, grant.account));
}

window.setInterval(() => {
  void pollQuestions();
  document.querySelectorAll<HTMLElement>("[data-question-countdown]").forEach((node) => {
    node.textContent = secondsLeft(Number(node.dataset.questionCountdown), Date.now());
  });
}, 1000);

// The countdown ticks locally between the daemon's Waiting events; only its text changes, so the
// focused button is not rebuilt every second.
window.setInterval(() => {
  if (state.flow.phase !== "waiting") return;
  const text = countdown(state.flow.deadline, Date.now());
  document.querySelectorAll("[data-countdown]").forEach((node) => (node.textContent = text));
}, 1000);

/** Follows the accounts and grants as the CLI, the refresh schedule and programs' token requests
 *  change them. Only those lists are drawn again, and only when they changed: what the person is
 *  typing elsewhere, and the focus, stay where they are. */
async function followAccounts(): Promise<void> {
  if (!state.loaded || state.flow.phase === "waiting") return;
  try {
    const [listed, grants] = await Promise.all([api.accounts(), api.grants()]);
    const changed =
      JSON.stringify([listed.accounts, grants]) !== JSON.stringify([state.accounts, state.grants]);
    if (!changed) return;
    state.accounts = listed.accounts;
    state.grants = grants;
    renderAccountLists();
  } catch {
    // The next full refresh says what is wrong.
  }
}

window.setInterval(() => void followAccounts(), 5000);

// "Expires in", "token valid for" and "linked … ago" are said relative to now: said again each
// half minute even when nothing changed at the daemon.
window.setInterval(() => {
  if (state.loaded && state.flow.phase !== "waiting" && state.confirming === null) renderAccountLists();
}, 30_000);

const autostart = new Autostart(
  document.querySelector<HTMLInputElement>("#autostart")!,
  document.querySelector<HTMLElement>("#autostart-error")!,
);

new CopyDiagnostics(
  document.querySelector<HTMLButtonElement>("#copy-diagnostics")!,
  document.querySelector<HTMLElement>("#diagnostics-said")!,
);

// The CLI or the tray may have changed the accounts while the window was in the background, and
// the login entry is the person's to remove by hand as well.
window.addEventListener("focus", () => {
  if (state.flow.phase !== "waiting") void refresh();
  void autostart.load();
});

byUrlForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const url = byUrlInput.value.trim();
  if (!/^https?:\/\/./i.test(url)) {
    byUrlInput.setCustomValidity("Enter the server's address, starting with https://");
    byUrlInput.reportValidity();
    return;
  }
  byUrlInput.setCustomValidity("");
  void connectResource(url);
});
byUrlInput.addEventListener("input", () => byUrlInput.setCustomValidity(""));

/** Goes to where this launch of the window (or a later one, which the running window takes over)
 *  asked: a question waiting for an answer, or one account. */
function showLaunchView(): void {
  void api
    .launchView()
    .then((view) => {
      if (view.consent) consentPanel.scrollIntoView({ block: "start" });
      if (view.account) {
        state.focusAccount = view.account;
        scrolledToFocus = false;
        render();
      }
      if (view.consent) void pollQuestions();
    })
    .catch(() => undefined);
}

new AddProvider(
  document.querySelector<HTMLFormElement>("#add-provider")!,
  document.querySelector<HTMLElement>("#provider-details")!,
  document.querySelector<HTMLElement>("#provider-said")!,
  (provider) => {
    void refresh().then(() => {
      const row = providerList.querySelector<HTMLElement>(`[data-provider-id="${CSS.escape(provider.id)}"]`);
      row?.scrollIntoView({ block: "center" });
      row?.querySelector<HTMLElement>("[data-action=connect]")?.focus();
    });
  },
);

/** Asks the daemon for everything once the page has loaded: requests made before the load event
 *  hold back the window's first paint (measured), so the window shows itself first, its lists
 *  saying "Loading…", and fills them a moment later. */
function start(): void {
  void refresh();
  void pollQuestions();
  void autostart.load();
  showLaunchView();
}

render();
if (document.readyState === "complete") start();
else window.addEventListener("load", () => window.setTimeout(start), { once: true });
api.onLaunchViewChanged(showLaunchView);
