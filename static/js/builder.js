// The programme builder (templates/builder/edit.html): add, remove and move exercises and
// search the library in the page, without a round trip.
//
// Without this script every one of those buttons posts the whole draft and the server shows
// it again. With it, the same buttons are handled here and the rows are renumbered so the
// form posts exactly what a script-free page would; "Save new version" is always the form's
// own submit.

const ROW_NAME = /items-(?:\d+|__i__)-/g;
const SEARCH_DELAY_MS = 250;
const MAX_ITEMS = 50;

function wholeNumber(value) {
  return /^\s*\d{1,4}\s*$/.test(value) ? Number.parseInt(value, 10) : null;
}

// The dose and how often in plain words, as the client will read them (the same rules as
// describe_dose and describe_schedule in portal/services/programmes.py).
function describeDose(hold, reps, sets, sides) {
  const each = sides === "each_side";
  if (hold && !reps) {
    const text = each ? `${hold} s each side` : `Hold ${hold} s`;
    return sets > 1 ? `${text}, ${sets} rounds` : text;
  }
  let text = `${reps} rep${reps !== 1 ? "s" : ""}${each ? " each side" : ""}`;
  if (hold) text += `, holding ${hold} s`;
  return sets > 1 ? `${text}, ${sets} sets` : text;
}

function describeSchedule(times, days) {
  const perDay = { 1: "Once a day", 2: "Twice a day" }[times] || `${times} times a day`;
  return `${perDay}, ${days === 7 ? "every day" : `${days} day${days > 1 ? "s" : ""} a week`}`;
}

