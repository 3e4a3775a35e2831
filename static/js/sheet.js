// The printable sheet: the read-only address selected on focus so it is easy to copy on a
// phone. (Its "Print this sheet" button is enhance.js's, like every [data-print] button.)

for (const input of document.querySelectorAll(".sheet-share input[readonly]")) {
  input.addEventListener("focus", () => input.select());
}
