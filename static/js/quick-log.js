// "Done, felt fine": one-tap logs sent in place, or kept on the phone when offline.
//
// The forms (templates/programme/_quick_log.html) work without this module: the answer is
// the page again, at the item, showing it done. With it, a tap sends the same form in the
// background, and the parts of the page that change ([data-refresh]: the items, the day's
// progress, this week's adherence and streak) are replaced by the server's own, taken from
// the page the answer redirects to. The page's message then joins the item and takes focus,
// as enhance.js does after a redirect to part of a page, so it is seen and read out there.
//
// Offline (or when the connection fails on the way) the tap is kept in IndexedDB with its
// client_key, like the log form's, and offline.js sends it later; the server stores a key
// once, so a tap is never counted twice. Loaded by offline.js, which passes its settings.

import { available, entryFrom, freshKey, keep } from "./offline-queue.js";

const SELECTOR = "form[data-quick-log]";
const sending = new WeakSet();

function plainText(strong, rest) {
  const p = document.createElement("p");
  const b = document.createElement("strong");
  b.textContent = strong;
  p.append(b, rest);
  return p;
}

// The full log form on this page for the same exercise, if any (the exercise page).
function logFormFor(form) {
  const item = form.action.replace(/\/done$/, "/log");
  return [...document.querySelectorAll('form[method="post"][action$="/log"]')]
    .find((candidate) => candidate.action === item) || null;
}

// Where "Tell us how it felt" leads for a tap kept on the phone: the log form on this page,
// given the tap's key, or the exercise page told that key (log=...), so the detail given
// there replaces the kept tap and it stays one log.
function tellLink(form, key) {
  const link = document.createElement("a");
  link.textContent = "Tell us how it felt";
  const logForm = logFormFor(form);
  if (logForm && logForm.elements.client_key) {
    logForm.elements.client_key.value = key;
    link.href = "#log";
  } else {
    const url = new URL(form.dataset.tell || form.action.replace(/\/done$/, ""), location.href);
    url.searchParams.set("log", key);
    url.hash = "log";
    link.href = url.pathname + url.search + url.hash;
  }
  return link;
}

// --- in place ---------------------------------------------------------------------------------

function showAnswer(page, anchor) {
  for (const region of document.querySelectorAll("[data-refresh]")) {
    const fresh = page.querySelector(`[data-refresh="${CSS.escape(region.dataset.refresh)}"]`);
    if (fresh) region.replaceWith(document.importNode(fresh, true));
  }
  // Messages from before (an earlier tap, the page's load) are over.
  for (const old of document.querySelectorAll("main .flashes, [data-offline-notice='form']")) {
    old.remove();
  }
  const messages = page.querySelector(".flashes");
  const target = anchor ? document.getElementById(anchor) : null;
  const main = document.querySelector("main");
  if (!messages) {
    if (target) target.focus?.();
    return;
  }
  const shown = document.importNode(messages, true);
  if (target) target.prepend(shown);
  else main.prepend(shown);
  shown.tabIndex = -1;
  shown.focus();
}

// --- offline ----------------------------------------------------------------------------------

function showKept(form, entry) {
  const box = form.parentElement;
  const saved = document.createElement("div");
  saved.className = "offline-saved quick-log__saved";
  saved.setAttribute("role", "status");
  saved.tabIndex = -1;
  const told = document.createElement("p");
  told.append(tellLink(form, entry.client_key));
  saved.append(plainText("Saved on this phone", " — it will be sent when you're back online."),
    told);
  box.replaceChildren(saved);
  saved.focus();
}

async function keepOffline(form, settings) {
  const entry = entryFrom(form, settings, () => ({
    exercise: form.dataset.exercise || "",
    feedback: { left: "", right: "", both: "fine" },
  }));
  try {
    if (!available()) throw new Error("no IndexedDB");
    await keep(entry);
  } catch {
    sending.delete(form);
    settings.notice("form", [["Not saved", ": this phone won't keep it. Log it again when you're back online."]],
      { alert: true });
    return;
  }
  showKept(form, entry);
  settings.onKept();
}

// --- sending ----------------------------------------------------------------------------------

async function send(form, settings) {
  if (!navigator.onLine) {
    await keepOffline(form, settings);
    return;
  }
  let response;
  try {
    response = await fetch(form.action, {
      method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin",
    });
  } catch {
    await keepOffline(form, settings); // the connection failed on the way: keep it, same key
    return;
  }
  if ([502, 503, 504].includes(response.status)) {
    await keepOffline(form, settings);
    return;
  }
  const landed = new URL(response.url);
  if (!response.ok || !response.redirected || landed.pathname !== location.pathname) {
    // The server's own page (what was wrong, or signing in again): send the form the
    // ordinary way to show it. Same client_key, so a stored log is still stored once.
    form.submit();
    return;
  }
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  showAnswer(page, form.dataset.anchor);
  // For scripts whose words depend on it (the guided timer's last hint).
  document.dispatchEvent(new CustomEvent("portal:logged"));
  if (landed.search !== location.search) {
    // The exercise page now tells this log how it felt (log=...): a reload keeps doing so.
    history.replaceState(history.state, "", landed.pathname + landed.search);
  }
}

// settings: user, timeZone, keptCopy (this page is a copy kept for offline use), notice
// (offline.js's message box) and onKept (called when a tap was kept on the phone).
export function enhanceQuickLogs(settings) {
  if (settings.keptCopy) {
    // A kept copy is opened again and again: each opening's taps are new logs, new keys.
    for (const form of document.querySelectorAll(SELECTOR)) {
      if (form.elements.client_key) form.elements.client_key.value = freshKey();
    }
  }
  // On the document, so forms that arrive with a replaced part of the page work too.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches(SELECTOR)) return;
    if (event.defaultPrevented) return;
    event.preventDefault();
    if (sending.has(form)) return; // a double tap: the first is on its way
    sending.add(form);
    send(form, settings).catch(() => form.submit());
  });
}
