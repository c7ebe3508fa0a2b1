/* mbcourse exercises in the rendered book: judged in the page, no kernel, nothing downloaded.
 *
 * Every exercise cell of a chapter displays <div class="mbc-exercise" data-spec="{...}"> (see
 * mbcourse/exercises/widgets.py). The spec holds every verdict (mbcourse/exercises/verdicts.py):
 * this script reads the learner's text with the tokenizer's table, window.MBCOURSE_PARSER (the
 * build writes it above this script from mbcourse/exercises/reading.py), finds the verdict in
 * the spec and shows it. The tokenizer and the few lines that read a spec are the only twins of
 * the Python side; the tests feed both a table of answers and require identical verdicts.
 * Options are shuffled per reader (a seed kept in local storage), progress is kept there too,
 * with "Reset progress" per chapter and for the whole book. Code exercises cannot run here:
 * they offer the chapter in Colab (<meta name="mbcourse-colab">, from _ext/exercises_page.py).
 *
 * window.mbcourseExercises exposes readNumber, readShape, judge and shuffled for the tests.
 */
(function () {
  "use strict";

  // ---- the tokenizer: the twin of mbcourse/exercises/reading.py --------------------------------
  const P = window.MBCOURSE_PARSER;
  const M = P.messages;
  const TO_ASCII = new Map(Object.entries(P.to_ascii));
  const UNITS = new Map(Object.entries(P.units));
  const SUFFIXES = new Map(Object.entries(P.suffixes));
  const RE = {};
  for (const [name, pattern] of Object.entries(P.patterns)) RE[name] = new RegExp(pattern);

  const fill = (template, params) => template.replace(/\{(\w+)\}/g, (_, k) => String(params[k]));
  const strip = (text) => text.replace(/^ +| +$/g, "");
  const lower = (text) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const length = (text) => Array.from(text).length;
  const group = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

  function normalise(text) {
    let out = "";
    for (const c of text) out += TO_ASCII.has(c) ? TO_ASCII.get(c) : c;
    return strip(out);
  }

  function short(text, limit = 40) {
    const cps = Array.from(text);
    return cps.length <= limit ? text : cps.slice(0, limit - 3).join("") + "...";
  }

  const quote = (text) => `"${short(text)}"`;
  const number = (sign, digits, exponent) =>
    Number(sign + digits.replace(/[,_ ]/g, "") + (exponent || ""));

  function unitOf(tail) {
    if (!tail) return [1, null];
    if (UNITS.has(lower(tail))) return [1, lower(tail)];
    const rest = strip(tail.slice(1));
    if (SUFFIXES.has(tail[0]) && (!rest || UNITS.has(lower(rest)))) {
      return [SUFFIXES.get(tail[0]), lower(rest) || null];
    }
    return null;
  }

  function readNumber(text) {
    if (typeof text !== "string") return { error: "not_text", type: typeof text };
    const raw = normalise(text);
    const quoted = quote(raw);
    if (!raw) return { error: "empty" };
    if (length(raw) > P.max_chars) return { error: "too_long", n: group(length(raw)) };
    if (RE.not_finite.test(lower(raw))) return { error: "not_finite", quoted };
    const m = RE.number.exec(raw);
    const unit = m ? unitOf(strip(m[7])) : null;
    if (!m || !unit) {
      if (RE.decimal_comma.test(raw)) return { error: "decimal_comma", quoted };
      const tail = m ? strip(m[7]) : "";
      if (m && RE.unit_start.test(tail) && !RE.arithmetic.test(raw)) {
        return { error: "unknown_unit", quoted, unit: quote(tail) };
      }
      return { error: RE.arithmetic.test(raw) ? "arithmetic" : "unreadable", quoted };
    }
    let value = number(m[1], m[2], m[3]);
    const fraction = m[5] !== undefined;
    if (fraction) {
      const denominator = number(m[4], m[5], m[6]);
      if (!Number.isFinite(value) || !Number.isFinite(denominator)) {
        return { error: "too_large", quoted };
      }
      if (denominator === 0) return { error: "zero_division", quoted };
      value = value / denominator;
    }
    value = value * unit[0];
    if (!(Math.abs(value) <= 1e300)) return { error: "too_large", quoted };
    return { value, unit: unit[1], fraction };
  }

  function readShape(text) {
    if (typeof text !== "string") return { error: "shape_text", type: typeof text };
    const raw = normalise(text);
    if (!raw) return { error: "shape_empty" };
    if (length(raw) > P.max_chars) return { error: "shape_too_long", n: group(length(raw)) };
    let body = raw.startsWith("torch.Size") ? strip(raw.slice("torch.Size".length)) : raw;
    while (body.length >= 2 && ["()", "[]"].includes(body[0] + body[body.length - 1])) {
      body = strip(body.slice(1, -1));
    }
    if (Array.from("()[]{}").some((c) => body.includes(c))) {
      return { error: "nested", quoted: quote(raw) };
    }
    let parts;
    if (body.includes(",")) {
      parts = body.split(",").map(strip);
      if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
    } else {
      parts = body ? body.split(RE.shape_split).filter((p) => p !== "") : [];
    }
    if (!parts.length) return { error: "no_sizes" };
    const shape = [];
    for (let i = 1; i <= parts.length; i++) {
      const part = parts[i - 1];
      if (part === "") return { error: "entry_empty", i };
      if (!RE.size.test(part)) {
        const code = RE.decimal.test(part) ? "entry_fraction" : "entry_not_size";
        return { error: code, i, quoted: quote(part) };
      }
      if (part.startsWith("-")) return { error: "entry_negative", i, part };
      const digits = part.replace(/^\+/, "").replace(/^0+/, "") || "0";
      if (digits.length > P.max_shape_digits) return { error: "entry_huge", i, short: short(part) };
      shape.push(Number(digits));
    }
    return { shape };
  }

  // ---- the judge: reads a spec (mbcourse/exercises/verdicts.py), computes a percentage ---------
  function numberVerdict(spec, text) {
    const read = readNumber(text);
    if (read.error) return ["invalid", fill(M[read.error], read)];
    let value = read.value;
    if (read.unit !== null) {
      const [dim, scale, name] = UNITS.get(read.unit);
      if (!Object.prototype.hasOwnProperty.call(spec.accept, dim)) {
        return ["invalid", fill(M.wrong_unit, { unit: name, quantity: spec.quantity })];
      }
      value = (value * scale) / spec.accept[dim];
    }
    if (read.fraction && !spec.fractions) {
      return ["invalid", fill(M.no_fraction, { quoted: quote(normalise(text)) })];
    }
    for (const [low, high, status, message] of spec.bands) {
      if (low <= value && value <= high) return [status, message];
    }
    const d = (value - spec.answer) / spec.answer;
    const tenths = Math.floor(1000 * Math.abs(d) + 0.5);
    const pct = `${Math.floor(tenths / 10)}.${tenths % 10}`;
    const key = d >= 9 ? "far_high" : d > 0 ? "too_high" : d <= -0.9 ? "far_low" : "too_low";
    return ["incorrect", fill(M[key], { pct }) + spec.note];
  }

  function shapeVerdict(spec, text) {
    const read = readShape(text);
    if (read.error) return ["invalid", fill(M[read.error], read)];
    const got = read.shape;
    const target = spec.answer;
    const key = got.join(",");
    const shown = "(" + got.join(", ") + ")";
    if (key === target.join(",")) return ["correct", spec.correct];
    if (Object.prototype.hasOwnProperty.call(spec.mistakes, key)) {
      return ["incorrect", spec.mistakes[key]];
    }
    if (got.length !== target.length) {
      const count = got.length === 1 ? "1 entry" : `${got.length} entries`;
      const omission = Object.prototype.hasOwnProperty.call(spec.omissions, key)
        ? spec.omissions[key] : "";
      return ["incorrect", fill(M.rank, { shown, count, rank: spec.rank }) + omission];
    }
    const parts = [];
    const right = [];
    got.forEach((g, i) => {
      const name = spec.names[i];
      if (g === target[i]) right.push(name);
      else parts.push(fill(M[g > target[i] ? "entry_high" : "entry_low"], { name, value: g }));
    });
    let message = fill(M.not_quite, { shown, parts: parts.join("; ") });
    if (right.length) {
      const names = (right.length === 1 ? "entry " : "entries ") + right.join(", ");
      message += fill(M.right_entries, { names });
    }
    return ["incorrect", message];
  }

  function choiceVerdict(spec, text) {
    const chosen = typeof text === "string" ? normalise(text) : "";
    if (!chosen) return ["invalid", M.pick];
    for (const [option, status, message] of spec.options) {
      if (option === chosen) return [status, message];
    }
    return ["invalid", fill(M.not_option, { quoted: quote(chosen) })];
  }

  function judge(spec, answer) {
    const verdict = { number: numberVerdict, shape: shapeVerdict, choice: choiceVerdict }[spec.kind];
    const [status, message] = verdict(spec, answer);
    return { status, message, correct: status === "correct" };
  }

  // The twin of widgets.shuffled: FNV-1a of "seed:key", then Fisher-Yates with a 32-bit LCG.
  function shuffled(n, seed, key) {
    let h = 2166136261;
    for (const c of `${seed}:${key}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      h = (Math.imul(h, 1103515245) + 12345) >>> 0;
      const j = h % (i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }

  // ---- the reader's progress and seed, kept in local storage ----------------------------------
  const STORE = "mbcourse.exercises.v1";
  const SEED = "mbcourse.reader.v1";
  const memory = {}; // used once local storage fails: this visit only
  let broken = false;

  function load(key, fallback) {
    try {
      if (broken) return key in memory ? memory[key] : fallback;
      const text = window.localStorage.getItem(key);
      return text === null ? fallback : JSON.parse(text);
    } catch (error) {
      broken = true;
      return key in memory ? memory[key] : fallback;
    }
  }

  function save(key, value) {
    memory[key] = value;
    try {
      if (!broken) window.localStorage.setItem(key, JSON.stringify(value));
    } catch (error) {
      broken = true;
    }
  }

  function state() {
    const current = load(STORE, {});
    return current && typeof current === "object" ? current : {};
  }

  function readerSeed() {
    let seed = load(SEED, null);
    if (typeof seed !== "string" || !seed) {
      seed = Array.from(window.crypto.getRandomValues(new Uint8Array(8)), (b) =>
        b.toString(16).padStart(2, "0")).join("");
      save(SEED, seed);
    }
    return seed;
  }

  function changed() {
    document.dispatchEvent(new CustomEvent("mbcourse:progress"));
  }

  function record(id, correct) {
    const current = state();
    const entry = current[id] || {};
    current[id] = { attempted: true, solved: Boolean(entry.solved || correct) };
    save(STORE, current);
    changed();
  }

  function reset(ids) {
    const current = state();
    for (const id of ids || Object.keys(current)) delete current[id];
    save(STORE, current);
    document.querySelectorAll(".mbc-exercise.mbc-ready").forEach(renderExercise);
    changed();
  }

  function counts(ids, current) {
    const questions = ids.filter((id) => current[id]);
    return {
      solved: questions.filter((id) => current[id].solved).length,
      attempted: questions.filter((id) => current[id].attempted).length,
      total: ids.length,
    };
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  // ---- the page ----------------------------------------------------------------------------------
  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") node.textContent = value;
      else if (name === "html") node.innerHTML = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.appendChild(child);
    return node;
  }

  const button = (cls, text) => el("button", { type: "button", class: `mbc-button ${cls}`, text });
  const SYMBOLS = { correct: "✓", incorrect: "✗", invalid: "⚠" };
  const WORDS = { correct: "Solved.", incorrect: "Not yet.", invalid: "Not checked:" };
  let counter = 0;

  function renderExercise(host) {
    let spec;
    try {
      spec = JSON.parse(host.getAttribute("data-spec"));
    } catch (error) {
      return;
    }
    const uid = `mbc-${++counter}`;
    host.replaceChildren();
    host.classList.add("mbc-ready");
    const buttons = el("div", { class: "mbc-buttons" });
    const feedback = el("div", { class: "mbc-feedback", role: "status", "aria-live": "polite" });
    feedback.hidden = true;
    const hints = el("div", { class: "mbc-hints" });
    const form = el("div", { class: "mbc-form", id: `${uid}-form`, text: spec.form });
    let read = null;

    if (spec.kind === "number" || spec.kind === "shape") {
      const input = el("input", {
        type: "text", class: "mbc-answer", id: `${uid}-answer`, placeholder: spec.placeholder,
        autocomplete: "off", spellcheck: "false", "aria-label": "Your answer",
        "aria-describedby": `${uid}-form`,
      });
      const row = el("div", { class: "mbc-input" }, [input]);
      if (spec.unit) row.appendChild(el("span", { class: "mbc-units", text: spec.unit }));
      host.appendChild(row);
      read = () => input.value;
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          check();
        }
      });
    } else if (spec.kind === "choice") {
      const list = el("div", { class: "mbc-options", role: "radiogroup", "aria-describedby": `${uid}-form` });
      shuffled(spec.options.length, readerSeed(), spec.id).forEach((k, i) => {
        const label = spec.options[k][0];
        const radio = el("input", { type: "radio", name: uid, value: label, id: `${uid}-${i}` });
        list.appendChild(el("label", { class: "mbc-option", for: `${uid}-${i}` },
          [radio, el("span", { text: label })]));
      });
      host.appendChild(list);
      read = () => {
        const chosen = list.querySelector("input:checked");
        return chosen ? chosen.value : null;
      };
    } else if (spec.kind === "code") {
      const note = el("p", { class: "mbc-code-note", html:
        "<strong>Checking code needs a running notebook.</strong> This page cannot run Python: " +
        "open the chapter in Colab (or Jupyter), write <code></code> in the code cell above " +
        "this exercise, run it, and press the exercise's Check button there, or run " +
        "<code></code> in a cell." });
      const [name, call] = note.querySelectorAll("code");
      name.textContent = spec.name;
      call.textContent = spec.call;
      host.appendChild(note);
      const meta = document.querySelector('meta[name="mbcourse-colab"]');
      const open = button("mbc-colab", "Open in Colab");
      if (meta) {
        open.title = meta.getAttribute("content");
        open.addEventListener("click", () => window.open(open.title, "_blank", "noopener"));
      } else {
        open.disabled = true;
        open.title = "This page does not know its notebook's Colab address";
      }
      buttons.appendChild(open);
    }
    if (spec.kind !== "code") host.appendChild(form);

    function check() {
      const result = judge(spec, read());
      feedback.setAttribute("data-status", result.status);
      feedback.replaceChildren(
        el("span", { class: "mbc-verdict", text: `${SYMBOLS[result.status]} ${WORDS[result.status]}` }),
        document.createTextNode(" "),
        el("span", { class: "mbc-message", text: result.message }));
      feedback.hidden = false;
      if (result.status !== "invalid") record(spec.id, result.correct);
    }

    if (read) {
      const checkButton = button("mbc-check", "Check");
      checkButton.addEventListener("click", check);
      buttons.appendChild(checkButton);
    }
    const hintButton = button("mbc-hint", "Hint");
    let shown = 0;
    hintButton.addEventListener("click", () => {
      if (shown >= spec.hints.length) return;
      shown += 1;
      hints.appendChild(el("div", { class: "mbc-hint-text" }, [
        el("i", { text: `Hint ${shown} of ${spec.hints.length}:` }),
        document.createTextNode(" "),
        el("span", { html: spec.hints[shown - 1] })]));
      if (shown >= spec.hints.length) {
        hintButton.disabled = true;
        hintButton.textContent = "No more hints";
      }
    });
    buttons.appendChild(hintButton);
    host.appendChild(buttons);
    const before = state()[spec.id];
    if (before && before.solved && spec.kind !== "code") {
      host.appendChild(el("div", { class: "mbc-earlier", text: "You solved this one before." }));
    }
    host.appendChild(feedback);
    host.appendChild(hints);
  }

  function renderProgress(host) {
    const data = JSON.parse(host.getAttribute("data-progress"));
    const code = new Set(data.code);
    const ids = data.ids.filter((id) => !code.has(id));
    const line = el("b", { class: "mbc-progress-line" });
    const again = button("mbc-reset", "Reset progress");
    again.title = `Forget this browser's answers to ${data.title}`;
    again.addEventListener("click", () => reset(data.ids));
    host.replaceChildren(line, document.createTextNode(" "), again);
    const update = () => {
      const c = counts(ids, state());
      let text = `${data.title} — solved ${c.solved} / attempted ${c.attempted} / total ${c.total}`;
      if (code.size) text += ` (and ${plural(code.size, "code exercise")} to check in Jupyter or Colab)`;
      line.textContent = text;
    };
    update();
    document.addEventListener("mbcourse:progress", update);
    window.addEventListener("storage", update);
  }

  function renderSummary(host) {
    const chapters = JSON.parse(host.getAttribute("data-chapters"));
    const update = () => {
      const current = state();
      const body = el("tbody");
      let solved = 0;
      let total = 0;
      for (const ch of chapters) {
        const code = new Set(ch.code);
        const c = counts(ch.ids.filter((id) => !code.has(id)), current);
        solved += c.solved;
        total += c.total;
        body.appendChild(el("tr", { "data-chapter": ch.chapter }, [
          el("td", { text: ch.chapter }),
          el("td", {}, [el("a", { href: ch.page, text: ch.title })]),
          el("td", { class: "mbc-count", text: `${c.solved} / ${c.attempted} / ${c.total}` }),
          el("td", { class: "mbc-count", text: String(ch.code.length) })]));
      }
      const head = el("thead", {}, [el("tr", {}, [
        el("th", { text: "chapter" }), el("th", { text: "title" }),
        el("th", { text: "solved / attempted / questions" }),
        el("th", { text: "code exercises (Jupyter, Colab)" })])]);
      const again = button("mbc-reset", "Reset all progress");
      again.title = "Forget this browser's answers in every chapter";
      again.addEventListener("click", () => reset(null));
      host.replaceChildren(
        el("p", { class: "mbc-summary-line",
          text: `Solved so far in this browser: ${solved} of ${total} questions.` }),
        el("table", { class: "mbc-summary-table" }, [head, body]), again);
    };
    update();
    document.addEventListener("mbcourse:progress", update);
    window.addEventListener("storage", update);
  }

  function start() {
    document.querySelectorAll(".mbc-exercise").forEach(renderExercise);
    document.querySelectorAll(".mbc-progress").forEach(renderProgress);
    document.querySelectorAll(".mbc-summary").forEach(renderSummary);
  }

  window.mbcourseExercises = { readNumber, readShape, judge, shuffled, readerSeed, start,
    storageKey: STORE, seedKey: SEED };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
