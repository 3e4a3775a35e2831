// A phone whose sign-in was ended from elsewhere forgets what it kept for offline use.
//
// When a phone is signed out from another device ("Your devices", "Sign out everywhere"), or
// the account changes (a new password, deactivated, erased), nobody presses "Sign out" on
// the phone, so signout.js never runs there, and its service worker would go on showing the
// kept Today to whoever holds it, offline. The first request that reaches the server with
// the dead session notes it in the session, and every page then loads this module
// (base.html) until it reports back. It:
//
// - counts the logs kept offline and deletes them: they can't be sent any more (the server
//   refuses a signed-out phone, and the next person to sign in on it may be someone else),
//   and a phone that may be lost must not keep health data;
// - deletes the kept copies of Today and the service worker that serves them;
// - tells the server it is done, whose answer carries Clear-Site-Data for anything missed;
// - says what happened, with how many unsent logs were deleted, so none is lost silently.
//
// If the connection drops before the server hears back, the next page does it again.

import { discardAll, forgetKeptPages } from "./offline-queue.js";

const script = document.querySelector("script[data-forget]");

function plural(count, one, many) {
  return count === 1 ? one : many.replace("{n}", String(count));
}

function tell(logs) {
  const main = document.querySelector("main") || document.body;
  const box = document.createElement("div");
  box.dataset.forgotten = "";
  box.className = "flash flash--info";
  box.setAttribute("role", "status");
  const lines = ["This device was signed out of your account, so your programme is no longer "
    + "kept on it for use offline."];
  if (logs) {
    lines.push(plural(logs,
      "1 log made offline hadn't been sent, and has been deleted from this device. Sign in to log it again.",
      "{n} logs made offline hadn't been sent, and have been deleted from this device. Sign in to log them again."));
  }
  for (const line of lines) {
    const p = document.createElement("p");
    p.textContent = line;
    box.append(p);
  }
  const flashes = main.querySelector(".flashes");
  // Where enhance.js put focus so the page's messages are read out (or nowhere yet): this one
  // takes it, to be read too. Someone already typing keeps their place.
  const unmoved = [document.body, main, flashes, null].includes(document.activeElement);
  if (flashes) flashes.append(box);
  else main.insertBefore(box, main.firstChild);
  if (unmoved) {
    box.tabIndex = -1;
    box.focus();
  }
}

async function forget() {
  // Counted before anything is deleted; a phone that can't open its store has nothing to say.
  const logs = await discardAll().catch(() => 0);
  const pages = await forgetKeptPages().catch(() => false);
  const body = new URLSearchParams({ csrf_token: script.dataset.forgetCsrf });
  try {
    await fetch(script.dataset.forget, { method: "POST", body, credentials: "same-origin" });
  } catch {
    // Offline again: this page's next visit asks again (nothing is left to count by then).
  }
  // Nothing kept (a therapist's browser, or Today never opened): nothing to tell.
  if (pages || logs) tell(logs);
}

if (script) forget();
