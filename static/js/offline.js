// Offline Today and exercise pages, and logs made without a connection.
//
// Loaded on Today and each exercise page by templates/sheet/_offline_hook.html, whose data
// attributes say where the service worker is, its scope, who is signed in and the practice's
// time zone. Every page works the same without this module.
//
// - Registers the service worker (static/js/sw.js) and, when Today is opened online, asks it
//   to keep Today and every programme page Today links to, with their styles and pictures.
// - On a kept copy served offline, says so: "You're offline — showing your programme as of …".
// - The log form: offline (or when sending fails) the entry is kept in IndexedDB with its
//   client_key and the practice's date, and "Saved on this phone" is shown. Kept entries are
//   sent again when the connection returns and on the next page load, with the same fields;
//   the server stores a client_key once, so a log can never be counted twice.
// - "Done, felt fine" (quick-log.js): sent in place, or kept the same way. The home page
//   loads this module too, for those taps, its banner and sending what was kept.

import {
  available,
  csrfFrom,
  entryFrom,
  freshKey,
  keep,
  kept as keptFor,
  sendKept,
} from "./offline-queue.js";
import { enhanceQuickLogs } from "./quick-log.js";

const hook = document.querySelector("script[data-offline]");
const root = document.documentElement;

const SENT_NOTE = "portal-offline-sent";
// Also forgotten by offline-queue.js (forgetKeptPages): keep the two names the same.
const PRECACHED = "portal-offline-precached";
// Today asks for fresh copies of the pages it links to at most this often (a page opened
// online refreshes its own copy every time anyway).
const PRECACHE_EVERY_MS = 15 * 60 * 1000;
const MISSING = {
  feedback_left: "Say how the left side felt.",
  feedback_right: "Say how the right side felt.",
  feedback: "Say how it felt.",
};

const config = hook ? {
  sw: hook.dataset.offlineSw,
  scope: hook.dataset.offlineScope || "/programme/",
  home: hook.dataset.offlineHome || "/",
  user: hook.dataset.offlineUser || "",
  timeZone: hook.dataset.offlineTimezone || undefined,
} : null;

// This client's kept logs (the queue itself lives in offline-queue.js).
const kept = () => keptFor(config.user);

// --- small helpers ---------------------------------------------------------------------------

