// Signing out with nothing of this client left on the phone, and nothing lost.
//
// Loaded on every page a client sees signed in (base.html). The answer to a sign-out clears
// the site's storage (Clear-Site-Data: "cache", "storage"), which takes the logs kept
// offline (offline-queue.js) with it. So each sign-out form (data-signout) first sends those
// logs; then it deletes the kept Today pages itself, for browsers that ignore the header;
// then it signs out. If some logs can't be sent (no connection), it says so and signs out
// only when the button is pressed again. Without JavaScript the form is sent as it is.

import { sendKept } from "./offline-queue.js";

const script = document.querySelector("script[data-signout-user]");
const user = script ? script.dataset.signoutUser : "";
// The names offline.js and sw.js use for what they keep.
const PRECACHED = "portal-offline-precached";
const CACHE_PREFIX = "portal-programme-";

async function forgetKeptPages() {
  try {
    localStorage.removeItem(PRECACHED);
  } catch {
    // storage switched off: nothing was kept
  }
  if (!("caches" in window)) return;
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name.startsWith(CACHE_PREFIX))
    .map((name) => caches.delete(name)));
}

function warn(count) {
  const main = document.querySelector("main") || document.body;
  let box = document.querySelector("[data-signout-warning]");
  if (!box) {
    box = document.createElement("div");
    box.dataset.signoutWarning = "";
    box.className = "flash flash--error";
    box.setAttribute("role", "alert");
    main.insertBefore(box, main.firstChild);
  }
  const [logs, them] = count === 1 ? ["1 log saved on this phone hasn't", "it"]
    : [`${count} logs saved on this phone haven't`, "them"];
  box.textContent = `${logs} been sent yet: you seem to be offline. Signing out deletes ${them} `
    + "from this phone. Sign out when you're back online, or press Sign out again now to sign out anyway.";
}

function enhance(form) {
  let busy = false;
  form.addEventListener("submit", async (event) => {
    if (form.dataset.signoutChecked === "yes") return; // warned once: sign out as asked
    event.preventDefault();
    if (busy) return;
    busy = true;
    const token = form.elements.csrf_token ? form.elements.csrf_token.value : null;
    const { left } = await sendKept(user, async () => token)
      .catch(() => ({ left: 0 }));
    form.dataset.signoutChecked = "yes";
    if (left) {
      busy = false;
      warn(left);
      return;
    }
    await forgetKeptPages().catch(() => {});
    form.submit();
  });
}

if (user) {
  for (const form of document.querySelectorAll("form[data-signout]")) enhance(form);
}
