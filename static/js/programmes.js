// The programme form (templates/programmes/edit.html): add, remove and move exercises and
// search the library in the page, without a round trip.
//
// Without this script every one of those buttons posts the whole draft and the server shows
// it again. With it, the same buttons are handled here and the rows are renumbered so the
// form posts exactly what a script-free page would; "Save new version" is always the form's
// own submit.

const ROW_NAME = /items-(?:\d+|__i__)-/g;
const SEARCH_DELAY_MS = 250;
const WORDS_DELAY_MS = 120;
const MAX_ITEMS = 50;
// The fields a row's plain words are made from (the server's WORDS_FIELDS).
const WORDS_FIELDS = ["hold_seconds", "reps", "sets", "sides", "times_per_day", "days_per_week"];
const NUMBER_FIELDS = WORDS_FIELDS.filter((name) => name !== "sides");

// A typed number within the input's min and max, which the server renders from the table of
// dose limits (portal/models/dose.py); the script knows no limits of its own.
function fits(field) {
  const value = field.value.trim();
  return /^\d+$/.test(value) && Number(value) >= Number(field.min) &&
    Number(value) <= Number(field.max);
}

function enhance(form) {
  const list = form.querySelector("[data-items]");
  const template = form.querySelector("#programmes-row-template");
  const announcer = form.querySelector("[data-announce]");
  const unsaved = form.querySelector("[data-unsaved]");
  const empty = form.querySelector("[data-empty]");
  const count = form.querySelector("[data-count]");
  const search = form.querySelector("[data-search]");
  const searchButton = form.querySelector(".programmes-search__button");
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

  // The plain words follow the fields. They are worded by the server (describe_dose and
  // describe_schedule in portal/services/dose.py, one wording for every page), asked once
  // per set of values; a blank, odd or out-of-range value leaves them out at once.
  const wordsUrl = new URL(form.dataset.wordsUrl, window.location.href);
  const wordsCache = new Map();
  const wordsTimers = new WeakMap();
  const wordsRequests = new WeakMap();

  async function fetchWords(row, query) {
    if (wordsRequests.has(row)) wordsRequests.get(row).abort();
    const controller = new AbortController();
    wordsRequests.set(row, controller);
    const summary = row.querySelector("[data-summary]");
    try {
      const url = new URL(wordsUrl);
      url.search = query;
      const response = await fetch(url, { signal: controller.signal, credentials: "same-origin",
        headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`words answered ${response.status}`);
      const { words } = await response.json();
      wordsCache.set(query, words);
      summary.textContent = words;
    } catch (error) {
      // Offline or signed out: no words rather than words for other values.
      if (error.name !== "AbortError") summary.textContent = "";
    }
  }

  function updateSummary(row) {
    const summary = row.querySelector("[data-summary]");
    window.clearTimeout(wordsTimers.get(row));
    if (wordsRequests.has(row)) wordsRequests.get(row).abort();
    if (!NUMBER_FIELDS.every((name) => fits(input(row, name)))) {
      summary.textContent = "";
      return;
    }
    const query = new URLSearchParams(
      WORDS_FIELDS.map((name) => [name, input(row, name).value.trim()])).toString();
    if (wordsCache.has(query)) {
      summary.textContent = wordsCache.get(query);
      return;
    }
    wordsTimers.set(row, window.setTimeout(() => fetchWords(row, query), WORDS_DELAY_MS));
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
    const { exerciseId, name, hold, reps, sets, sides, timesPerDay, daysPerWeek, words } =
      result.dataset;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.exerciseId = exerciseId;
    for (const element of row.querySelectorAll("[data-name]")) element.textContent = name;
    input(row, "exercise_id").value = exerciseId;
    input(row, "hold_seconds").value = hold;
    input(row, "reps").value = reps;
    input(row, "sets").value = sets;
    input(row, "sides").value = sides;
    input(row, "times_per_day").value = timesPerDay;
    input(row, "days_per_week").value = daysPerWeek;
    row.querySelector("[data-summary]").textContent = words;
    const level = input(row, "level");
    const levels = JSON.parse(result.dataset.levels || "[]");
    const labels = levels.length ? levels.map((rung, i) => `${i + 1}. ${rung}`) : ["No other levels"];
    labels.forEach((label, i) => level.add(new Option(label, String(i + 1), i === 0, i === 0)));
    list.append(row);
    renumber();
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
      const fresh = page.getElementById("programmes-results");
      if (!fresh) throw new Error("no results in the answer");
      form.querySelector("#programmes-results").replaceWith(document.adoptNode(fresh));
      updateLibrary();
      announce(fresh.querySelector("#programmes-results-count").textContent.trim());
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

const programmeForm = document.querySelector("form[data-programmes]");
if (programmeForm) enhance(programmeForm);
