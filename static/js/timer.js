// Guided follow-along for one exercise (templates/programme/item.html).
//
// A get-ready countdown, the hold for the first side, a "Switch sides" cue, the second side,
// rounds with a short rest between, then "Done, felt fine" (a one-tap log, sent by
// quick-log.js) and "Tell us how it felt" (the log form below). Reps-based items get a "Do N reps"
// step with a Done button instead of a countdown. Everything the timer needs comes from
// data-* attributes on the [data-timer] section (the CSP forbids inline scripts); without
// this module the section stays hidden and the page is the steps and the log form.
//
// Time is measured, not counted: each phase has an end time on performance.now(), and every
// tick recomputes what is left, so a late or throttled tick never makes the timer drift.

const TICK_MS = 200;
const RING_LENGTH = 2 * Math.PI * 54; // the ring's circle has r="54"
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)");
const clock = () => performance.now();

const SIDE_NAMES = { left: "left side", right: "right side" };

function int(value, fallback = 0) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

// The list of steps for a dose: ready, then for each round each side (with a switch between
// sides), a rest between rounds, and done. Exported so it can be checked on its own.
export function plan({ hold, reps, sets, sides, getReady, switchSeconds, rest }) {
  const timed = hold > 0 && reps === 0;
  const order = sides === "each_side" ? ["left", "right"] : [null];
  const rounds = Math.max(1, sets);
  const steps = [];
  if (getReady > 0) steps.push({ kind: "ready", seconds: getReady, side: order[0], round: 1 });
  for (let round = 1; round <= rounds; round += 1) {
    order.forEach((side, i) => {
      if (i > 0 && switchSeconds > 0) {
        steps.push({ kind: "switch", seconds: switchSeconds, side, round });
      }
      steps.push(timed ? { kind: "hold", seconds: hold, side, round }
                       : { kind: "reps", reps, hold, side, round });
    });
    if (round < rounds && rest > 0) {
      steps.push({ kind: "rest", seconds: rest, side: order[0], round: round + 1 });
    }
  }
  steps.push({ kind: "done" });
  return steps;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

class GuidedTimer {
  constructor(root) {
    this.root = root;
    const data = root.dataset;
    this.name = data.name || "the exercise";
    this.doseText = data.dose || "";
    this.dose = {
      hold: int(data.hold),
      reps: int(data.reps),
      sets: int(data.sets, 1),
      sides: data.sides || "none",
      getReady: int(data.getReady, 5),
      switchSeconds: int(data.switch, 5),
      rest: int(data.rest, 15),
    };
    this.steps = plan(this.dose);
    this.rounds = Math.max(1, this.dose.sets);
    this.eachSide = this.dose.sides === "each_side";

    const find = (selector) => root.querySelector(selector);
    this.stage = find("[data-timer-stage]");
    this.roundOut = find("[data-timer-round]");
    this.sidesOut = find("[data-timer-sides]");
    this.phaseOut = find("[data-timer-phase]");
    this.countOut = find("[data-timer-count]");
    this.unitOut = find("[data-timer-unit]");
    this.hintOut = find("[data-timer-hint]");
    this.ring = find("[data-timer-ring]");
    this.live = find("[data-timer-announce]");
    this.soundButton = find("[data-timer-sound]");
    this.buttons = {};
    for (const el of root.querySelectorAll("[data-timer-action]")) {
      this.buttons[el.dataset.timerAction] = el;
    }
    this.end = find("[data-timer-end]");

    this.index = -1;
    this.state = "idle"; // idle | running | paused | waiting (a reps step) | done
    this.endsAt = 0;
    this.left = 0; // ms left in the phase while paused
    this.lastShown = null;
    this.interval = null;
    this.lock = null;
    this.audio = null;
    this.sound = true;

    this.sidesOut.hidden = !this.eachSide;
    if (this.ring) this.ring.setAttribute("stroke-dasharray", RING_LENGTH.toFixed(2));
    this.bind();
    this.renderIdle();
    root.hidden = false;
  }

  // "30 s each side, 2 rounds: about 2½ minutes, with 5 seconds to get into position."
  planText() {
    const timedSteps = this.steps.filter((step) => step.seconds);
    const manual = this.steps.some((step) => step.kind === "reps");
    const ready = this.dose.getReady;
    const lead = this.doseText ? `${this.doseText}: ` : "";
    if (manual) {
      return `${lead}press Done after each set. ` +
             (ready ? `You get ${plural(ready, "second")} to get into position first.` : "");
    }
    const total = timedSteps.reduce((sum, step) => sum + step.seconds, 0);
    let length;
    if (total < 90) {
      length = `about ${plural(total, "second")}`;
    } else {
      const halves = Math.round(total / 30);
      const whole = Math.floor(halves / 2);
      length = `about ${whole}${halves % 2 ? "½" : ""} minute${halves > 2 ? "s" : ""}`;
    }
    return `${lead}${length}` +
           (ready ? `, with ${plural(ready, "second")} to get into position.` : ".");
  }

  bind() {
    const { start, next, pause, stop } = this.buttons;
    start.addEventListener("click", () => this.start());
    next.addEventListener("click", () => this.advance(clock(), true));
    pause.addEventListener("click", () => (this.state === "paused" ? this.resume() : this.pause()));
    stop.addEventListener("click", () => this.stop());
    // "Tell us how it felt" goes to the log form, and takes focus there. On the section, as
    // the links inside are replaced after a one-tap log.
    this.end.addEventListener("click", (event) => {
      const link = event.target.closest('a[href="#log"]');
      const target = document.getElementById("log");
      if (!link || !target) return;
      event.preventDefault();
      target.scrollIntoView({ behavior: REDUCED_MOTION.matches ? "auto" : "smooth" });
      target.focus({ preventScroll: true });
    });
    this.soundButton.addEventListener("click", () => {
      this.sound = !this.sound;
      this.soundButton.setAttribute("aria-pressed", String(this.sound));
    });
    // Logged in one tap (quick-log.js replaced the end's buttons): the hint moves on.
    document.addEventListener("portal:logged", () => {
      if (this.state === "done") this.render();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") {
        this.releaseWake();
      } else if (this.state === "running" || this.state === "waiting") {
        this.keepAwake();
        this.tick();
      }
    });
  }

  // --- controls ---------------------------------------------------------------------------

  start() {
    this.ensureAudio();
    this.index = -1;
    this.state = "running";
    this.keepAwake();
    this.advance(clock(), false);
    this.startTicking();
    this.focusControl("pause");
  }

  pause() {
    if (this.state !== "running") return;
    this.left = Math.max(0, this.endsAt - clock());
    this.state = "paused";
    this.stopTicking();
    this.releaseWake();
    this.announce("Paused.");
    this.render();
  }

  resume() {
    if (this.state !== "paused") return;
    this.endsAt = clock() + this.left;
    this.state = "running";
    this.keepAwake();
    this.announce("Carry on.");
    this.startTicking();
    this.render();
  }

  stop() {
    this.stopTicking();
    this.releaseWake();
    this.state = "idle";
    this.index = -1;
    this.announce("Stopped.");
    this.renderIdle();
    this.focusControl("start");
  }

  // --- stepping ---------------------------------------------------------------------------

  get step() {
    return this.steps[this.index];
  }

  // Move to the next step. A timed step that ended on its own hands its exact end time on,
  // so the phases add up to the dose however late the tick that noticed it came.
  advance(startAt, manual) {
    this.index += 1;
    const step = this.step;
    this.lastShown = null;
    this.announcedAt = new Set();
    if (step.kind === "done") {
      this.finish();
      return;
    }
    if (step.kind === "reps") {
      this.state = "waiting";
      this.announce(this.repsText(step, true));
      this.cue(step);
      this.render();
      this.focusControl("next");
      return;
    }
    this.state = "running";
    this.endsAt = startAt + step.seconds * 1000;
    this.announce(this.phaseAnnouncement(step));
    this.cue(step);
    this.render();
    if (manual) this.focusControl("pause");
  }

  finish() {
    this.stopTicking();
    this.releaseWake();
    this.state = "done";
    this.announce(`All done. Well done! If ${this.name} felt fine, log it in one tap.`);
    this.beep([660, 880, 1100]);
    this.render();
    this.focusControl("end");
  }

  tick() {
    if (this.state !== "running") return;
    const now = clock();
    // Catch up on every phase that ended while the page was asleep.
    while (this.state === "running" && now >= this.endsAt) {
      this.advance(this.endsAt, false);
    }
    if (this.state !== "running") return;
    const seconds = Math.ceil((this.endsAt - now) / 1000);
    const step = this.step;
    if ((step.kind === "hold" || step.kind === "rest") && !this.announcedAt.has(seconds)) {
      if ((seconds === 10 && step.seconds > 15) || (seconds === 3 && step.seconds >= 8)) {
        this.announcedAt.add(seconds);
        this.announce(`${plural(seconds, "second")} left.`);
      }
    }
    this.render();
  }

  startTicking() {
    this.stopTicking();
    this.interval = window.setInterval(() => this.tick(), TICK_MS);
  }

  stopTicking() {
    if (this.interval !== null) window.clearInterval(this.interval);
    this.interval = null;
  }

  // --- words ------------------------------------------------------------------------------

  sideName(side) {
    return side ? SIDE_NAMES[side] : "";
  }

  repsText(step, sentence) {
    const reps = plural(step.reps, "rep");
    const side = step.side ? ` on the ${this.sideName(step.side)}` : "";
    const hold = step.hold ? `, holding each for ${step.hold} s` : "";
    return sentence ? `Do ${reps}${side}${hold}. Press Done when you've finished.`
                    : `Do ${reps}${side}${hold}, then press Done.`;
  }

  phaseAnnouncement(step) {
    const round = this.rounds > 1 ? ` Round ${step.round} of ${this.rounds}.` : "";
    const side = this.sideName(step.side);
    switch (step.kind) {
      case "ready":
        return `Get ready.${side ? ` ${side[0].toUpperCase()}${side.slice(1)} first.` : ""} ` +
               `Starting in ${plural(step.seconds, "second")}.`;
      case "hold":
        return `Hold${side ? `, ${side}` : ""}: ${plural(step.seconds, "second")}.${round}`;
      case "switch":
        return `Switch sides. ${side[0].toUpperCase()}${side.slice(1)} next.`;
      case "rest":
        return `Rest for ${plural(step.seconds, "second")}. Round ${step.round} of ` +
               `${this.rounds} next.`;
      default:
        return "";
    }
  }

  // --- output -----------------------------------------------------------------------------

  announce(text) {
    // The same sentence twice in a row is still read out: nudge it with a trailing space.
    this.live.textContent = this.live.textContent === text ? `${text}\u00a0` : text;
  }

  render() {
    const step = this.step;
    if (!step) {
      this.renderIdle();
      return;
    }
    const paused = this.state === "paused";
    this.stage.dataset.phase = step.kind;
    this.stage.toggleAttribute("data-paused", paused);
    this.roundOut.textContent = this.rounds > 1 && step.kind !== "done"
      ? `Round ${step.round} of ${this.rounds}` : "";
    this.markSide(step.kind === "done" ? null : step.side);

    if (step.kind === "done") {
      this.phaseOut.textContent = "All done";
      this.countOut.textContent = "✓";
      this.unitOut.textContent = "well done";
      this.hintOut.textContent = this.end.querySelector("[data-timer-logged]")
        ? "Logged. If it didn't feel fine after all, tell us how it felt."
        : "Felt fine? Log it in one tap. Tension or pain: tell us how it felt.";
      this.setRing(1);
    } else if (step.kind === "reps") {
      this.phaseOut.textContent = step.side ? `Reps · ${this.sideName(step.side)}` : "Reps";
      this.countOut.textContent = String(step.reps);
      this.unitOut.textContent = step.reps === 1 ? "rep" : "reps";
      this.hintOut.textContent = this.repsText(step, false);
      this.setRing(1);
    } else {
      const left = paused ? this.left : Math.max(0, this.endsAt - clock());
      const seconds = Math.ceil(left / 1000);
      const label = {
        ready: "Get ready",
        hold: step.side ? `Hold · ${this.sideName(step.side)}` : "Hold",
        switch: "Switch sides",
        rest: "Rest",
      }[step.kind];
      this.phaseOut.textContent = paused ? `Paused · ${label}` : label;
      if (seconds !== this.lastShown) {
        this.countOut.textContent = String(seconds);
        this.unitOut.textContent = seconds === 1 ? "second" : "seconds";
        this.lastShown = seconds;
      }
      this.hintOut.textContent = this.hint(step);
      this.setRing(left / (step.seconds * 1000));
    }
    this.showButtons();
  }

  hint(step) {
    const side = this.sideName(step.side);
    switch (step.kind) {
      case "ready":
        return side ? `Get into position: ${side} first.` : "Get into position.";
      case "hold":
        return "Breathe slowly. Mild tension, never pain.";
      case "switch":
        return `Ease off and change over to the ${side}.`;
      case "rest":
        return `Shake it out and breathe. Round ${step.round} of ${this.rounds} next.`;
      default:
        return "";
    }
  }

  renderIdle() {
    this.stage.dataset.phase = "idle";
    this.stage.removeAttribute("data-paused");
    this.roundOut.textContent = "";
    this.markSide(null);
    const { hold, reps } = this.dose;
    const timed = hold > 0 && reps === 0;
    this.phaseOut.textContent = "Ready when you are";
    this.countOut.textContent = String(timed ? hold : reps);
    this.unitOut.textContent = timed ? "seconds" : "reps";
    this.hintOut.textContent = this.planText();
    this.setRing(1);
    this.lastShown = null;
    this.showButtons();
  }

  markSide(side) {
    for (const el of this.sidesOut.querySelectorAll("[data-side]")) {
      el.toggleAttribute("data-active", el.dataset.side === side);
    }
  }

  setRing(fraction) {
    if (!this.ring || REDUCED_MOTION.matches) return;
    const clamped = Math.min(1, Math.max(0, fraction));
    this.ring.setAttribute("stroke-dashoffset", (RING_LENGTH * (1 - clamped)).toFixed(2));
  }

  showButtons() {
    const { start, next, pause, stop } = this.buttons;
    const state = this.state;
    start.hidden = !(state === "idle" || state === "done");
    start.textContent = state === "done" ? "Start again" : "Start";
    start.classList.toggle("button--primary", state === "idle");
    start.classList.toggle("button--secondary", state === "done");
    next.hidden = state !== "waiting";
    pause.hidden = !(state === "running" || state === "paused");
    pause.textContent = state === "paused" ? "Resume" : "Pause";
    pause.classList.toggle("button--primary", state === "paused");
    pause.classList.toggle("button--secondary", state !== "paused");
    stop.hidden = state === "idle" || state === "done";
    this.end.hidden = state !== "done";
  }

  // Keep keyboard and screen-reader users on a control when the one they pressed goes away.
  focusControl(name) {
    const active = document.activeElement;
    if (active && active !== document.body && !this.root.contains(active)) return;
    const target = name === "end" ? this.end.querySelector("button, a[href]") : this.buttons[name];
    if (target && !target.closest("[hidden]")) target.focus({ preventScroll: true });
  }

  // --- cues: sound and vibration, where the device allows ------------------------------------

  ensureAudio() {
    if (this.audio || !window.AudioContext) return;
    try {
      this.audio = new AudioContext();
    } catch {
      this.audio = null;
    }
  }

  beep(frequencies) {
    if (!this.sound || !this.audio) return;
    try {
      let at = this.audio.currentTime + 0.01;
      for (const frequency of frequencies) {
        const tone = this.audio.createOscillator();
        const gain = this.audio.createGain();
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
        tone.connect(gain).connect(this.audio.destination);
        tone.start(at);
        tone.stop(at + 0.2);
        at += 0.25;
      }
    } catch {
      // No sound on this device: the screen and the announcements still say it.
    }
  }

  cue(step) {
    if (step.kind === "switch") {
      this.beep([880, 660]);
      this.vibrate([200, 100, 200]);
    } else if (step.kind === "hold" || step.kind === "reps") {
      this.beep([880]);
      this.vibrate([150]);
    } else if (step.kind === "rest") {
      this.beep([660]);
    }
  }

  vibrate(pattern) {
    // Only after the person has touched the page, or Chrome logs an intervention.
    if (!this.sound || !navigator.vibrate || !navigator.userActivation?.hasBeenActive) return;
    try {
      navigator.vibrate(pattern);
    } catch {
      // Not supported: fine.
    }
  }

  // --- keeping the screen on ---------------------------------------------------------------

  async keepAwake() {
    if (this.lock || !("wakeLock" in navigator) || document.visibilityState !== "visible") {
      return;
    }
    try {
      const lock = await navigator.wakeLock.request("screen");
      if (this.state !== "running" && this.state !== "waiting") {
        lock.release().catch(() => {});
        return;
      }
      this.lock = lock;
      lock.addEventListener("release", () => {
        if (this.lock === lock) this.lock = null;
      });
    } catch {
      // Refused (battery saver, no permission): the timer works, the screen may dim.
    }
  }

  releaseWake() {
    const lock = this.lock;
    this.lock = null;
    if (lock) lock.release().catch(() => {});
  }
}

for (const root of document.querySelectorAll("[data-timer]")) {
  new GuidedTimer(root);
}