function asOf(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "your last visit";
  const options = { weekday: "short", day: "numeric", month: "long", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23" };
  try {
    return new Intl.DateTimeFormat("en-GB", { ...options, timeZone: config.timeZone }).format(when);
  } catch {
    return new Intl.DateTimeFormat("en-GB", options).format(when);
  }
}

function plural(count, one, many) {
  return count === 1 ? one : many.replace("{n}", String(count));
}

// A message box at the top of the page's content (one per kind, replaced when it changes).
function notice(kind, lines, { alert = false } = {}) {
  const main = document.querySelector("main") || document.body;
  let box = document.querySelector(`[data-offline-notice="${kind}"]`);
  if (!lines) {
    if (box) box.remove();
    return null;
  }
  if (!box) {
    box = document.createElement("div");
    box.dataset.offlineNotice = kind;
    box.className = `offline-notice offline-notice--${kind}`;
    box.setAttribute("role", alert ? "alert" : "status");
    const flashes = main.querySelector(".flashes");
    main.insertBefore(box, flashes ? flashes.nextSibling : main.firstChild);
  }
  box.replaceChildren(...lines.map(([strong, rest]) => {
    const p = document.createElement("p");
    if (strong) {
      const b = document.createElement("strong");
      b.textContent = strong;
      p.append(b);
    }
    if (rest) p.append(rest);
    return p;
  }));
  return box;
}

// --- the banner on a kept copy ----------------------------------------------------------------

async function describeOffline() {
  const copy = root.getAttribute("data-offline-copy");
  const lines = [];
  if (copy !== null && navigator.onLine) {
    lines.push(["You're back online", ` — this is the copy saved ${asOf(copy)}. Reload for the latest.`]);
  } else if (copy !== null) {
    lines.push(["You're offline", ` — showing your programme as of ${asOf(copy)}.`]);
  } else if (!navigator.onLine) {
    lines.push(["You're offline", " — you can still follow your stretches."]);
  }
  if (!lines.length) {
    notice("offline", null);
    return;
  }
  const waiting = (await kept().catch(() => [])).length;
  if (waiting) {
    lines.push(["", plural(waiting, "1 log is saved on this phone and will be sent when you're back online.",
      "{n} logs are saved on this phone and will be sent when you're back online.")]);
  } else {
    lines.push(["", "Logs you make are saved on this phone and sent when you're back online."]);
  }
  notice("offline", lines);
}

function markOfflineCopy() {
  if (!root.hasAttribute("data-offline-copy")) return;
  // Messages from the visit that was saved would be stale, and links out of the programme
  // lead to pages that aren't kept.
  for (const element of document.querySelectorAll(".flashes, [data-online-only]")) {
    element.hidden = true;
  }
}

// --- the log form ----------------------------------------------------------------------------

function logForm() {
  return document.querySelector('form[method="post"][action$="/log"]');
}

function firstMissing(form) {
  const names = new Set([...form.querySelectorAll('input[type="radio"]')].map((r) => r.name));
  for (const name of names) {
    if (!form.querySelector(`input[type="radio"][name="${CSS.escape(name)}"]:checked`)) {
      return name;
    }
  }
  return null;
}

function showSaved(form) {
  const section = form.closest("section") || form.parentNode;
  const box = document.createElement("div");
  box.className = "offline-saved";
  box.setAttribute("role", "status");
  box.tabIndex = -1;
  const p = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = "Saved on this phone";
  p.append(strong, " — it will be sent when you're back online.");
  const back = document.createElement("p");
  const link = document.createElement("a");
  link.className = "button button--secondary";
  link.href = config.scope;
  link.textContent = "Back to Today";
  back.append(link);
  box.append(p, back);
  // The one-tap form beside it would be a second log of the same exercise.
  for (const part of section.querySelectorAll("form, .log-card__quick, .log-card__detail")) {
    part.hidden = true;
  }
  section.append(box);
  box.focus();
}

function showMissing(form, name) {
  const group = form.querySelector(`input[name="${CSS.escape(name)}"]`)?.closest("fieldset");
  notice("form", [["", MISSING[name] || "Say how it felt."]], { alert: true });
  if (group) group.focus();
}

async function keepOffline(form) {
  const entry = entryFrom(form, config, (data) => ({
    exercise: (document.querySelector("h1")?.textContent || "").trim(),
    feedback: { left: data.feedback_left || "", right: data.feedback_right || "",
      both: data.feedback || "" },
    note: data.note || "",
  }));
  try {
    await keep(entry);
  } catch {
    notice("form", [["Not saved", ": this phone won't keep it. Log it again when you're back online."]],
      { alert: true });
    return;
  }
  notice("form", null);
  showSaved(form);
  await describeOffline().catch(() => {});
}

// A kept copy opened from "Tell us how it felt" after a tap kept on this phone: the address
// names the tap's key (log=...) and the moment, which the copy's form may not have.
function fromAddress(name, pattern) {
  const value = new URLSearchParams(location.search).get(name) || "";
  return pattern.test(value) ? value : "";
}

function enhanceLogForm() {
  const form = logForm();
  if (!form || !available()) return;
  if (root.hasAttribute("data-offline-copy") && form.elements.client_key) {
    // A kept copy is opened again and again: each opening is a new log, so a new key.
    form.elements.client_key.value = fromAddress("log", /^[A-Za-z0-9_-]{8,64}$/) || freshKey();
    const moment = fromAddress("moment", /^[a-z_]{1,20}$/);
    if (moment && form.elements.moment) form.elements.moment.value = moment;
  }
  let busy = false;
  // On the document, so the form still works after a one-tap log replaced its card.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form !== logForm()) return;
    if (event.defaultPrevented) return;
    if (busy) {
      event.preventDefault();
      return;
    }
    const missing = firstMissing(form);
    // Online, the server explains what's missing exactly as it does without JavaScript.
    if (navigator.onLine && missing) return;
    event.preventDefault();
    if (missing) {
      showMissing(form, missing);
      return;
    }
    busy = true;
    if (!navigator.onLine) {
      await keepOffline(form);
      return;
    }
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin", redirect: "manual",
      });
    } catch {
      await keepOffline(form); // the connection failed on the way: keep it, same key
      return;
    }
    if (response.type === "opaqueredirect") {
      location.assign(config.scope); // logged: Today shows "Logged" and the tick
    } else if ([502, 503, 504].includes(response.status)) {
      await keepOffline(form);
    } else {
      // The server's own page (the pain advice, or what to fix): send the form again the
      // ordinary way to show it. Same client_key, so a stored log is still stored once.
      form.submit();
    }
  });
}

