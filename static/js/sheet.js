// The printable sheet: a "Print this sheet" button (without JavaScript it stays hidden and
// the browser's own Print works the same), and the read-only address selected on focus so
// it is easy to copy on a phone.

for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

for (const input of document.querySelectorAll(".sheet-share input[readonly]")) {
  input.addEventListener("focus", () => input.select());
}
