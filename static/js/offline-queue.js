// The logs kept on this phone while offline (IndexedDB), and sending them to the server;
// and forgetting everything kept for offline use.
//
// Shared by offline.js and quick-log.js (which keep logs made offline; offline.js sends them
// when the connection returns), signout.js (which sends them before signing out, because
// signing out clears the site's storage) and forget.js (which, on a phone signed out from
// elsewhere, where nothing can be sent any more, counts them and forgets them with the kept
// Today). An ES module is loaded once per page, so all see one queue and one sender: a
// second send waits for the first, and the server stores a client_key once anyway.

const DB_NAME = "portal-offline";
const STORE = "logs";
const CSRF_RE = /name="csrf_token"[^>]*value="([^"]+)"/;
// What else is kept for offline use: the service worker's copies of Today (sw.js names its
// caches so) and offline.js's note of when it last asked for them (the same name there).
const CACHE_PREFIX = "portal-programme-";
const PRECACHED = "portal-offline-precached";

let dbPromise = null;

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { keyPath: "client_key" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return dbPromise;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(mode) {
  const db = await openDb();
  return db.transaction(STORE, mode).objectStore(STORE);
}

export function available() {
  return "indexedDB" in window;
}

// A new client_key, as the server makes them (32 hex digits).
export function freshKey() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// Today's date in the practice's time zone, as the server counts days (YYYY-MM-DD): a log
// kept offline is dated the day it was made, not the day it is sent.
export function practiceDate(timeZone) {
  const options = { year: "numeric", month: "2-digit", day: "2-digit" };
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-CA", { ...options, timeZone }).formatToParts(new Date());
  } catch {
    parts = new Intl.DateTimeFormat("en-CA", options).formatToParts(new Date());
  }
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

// A log form as a kept entry: every field it would post (local_date is added again when it
// is sent) and what the offline pages show of it. `shown(data)` gives the exercise's name and
// what the client said ({exercise, feedback, note}), which the two kinds of form say
// differently.
export function entryFrom(form, { user, timeZone }, shown) {
  const fields = [];
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string" && name !== "local_date") fields.push([name, value]);
  }
  const data = Object.fromEntries(fields);
  const action = new URL(form.action, location.href).pathname;
  return {
    client_key: data.client_key,
    user,
    action,
    item_id: (action.match(/\/items\/(\d+)\//) || [])[1] || "",
    note: "",
    ...shown(data),
    moment: data.moment || "",
    local_date: practiceDate(timeZone),
    queued_at: new Date().toISOString(),
    fields,
  };
}

export async function keep(entry) {
  await done((await store("readwrite")).put(entry));
}

async function forget(clientKey) {
  await done((await store("readwrite")).delete(clientKey));
}

// This client's kept logs, oldest first (another client's, on a shared phone, stay put).
export async function kept(user) {
  if (!available()) return [];
  const all = await done((await store("readonly")).getAll());
  return all.filter((entry) => entry.user === user)
    .sort((a, b) => a.queued_at.localeCompare(b.queued_at));
}

// A CSRF token from a fresh copy of a page (the kept form's own may have expired).
export async function csrfFrom(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    const match = CSRF_RE.exec(await response.text());
    return match ? match[1] : null;
  } catch {
    return null;
  }
}

async function post(entry, csrf) {
  const body = new URLSearchParams(entry.fields);
  body.set("local_date", entry.local_date);
  if (csrf) body.set("csrf_token", csrf);
  const response = await fetch(entry.action, { method: "POST", body, credentials: "same-origin" });
  if (new URL(response.url).pathname.startsWith("/auth/")) return "signed-out";
  if (response.ok) return "sent"; // Today after the redirect, or the pain advice
  if (response.status === 400) return "rejected";
  if (response.status === 403 || response.status === 404) return "refused";
  return "later";
}

async function sendAll(user, freshCsrf) {
  const result = { sent: 0, refused: 0, left: 0, signedOut: false };
  if (!navigator.onLine || !available()) {
    result.left = (await kept(user).catch(() => [])).length;
    return result;
  }
  const entries = await kept(user).catch(() => []);
  let csrf = null;
  for (const [index, entry] of entries.entries()) {
    let outcome;
    try {
      outcome = await post(entry, csrf);
      if (outcome === "rejected") {
        // Most likely the kept form's CSRF token has expired: fetch a fresh one and try
        // once more; a second refusal means the log itself can't be stored.
        csrf = await freshCsrf();
        outcome = csrf ? await post(entry, csrf) : "later";
        if (outcome === "rejected") outcome = "refused";
      }
    } catch {
      outcome = "later"; // offline again
    }
    if (outcome === "sent" || outcome === "refused") {
      await forget(entry.client_key).catch(() => {});
      result[outcome] += 1;
    } else {
      result.left = entries.length - index; // signed out or offline: keep the rest for later
      result.signedOut = outcome === "signed-out";
      break;
    }
  }
  return result;
}

let sending = Promise.resolve();

// Send this client's kept logs, oldest first; resolves to how many were sent, refused for
// good (the exercise left the programme, the day is too old) and left on the phone, and
// whether the server answered that this phone is signed out.
export function sendKept(user, freshCsrf) {
  const run = sending.catch(() => {}).then(() => sendAll(user, freshCsrf));
  sending = run;
  return run;
}

// --- forgetting ------------------------------------------------------------------------------

// Delete every log kept on this phone, whoever made it, and the database holding them:
// for a phone whose sign-in ended elsewhere, where none of them can be sent any more.
// Resolves to how many there were, so the person holding the phone can be told.
export async function discardAll() {
  if (!available()) return 0;
  const count = await done((await store("readonly")).count());
  (await openDb()).close();
  dbPromise = null;
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = () => resolve();
    // Another tab still has it open: it goes when that tab closes (and Clear-Site-Data
    // takes it meanwhile, where the browser honours it).
    request.onblocked = () => resolve();
    request.onerror = () => reject(request.error);
  });
  return count;
}

// Delete the kept copies of Today and its pages, the note of when they were kept, and the
// service worker that serves them offline. Resolves to whether this phone kept Today (the
// copies, or the worker: it may have dropped the copies itself already).
export async function forgetKeptPages() {
  try {
    localStorage.removeItem(PRECACHED);
  } catch {
    // storage switched off: nothing was kept
  }
  let kept = false;
  if ("caches" in window) {
    const names = (await caches.keys()).filter((name) => name.startsWith(CACHE_PREFIX));
    kept = names.length > 0;
    await Promise.all(names.map((name) => caches.delete(name)));
  }
  if ("serviceWorker" in navigator) {
    const registrations = await navigator.serviceWorker.getRegistrations();
    kept = kept || registrations.length > 0;
    await Promise.all(registrations.map((registration) => registration.unregister()));
  }
  return kept;
}