// --- sending kept logs -----------------------------------------------------------------------

const freshCsrf = () => csrfFrom(config.scope);

async function replay() {
  if (!navigator.onLine || !available()) return;
  const { sent, refused, signedOut } = await sendKept(config.user, freshCsrf);
  if (signedOut) {
    // This phone's sign-in has ended (here or elsewhere): the page shown is a kept copy,
    // which must not stay on screen or in the cache. Today answers with the sign-in page,
    // and the service worker and forget.js clear what was kept.
    location.assign(config.scope);
    return;
  }
  if (!sent && !refused) return;
  const lines = [];
  if (sent) {
    lines.push(["", plural(sent, "Your log saved on this phone has been sent.",
      "Your {n} logs saved on this phone have been sent.")]);
  }
  if (refused) {
    lines.push(["", plural(refused,
      "1 log saved on this phone couldn't be sent: that exercise is no longer in your programme, or the day is too long ago.",
      "{n} logs saved on this phone couldn't be sent: those exercises are no longer in your programme, or the days are too long ago.")]);
  }
  if (sent && (location.pathname === config.scope || location.pathname === config.home)) {
    // Reload Today (or home) so the ticks and progress include what was just sent.
    sessionStorage.setItem(SENT_NOTE, JSON.stringify(lines));
    location.reload();
    return;
  }
  notice("sent", lines);
  await describeOffline();
}

function showSentAfterReload() {
  const raw = sessionStorage.getItem(SENT_NOTE);
  if (!raw) return;
  sessionStorage.removeItem(SENT_NOTE);
  try {
    notice("sent", JSON.parse(raw));
  } catch {
    // ignore a damaged note
  }
}

// --- the service worker ----------------------------------------------------------------------

function ask(worker, message) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data || {});
    worker.postMessage(message, [channel.port2]);
  });
}

function programmePages() {
  const pages = new Set([location.pathname]);
  for (const link of document.querySelectorAll("a[href]")) {
    const url = new URL(link.href, location.href);
    if (url.origin === location.origin && url.pathname.startsWith(config.scope)) {
      pages.add(url.pathname + url.search);
    }
  }
  return [...pages].sort();
}

async function setUpWorker() {
  if (!("serviceWorker" in navigator) || !config.sw) return;
  // Only pages the worker keeps register it (not the home page, which loads this module for
  // its one-tap logs): registered from elsewhere, it could finish installing just as Today
  // opens, too late to take charge of it.
  if (!location.pathname.startsWith(config.scope)) return;
  try {
    await navigator.serviceWorker.register(config.sw, { scope: config.scope });
  } catch {
    return; // no offline copies (an old browser, or a private window): the page still works
  }
  // Signing out (static/js/signout.js) sends kept logs first, then forgets the kept pages.
  if (root.hasAttribute("data-offline-copy") || !navigator.onLine) return;
  if (location.pathname !== config.scope) {
    root.dataset.offlineReady = "page";
    return;
  }
  const pages = programmePages();
  const signature = JSON.stringify({ user: config.user, pages });
  try {
    const last = JSON.parse(localStorage.getItem(PRECACHED) || "{}");
    if (last.signature === signature && Date.now() - last.at < PRECACHE_EVERY_MS) {
      root.dataset.offlineReady = "recent";
      return;
    }
  } catch {
    // a damaged note: precache again
  }
  const registration = await navigator.serviceWorker.ready;
  if (!registration.active) return;
  const answer = await ask(registration.active, { type: "precache", user: config.user, pages });
  if (answer.pages) {
    localStorage.setItem(PRECACHED, JSON.stringify({ signature, at: Date.now() }));
  }
  root.dataset.offlineReady = String(answer.pages || 0);
}

// --- start -----------------------------------------------------------------------------------

const quietly = (promise) => promise.catch(() => {});

if (config) {
  markOfflineCopy();
  showSentAfterReload();
  enhanceLogForm();
  enhanceQuickLogs({
    user: config.user,
    timeZone: config.timeZone,
    keptCopy: root.hasAttribute("data-offline-copy"),
    notice,
    onKept: () => quietly(describeOffline()),
  });
  quietly(describeOffline());
  window.addEventListener("offline", () => quietly(describeOffline()));
  window.addEventListener("online", () => {
    quietly(describeOffline());
    quietly(replay());
  });
  quietly(replay());
  quietly(setUpWorker());
}
