// Small progressive enhancements; every page works without them.

// A "Show" button on password fields, so people on phones can check what they typed.
function addPasswordToggles(root) {
  for (const input of root.querySelectorAll('input[type="password"]')) {
    const wrap = document.createElement("div");
    wrap.className = "password-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "password-toggle";
    button.textContent = "Show";
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", "Show password");
    button.addEventListener("click", () => {
      const showing = input.type === "text";
      input.type = showing ? "password" : "text";
      button.textContent = showing ? "Show" : "Hide";
      button.setAttribute("aria-pressed", String(!showing));
      button.setAttribute("aria-label", showing ? "Show password" : "Hide password");
    });
    wrap.appendChild(button);
  }
}

// Ask before destructive actions marked with data-confirm.
function addConfirmations(root) {
  for (const form of root.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

// Move focus to an error summary so screen readers announce it after a failed submit.
function focusErrors(root) {
  const summary = root.querySelector("[data-focus-on-load]");
  if (summary) summary.focus();
}

addPasswordToggles(document);
addConfirmations(document);
focusErrors(document);
