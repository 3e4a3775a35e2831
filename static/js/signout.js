// Signing out with nothing of this client left on the phone, and nothing lost.
//
// Loaded on every page a client sees signed in (base.html). The answer to a sign-out clears
// the site's storage (Clear-Site-Data: "cache", "storage"), which takes the logs kept
// offline (offline-queue.js) with it. So each sign-out form (data-signout) first sends those
// logs; then it deletes the kept Today pages itself, for browsers that ignore the header;
// then it signs out. If some logs can't be sent (no connection), it says so and signs out
// only when the button is pressed again. Without JavaScript the form is sent as it is.
// (A phone signed out from another device has no sign-out to press: forget.js.)

import { forgetKeptPages, sendKept } from "./offline-queue.js";

const script = document.querySelector("script[data-signout-user]");
const user = script ? script.dataset.signoutUser : "";

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
