// Booking week view: choosing a time opens the confirmation beside the week instead of a new
// page. Without this module every time is a link to the same confirmation on a page of its
// own, and the server checks the posted time either way.

const WIDE = window.matchMedia("(min-width: 60rem)");

function enhance(layout) {
  const panel = layout.querySelector("[data-booking-panel]");
  const form = panel && panel.querySelector("form");
  if (!form) return;
  const start = form.querySelector('input[name="start"]');
  const heading = panel.querySelector("[data-panel-heading]");
  const submit = form.querySelector('button[type="submit"]');
  const submitLabel = submit.textContent;
  const dayOut = panel.querySelector("[data-panel-day]");
  const timeOut = panel.querySelector("[data-panel-time]");
  const closeButton = panel.querySelector("[data-panel-close]");
  let chosen = null;

  layout.classList.add("booking-layout--enhanced");
  panel.hidden = false;

  // Wide screens: the panel sits in a column beside the week. Phones: right under the day
  // that holds the chosen time, so it appears where the thumb already is.
  // Moving an element takes focus off whatever inside it had it (the heading, or the note
  // being typed when a tablet is turned): it is given back.
  function place() {
    const day = chosen && chosen.closest(".day");
    const focused = panel.contains(document.activeElement) ? document.activeElement : null;
    if (WIDE.matches || !day) {
      if (panel.parentElement !== layout) layout.appendChild(panel);
    } else if (day.nextElementSibling !== panel) {
      day.after(panel);
    }
    if (focused && document.activeElement !== focused) focused.focus({ preventScroll: true });
  }

  function mark(link) {
    if (chosen) {
      chosen.classList.remove("slot--chosen");
      chosen.removeAttribute("aria-current");
    }
    chosen = link;
    if (link) {
      link.classList.add("slot--chosen");
      link.setAttribute("aria-current", "true");
    }
  }

  function choose(link) {
    mark(link);
    start.value = link.dataset.start;
    dayOut.textContent = link.dataset.day;
    timeOut.textContent = link.dataset.time;
    panel.dataset.state = "chosen";
    place();
    heading.focus({ preventScroll: true });
    panel.scrollIntoView({ block: "nearest" });
  }

  function close() {
    const previous = chosen;
    mark(null);
    start.value = "";
    panel.dataset.state = "empty";
    place();
    if (previous) previous.focus();
  }

  layout.addEventListener("click", (event) => {
    const link = event.target.closest("a.slot[data-start]");
    // Let people open a time in a new tab the usual way.
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey
        || event.altKey) return;
    event.preventDefault();
    choose(link);
  });

  closeButton.addEventListener("click", close);

  // One submit per page: a second tap while the first is on its way does nothing.
  form.addEventListener("submit", (event) => {
    if (!start.value || form.dataset.sent === "true") {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "true";
    submit.setAttribute("aria-disabled", "true");
    submit.textContent = "Please wait…";
  });

  // Coming back with the Back button restores the page from the cache as it was left.
  window.addEventListener("pageshow", () => {
    form.dataset.sent = "false";
    submit.removeAttribute("aria-disabled");
    submit.textContent = submitLabel;
  });

  WIDE.addEventListener("change", place);
}

for (const layout of document.querySelectorAll("[data-booking]")) enhance(layout);