function enhance(form) {
  const list = form.querySelector("[data-items]");
  const template = form.querySelector("#builder-row-template");
  const announcer = form.querySelector("[data-announce]");
  const unsaved = form.querySelector("[data-unsaved]");
  const empty = form.querySelector("[data-empty]");
  const count = form.querySelector("[data-count]");
  const search = form.querySelector("[data-search]");
  const searchButton = form.querySelector(".builder-search__button");
  const action = form.getAttribute("action"); // not form.action: buttons are named "action"
  let plainSubmit = false;

  const rows = () => [...list.querySelectorAll(":scope > [data-row]")];
  const input = (row, name) => row.querySelector(`[name$="-${name}"]`);
  const nameOf = (row) => row.querySelector("[data-name]").textContent;

  function announce(message) {
    // Cleared first, so the same words twice in a row are read twice.
    announcer.textContent = "";
    window.setTimeout(() => { announcer.textContent = message; }, 50);
  }

  function markUnsaved() {
    unsaved.hidden = false;
  }

  // The plain words follow the fields; a blank, odd or out-of-range value (the inputs carry
  // the form's min and max) leaves them out until it is fixed.
  function updateSummary(row) {
    const values = ["hold_seconds", "reps", "sets", "times_per_day", "days_per_week"].map(
      (name) => {
        const field = input(row, name);
        const value = wholeNumber(field.value);
        const fits = value !== null && value >= Number(field.min) && value <= Number(field.max);
        return fits ? value : null;
      });
    const [hold, reps, sets, times, days] = values;
    const summary = row.querySelector("[data-summary]");
    if (values.includes(null) || !(hold || reps)) {
      summary.textContent = "";
      return;
    }
    const sides = input(row, "sides").value;
    summary.textContent = `${describeDose(hold, reps, sets, sides)} · ${describeSchedule(times, days)}`;
  }

  function updateLibrary() {
    const inDraft = new Set(rows().map((row) => row.dataset.exerciseId));
    for (const result of form.querySelectorAll("[data-result]")) {
      const added = inDraft.has(result.dataset.exerciseId);
      const button = result.querySelector("button");
      button.disabled = added;
      button.querySelector("[data-add-label]").textContent = added ? "Added" : "Add";
    }
  }

  // Give every row the names and ids of its position, as the server would render them.
  function renumber() {
    const all = rows();
    all.forEach((row, index) => {
      row.id = `item-${index}`;
      for (const element of row.querySelectorAll("[id], [name], [for], [aria-describedby]")) {
        for (const attribute of ["id", "name", "for", "aria-describedby"]) {
          const value = element.getAttribute(attribute);
          if (value) element.setAttribute(attribute, value.replace(ROW_NAME, `items-${index}-`));
        }
      }
      for (const button of row.querySelectorAll("button[name='action']")) {
        const verb = button.value.split(":")[0];
        button.value = `${verb}:${index}`;
        button.disabled = (verb === "up" && index === 0) ||
          (verb === "down" && index === all.length - 1);
      }
      row.querySelector("[data-pos]").textContent = String(index + 1);
    });
    count.textContent = `(${all.length})`;
    empty.hidden = all.length > 0;
    updateLibrary();
  }

  function addRow(result) {
    const all = rows();
    if (all.length >= MAX_ITEMS) {
      announce(`A programme can have at most ${MAX_ITEMS} exercises.`);
      return;
    }
    const { exerciseId, name, hold, reps, sets, sides } = result.dataset;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.exerciseId = exerciseId;
    for (const element of row.querySelectorAll("[data-name]")) element.textContent = name;
    input(row, "exercise_id").value = exerciseId;
    input(row, "hold_seconds").value = hold;
    input(row, "reps").value = reps;
    input(row, "sets").value = sets;
    input(row, "sides").value = sides;
    input(row, "times_per_day").value = "1";
    input(row, "days_per_week").value = "7";
    const level = input(row, "level");
    const levels = JSON.parse(result.dataset.levels || "[]");
    const labels = levels.length ? levels.map((rung, i) => `${i + 1}. ${rung}`) : ["No other levels"];
    labels.forEach((label, i) => level.add(new Option(label, String(i + 1), i === 0, i === 0)));
    list.append(row);
    renumber();
    updateSummary(row);
    markUnsaved();
    const title = row.querySelector("h3");
    title.focus();
    row.scrollIntoView({ block: "nearest" });
    announce(`Added ${name} as exercise ${all.length + 1}. Tailor its dose, then save.`);
  }

  function removeRow(row) {
    const all = rows();
    const index = all.indexOf(row);
    const name = nameOf(row);
    row.remove();
    renumber();
    markUnsaved();
    const next = rows()[Math.min(index, rows().length - 1)];
    (next ? next.querySelector("h3") : search).focus();
    announce(`Removed ${name}. ${rows().length} exercise${rows().length === 1 ? "" : "s"} left.`);
  }

  function moveRow(row, verb) {
    const all = rows();
    const index = all.indexOf(row);
    const target = verb === "up" ? index - 1 : index + 1;
    if (target < 0 || target >= all.length) return;
    if (verb === "up") list.insertBefore(row, all[target]);
    else list.insertBefore(all[target], row);
    renumber();
    markUnsaved();
    // Keep the focus on the button just pressed, or its twin when that end is reached.
    const same = row.querySelector(`button[value="${verb}:${target}"]`);
    const other = row.querySelector(`button[value="${verb === "up" ? "down" : "up"}:${target}"]`);
    (same.disabled ? other : same).focus();
    announce(`${nameOf(row)} moved to position ${target + 1} of ${all.length}.`);
  }

  let pending = null;
  async function runSearch({ fallback = false } = {}) {
    if (pending) pending.abort();
    pending = new AbortController();
    const url = new URL(action, window.location.href);
    url.search = new URLSearchParams({ q: search.value }).toString();
    url.hash = "";
    try {
      const response = await fetch(url, { signal: pending.signal, credentials: "same-origin",
        headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(`search answered ${response.status}`);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("builder-results");
      if (!fresh) throw new Error("no results in the answer");
      form.querySelector("#builder-results").replaceWith(document.adoptNode(fresh));
      updateLibrary();
      announce(fresh.querySelector("#builder-results-count").textContent.trim());
    } catch (error) {
      if (error.name === "AbortError") return;
      // Offline or signed out: an explicit search falls back to posting the draft.
      if (fallback) {
        plainSubmit = true;
        form.requestSubmit(searchButton);
      }
    }
  }

  form.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (plainSubmit || !button || button.name !== "action") return;
    const [verb, number] = button.value.split(":");
    if (verb === "save") return;
    event.preventDefault();
    if (verb === "search") {
      runSearch({ fallback: true });
      return;
    }
    if (verb === "add") {
      const result = form.querySelector(`[data-result][data-exercise-id="${number}"]`);
      if (result) addRow(result);
      return;
    }
    const row = rows()[Number.parseInt(number, 10)];
    if (!row) return;
    if (verb === "remove") removeRow(row);
    else moveRow(row, verb);
  });

  let timer = null;
  search.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => runSearch(), SEARCH_DELAY_MS);
  });

  list.addEventListener("input", (event) => {
    markUnsaved();
    const row = event.target.closest("[data-row]");
    if (row) updateSummary(row);
  });
  list.addEventListener("change", markUnsaved);
  form.querySelector("#note").addEventListener("input", markUnsaved);

  renumber();
}

const builder = document.querySelector("form[data-builder]");
if (builder) enhance(builder);
