// Small progressive enhancements; every page works without them.

// A "Show" button on password fields, so people on phones can check what they typed.
// The button's name says what pressing it will do ("Show password" / "Hide password"); it
// carries no aria-pressed as well, which would announce the state twice.
function addPasswordToggles(root) {
  for (const input of root.querySelectorAll('input[type="password"]')) {
    const wrap = document.createElement("div");
    wrap.className = "password-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "password-toggle";
    const show = (visible) => {
      input.type = visible ? "text" : "password";
      button.textContent = visible ? "Hide" : "Show";
      button.setAttribute("aria-label", visible ? "Hide password" : "Show password");
    };
    show(false);
    button.addEventListener("click", () => show(input.type === "password"));
    // Hide it again before sending, so the browser never stores it as ordinary text.
    if (input.form) input.form.addEventListener("submit", () => show(false));
    wrap.appendChild(button);
  }
}

// The main navigation shows its links in one row when they fit. When they would wrap (a
// phone, or many sections) they fold behind a "Menu" button; CSS draws both layouts.
function addMenuToggle(root) {
  const nav = root.querySelector(".site-nav");
  if (!nav) return;
  const header = nav.parentNode;
  const items = [...nav.querySelectorAll("li")];
  const button = document.createElement("button");
  button.type = "button";
  button.className = "nav-toggle";
  button.textContent = "Menu";
  button.hidden = true;
  button.setAttribute("aria-controls", nav.id);
  button.setAttribute("aria-expanded", "false");
  header.insertBefore(button, nav);

  const isOpen = () => button.getAttribute("aria-expanded") === "true";
  const setOpen = (open) => {
    button.setAttribute("aria-expanded", String(open));
    nav.toggleAttribute("data-folded", !open);
  };
  const setMenu = (on) => {
    button.hidden = !on;
    header.classList.toggle("site-header__inner--menu", on);
    nav.classList.toggle("site-nav--menu", on);
    if (!on) nav.removeAttribute("data-folded");
  };
  // Lay the links out as a row, then look whether any of them went to a second line.
  const fit = () => {
    const open = isOpen();
    setMenu(false);
    const wraps = items.some((item) => item.offsetTop !== items[0].offsetTop);
    if (wraps) {
      setMenu(true);
      setOpen(open);
    }
  };
  button.addEventListener("click", () => setOpen(!isOpen()));
  // Escape closes an open menu and gives focus back to its button. The layout is checked
  // first: a resize the browser has not reported yet may have changed it.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    fit();
    if (button.hidden) {
      button.setAttribute("aria-expanded", "false");  // stays shut if the menu comes back
      return;
    }
    setOpen(false);
    button.focus();
  });
  window.addEventListener("resize", fit);
  fit();
}

// Ask before destructive actions marked with data-confirm.
function addConfirmations(root) {
  for (const form of root.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

// The page that answers a form says what happened: an error summary, or messages at the top
// of the content ("Booked: ...", "Saved version 3"). Both are there when the page loads, and
// screen readers announce a live region only when it changes, so focus moves to them instead:
// that reads them out, shows the ring and starts the next Tab from there. Errors come first.
function focusOnLoad(root) {
  const summary = root.querySelector("[data-focus-on-load]");
  if (summary) {
    summary.focus();
    return;
  }
  const messages = root.querySelector(".flashes");
  // A copy kept for offline use shows no messages from the visit it was saved on (offline.js).
  if (!messages || document.documentElement.hasAttribute("data-offline-copy")) return;
  // After a redirect to part of a page (the diary's #appointment-3 after "Note saved") the
  // browser shows that part: the messages join it, to be seen, heard and left from there.
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target && target.matches("section, article, li") && !target.contains(messages)) {
    target.prepend(messages);
  }
  messages.tabIndex = -1;
  // Going to a part of a page that cannot take focus itself, the browser sends focus to the
  // document as the page finishes; by "load" it has done so.
  if (target) window.addEventListener("load", () => messages.focus(), { once: true });
  else messages.focus();
}

// A "Print" button ([data-print], hidden in the markup): without JavaScript it stays hidden
// and the browser's own Print works the same.
function addPrintButtons(root) {
  for (const button of root.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
}

addMenuToggle(document);
addPrintButtons(document);
addPasswordToggles(document);
addConfirmations(document);
focusOnLoad(document);
