/* mbcourse exercises in the rendered book: checked in the page, no kernel, nothing downloaded.
 *
 * Every exercise cell of a chapter displays <div class="mbc-exercise" data-spec="{...}"> (see
 * mbcourse/exercises/page.py). This script turns each into the exercise: an answer box (or
 * options), Check, Hint, feedback and the chapter's progress line, kept in the browser's local
 * storage. The checking rules and every word of feedback are those of the Python checker
 * (mbcourse/exercises/parsing.py and questions.py), ported line by line; the tests feed both the
 * same table of answers and require identical verdicts and messages. Code exercises cannot run
 * here: they say so and offer to open the chapter in Colab (the URL comes from the page's
 * <meta name="mbcourse-colab">, written by _ext/exercises_page.py).
 *
 * window.mbcourseExercises exposes the checker (parseNumber, parseShape, formatNumber, judge)
 * for the tests.
 */
(function () {
  "use strict";

  // ---- parsing.py ----------------------------------------------------------------------------
  const MAX_ANSWER_CHARS = 200;
  const MAX_SHAPE_ENTRY_DIGITS = 9;
  const SPACES =
    "\t\n\x0b\x0c\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" +
    "\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff";
  const SUFFIXES = { k: 1e3, K: 1e3, M: 1e6, G: 1e9, B: 1e9 };
  const NUMBER = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
  const THOUSANDS = /^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$/;
  const NOT_FINITE = new Set([
    "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
  ]);

  class AnswerError extends Error {}

  function codePoints(text) {
    return Array.from(text);
  }

  function normalise(text) {
    let out = "";
    for (const c of text) {
      const code = c.codePointAt(0);
      if (SPACES.includes(c)) out += " ";
      else if (code === 0x2212) out += "-";
      else if (code >= 0xff10 && code <= 0xff19) out += String(code - 0xff10);
      else out += c;
    }
    return out.replace(/^ +| +$/g, "");
  }

  function lower(text) {
    return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  }

  function shorten(text, limit = 40) {
    const cps = codePoints(text);
    return cps.length <= limit ? text : cps.slice(0, limit - 3).join("") + "...";
  }

  function quote(text) {
    return '"' + shorten(text) + '"';
  }

  function group(digits) {
    const head = digits.length % 3 || 3;
    let out = digits.slice(0, head);
    for (let i = head; i < digits.length; i += 3) out += "," + digits.slice(i, i + 3);
    return out;
  }

  function finite(value, raw) {
    if (Number.isNaN(value)) {
      throw new AnswerError("NaN is not a number I can check; type an ordinary number.");
    }
    if (!Number.isFinite(value) || Math.abs(value) > 1e300) {
      throw new AnswerError(
        `${quote(raw)} is too large to be an answer here (it overflows a float). ` +
          "Check the exponent."
      );
    }
    return value;
  }

  function parseNumber(text, units = "") {
    if (typeof text !== "string") {
      throw new AnswerError(`Please type a number (got a ${typeof text}).`);
    }
    const raw = normalise(text);
    if (!raw) throw new AnswerError("The answer box is empty: type a number, then press Check.");
    const length = codePoints(raw).length;
    if (length > MAX_ANSWER_CHARS) {
      throw new AnswerError(
        `That is ${group(String(length))} characters, far too long for a number. ` +
          "Type the value in digits (e.g. 2128 or 3.5e6)."
      );
    }
    let body = raw;
    if (units) {
      const candidates = Array.from(new Set([units, units.replace(/s+$/, "")]));
      candidates.sort((a, b) => codePoints(b).length - codePoints(a).length);
      for (const unit of candidates) {
        const n = codePoints(unit).length;
        const cps = codePoints(body);
        if (unit && cps.length >= n && lower(cps.slice(cps.length - n).join("")) === lower(unit)) {
          body = cps.slice(0, cps.length - n).join("").replace(/^ +| +$/g, "");
          break;
        }
      }
    }
    if (NOT_FINITE.has(lower(body))) {
      throw new AnswerError(
        `${quote(body)} is not a finite number; the answer is an ordinary number.`
      );
    }
    let scale = 1.0;
    const cps = codePoints(body);
    if (cps.length > 1 && Object.prototype.hasOwnProperty.call(SUFFIXES, cps[cps.length - 1])) {
      scale = SUFFIXES[cps[cps.length - 1]];
      body = cps.slice(0, -1).join("").replace(/^ +| +$/g, "");
    }
    body = body.split("_").join("").split(" ").join("");
    if (THOUSANDS.test(body)) body = body.split(",").join("");
    if (body.includes(",")) {
      throw new AnswerError(
        `I could not read ${quote(raw)}: use a dot for decimals (3.5, not 3,5) and ` +
          "commas only between groups of three digits (2,128)."
      );
    }
    if (!NUMBER.test(body)) {
      let hint = "";
      if (["*", "/", "^", "(", "+", "x"].some((op) => body.includes(op))) {
        hint = " The box takes one number, not arithmetic: compute it first (in a code cell).";
      }
      throw new AnswerError(
        `I could not read ${quote(raw)} as a number. Type digits such as 2128, 0.25, ` +
          `3.5e6 or 3.5M.${hint}`
      );
    }
    return finite(Number(body) * scale, raw);
  }

  function stripBrackets(body) {
    let cps = codePoints(body);
    while (cps.length >= 2 && ["()", "[]"].includes(cps[0] + cps[cps.length - 1])) {
      cps = codePoints(cps.slice(1, -1).join("").replace(/^ +| +$/g, ""));
    }
    return cps.join("");
  }

  function parseShape(text) {
    if (typeof text !== "string") {
      throw new AnswerError(`Please type a shape such as 1, 24, 56, 56 (got a ${typeof text}).`);
    }
    const raw = normalise(text);
    if (!raw) throw new AnswerError("The answer box is empty: type a shape such as 1, 24, 56, 56.");
    const length = codePoints(raw).length;
    if (length > MAX_ANSWER_CHARS) {
      throw new AnswerError(
        `That is ${group(String(length))} characters, far too long for a shape.`
      );
    }
    let body = raw;
    if (body.startsWith("torch.Size")) {
      body = body.slice("torch.Size".length).replace(/^ +| +$/g, "");
    }
    body = stripBrackets(body);
    if (Array.from("()[]{}").some((c) => body.includes(c))) {
      throw new AnswerError(
        `I could not read ${quote(raw)}: write one flat list of sizes, e.g. (1, 24, 56, 56).`
      );
    }
    let parts;
    if (body.includes(",")) {
      parts = body.split(",").map((p) => p.replace(/^ +| +$/g, ""));
      if (parts.length > 1 && parts[parts.length - 1] === "") parts = parts.slice(0, -1);
    } else {
      parts = body ? body.split(/ *[x×*] *| +/).filter((p) => p !== "") : [];
    }
    if (!parts.length) throw new AnswerError("I found no sizes: type a shape such as 1, 24, 56, 56.");
    const shape = [];
    parts.forEach((part, index) => {
      const i = index + 1;
      if (part === "") throw new AnswerError(`Entry ${i} is empty (two commas in a row?).`);
      if (!/^[+-]?[0-9]+$/.test(part)) {
        if (/^[+-]?[0-9]*\.[0-9]*$/.test(part)) {
          throw new AnswerError(`Entry ${i} (${quote(part)}) is not a whole number.`);
        }
        throw new AnswerError(
          `Entry ${i} (${quote(part)}) is not a size: every entry must be a whole ` +
            "number such as 24."
        );
      }
      if (part.startsWith("-")) {
        throw new AnswerError(`Entry ${i} (${part}) is negative; sizes are 0 or more.`);
      }
      const digits = part.replace(/^\+/, "").replace(/^0+/, "") || "0";
      if (digits.length > MAX_SHAPE_ENTRY_DIGITS) {
        throw new AnswerError(
          `Entry ${i} (${shorten(part)}) is implausibly large for a tensor size.`
        );
      }
      shape.push(Number(digits));
    });
    return shape;
  }

  function formatNumber(value, units = "") {
    const a = Math.abs(value);
    let text;
    if (Number.isInteger(value) && a < 1e15) {
      text = group(String(a));
    } else {
      let [mantissa, exponent] = a.toPrecision(4).split("e");
      if (mantissa.includes(".")) mantissa = mantissa.replace(/0+$/, "").replace(/\.$/, "");
      if (exponent === undefined && a >= 1e-3) {
        const [whole, fraction] = mantissa.split(".");
        mantissa = group(whole) + (fraction !== undefined ? "." + fraction : "");
      }
      text = mantissa + (exponent !== undefined ? "e" + exponent : "");
    }
    if (value < 0) text = "-" + text;
    return units ? `${text} ${units}` : text;
  }

  function formatPercent(fraction) {
    return (100 * fraction).toFixed(1) + "%";
  }

  // ---- questions.py --------------------------------------------------------------------------
  const CORRECT = "correct";
  const INCORRECT = "incorrect";
  const INVALID = "invalid";

  function verdict(correct, message, status) {
    return { correct, message, status };
  }

  function explained(message, explanation) {
    return explanation ? `${message}\n${explanation}` : message;
  }

  function isclose(a, b, relTol) {
    return Math.abs(a - b) <= relTol * Math.max(Math.abs(a), Math.abs(b));
  }

  function factorNote(value, target) {
    if (target === 0 || value === 0) return "";
    const ratio = value / target;
    if (ratio < 0) return isclose(-ratio, 1, 0.01) ? " The sign is wrong." : "";
    const power = Math.log10(ratio);
    const rounded = Math.round(power);
    if (Math.abs(power - rounded) < 0.005 && rounded !== 0) {
      return (
        ` Your answer is 10^${rounded} times the answer: check the units and powers of ` +
        "ten (k, M, G)."
      );
    }
    if (isclose(ratio, 2, 0.02)) return " That is about twice the answer: is something counted twice?";
    if (isclose(ratio, 0.5, 0.02)) return " That is about half the answer: is a part missing?";
    return "";
  }

  function judgeNumber(spec, text) {
    let value;
    try {
      value = parseNumber(text, spec.units);
    } catch (error) {
      if (error instanceof AnswerError) return verdict(false, error.message, INVALID);
      throw error;
    }
    const target = spec.answer;
    const near = (v, t) =>
      Math.abs(v - t) <= Math.max(spec.tolerance, 1e-9 * Math.abs(t), 1e-12);
    const shown = formatNumber(value, spec.units);
    if (near(value, target)) {
      return verdict(true, explained(`Correct: ${shown}.`, spec.explanation), CORRECT);
    }
    for (const [wrong, why] of spec.mistakes) {
      if (near(value, wrong)) return verdict(false, `Not quite (${shown}). ${why}`, INCORRECT);
    }
    const diff = value - target;
    const side = diff > 0 ? "high" : "low";
    let message = `Too ${side} by ${formatNumber(Math.abs(diff), spec.units)}`;
    if (target !== 0 && Math.abs(diff) / Math.abs(target) < 100) {
      const where = diff > 0 ? "above" : "below";
      message += ` (${formatPercent(Math.abs(diff) / Math.abs(target))} ${where})`;
    }
    message += ".";
    message += factorNote(value, target);
    if (spec.tolerance > 0) {
      message += ` (Answers within ±${formatNumber(spec.tolerance, spec.units)} count.)`;
    }
    return verdict(false, message + " Try again.", INCORRECT);
  }

  function sameShape(a, b) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }

  function judgeShape(spec, text) {
    let shape;
    try {
      shape = parseShape(text);
    } catch (error) {
      if (error instanceof AnswerError) return verdict(false, error.message, INVALID);
      throw error;
    }
    const target = spec.answer;
    const dims = spec.dims || [];
    const name = (i) => (dims.length ? `${i + 1} (${dims[i]})` : `${i + 1}`);
    const shown = "(" + shape.join(", ") + ")";
    if (sameShape(shape, target)) {
      return verdict(true, explained(`Correct: ${shown}.`, spec.explanation), CORRECT);
    }
    for (const [wrong, why] of spec.mistakes) {
      if (sameShape(shape, wrong)) return verdict(false, `Not quite ${shown}. ${why}`, INCORRECT);
    }
    if (shape.length !== target.length) {
      const names = dims.length ? ` (${dims.join(", ")})` : "";
      let message =
        `Wrong rank: your shape ${shown} has ${shape.length} ` +
        `${shape.length === 1 ? "entry" : "entries"}, but the output has ` +
        `${target.length}${names}.`;
      if (shape.length === target.length - 1) {
        for (let i = 0; i < target.length; i++) {
          if (sameShape(target.slice(0, i).concat(target.slice(i + 1)), shape)) {
            const label = dims.length ? ` (${dims[i]})` : "";
            message += ` Did you leave out entry ${i + 1}${label}?`;
            break;
          }
        }
      }
      return verdict(false, message, INCORRECT);
    }
    const wrong = [];
    const right = [];
    target.forEach((t, i) => (shape[i] !== t ? wrong : right).push(i));
    const parts = wrong.map(
      (i) => `entry ${name(i)} = ${shape[i]} is too ${shape[i] > target[i] ? "high" : "low"}`
    );
    let message = `Not quite ${shown}: ` + parts.join("; ") + ".";
    if (right.length) {
      message += " Right: entr" + (right.length === 1 ? "y " : "ies ");
      message += right.map(name).join(", ") + ".";
    }
    return verdict(false, message, INCORRECT);
  }

  function judgeChoice(spec, choice) {
    const labels = spec.options.map(([label]) => label);
    const why = new Map(spec.options);
    if (choice === null || choice === undefined || !normalise(choice)) {
      return verdict(false, "Pick an option first, then press Check.", INVALID);
    }
    let label = normalise(choice);
    if (!why.has(label)) {
      if (/^[A-Za-z]$/.test(label) && label.toUpperCase().charCodeAt(0) - 65 < labels.length) {
        label = labels[label.toUpperCase().charCodeAt(0) - 65];
      } else {
        return verdict(false, `${quote(label)} is not one of the options.`, INVALID);
      }
    }
    if (label === spec.correct) {
      const lines = [`Correct: ${label}. ${why.get(label)}`, "Why the others are wrong:"];
      for (const other of labels) {
        if (other !== label) lines.push(`  • ${other}: ${why.get(other)}`);
      }
      return verdict(true, lines.join("\n"), CORRECT);
    }
    return verdict(false, `Not this one: ${label}.\n${why.get(label)}\nTry again.`, INCORRECT);
  }

  function judge(spec, input) {
    if (spec.kind === "number") return judgeNumber(spec, input);
    if (spec.kind === "shape") return judgeShape(spec, input);
    if (spec.kind === "choice") return judgeChoice(spec, input);
    throw new Error(`mbcourse exercises: cannot check a ${spec.kind} exercise in the page`);
  }

  // ---- progress, kept in local storage -------------------------------------------------------
  const STORE = "mbcourse.exercises.v1";

  function loadState() {
    try {
      const parsed = JSON.parse(window.localStorage.getItem(STORE) || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (error) {
      return {};
    }
  }

  function saveState(state) {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(state));
    } catch (error) {
      /* storage disabled: progress lasts for this visit only */
    }
  }

  let memory = null; // used when local storage is unavailable

  function state() {
    if (memory) return memory;
    return loadState();
  }

  function record(id, correct) {
    const current = state();
    const entry = current[id] || {};
    entry.attempted = true;
    entry.solved = Boolean(entry.solved || correct);
    current[id] = entry;
    saveState(current);
    if (JSON.stringify(loadState()) !== JSON.stringify(current)) memory = current;
    document.dispatchEvent(new CustomEvent("mbcourse:progress"));
  }

  function counts(ids, current) {
    let solved = 0;
    let attempted = 0;
    for (const id of ids) {
      if (current[id] && current[id].attempted) attempted += 1;
      if (current[id] && current[id].solved) solved += 1;
    }
    return { solved, attempted, total: ids.length };
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function progressLine(data, current) {
    const code = new Set(data.code);
    const ids = data.ids.filter((id) => !code.has(id));
    const c = counts(ids, current);
    let line = `${data.title} — solved ${c.solved} / attempted ${c.attempted} / total ${c.total}`;
    if (data.code.length) {
      line += ` (and ${plural(data.code.length, "code exercise")} to check in Jupyter or Colab)`;
    }
    return line;
  }

  // ---- the page ------------------------------------------------------------------------------
  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key === "html") node.innerHTML = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.appendChild(child);
    return node;
  }

  const SYMBOLS = { correct: "✓", incorrect: "✗", invalid: "⚠" };
  const WORDS = { correct: "Solved.", incorrect: "Not yet.", invalid: "Not checked:" };

  function showFeedback(box, result) {
    box.setAttribute("data-status", result.status);
    box.replaceChildren(
      el("span", { class: "mbc-verdict", text: `${SYMBOLS[result.status]} ${WORDS[result.status]}` }),
      document.createTextNode(" "),
      el("span", { class: "mbc-message", text: result.message })
    );
    box.hidden = false;
  }

  function colabUrl() {
    const meta = document.querySelector('meta[name="mbcourse-colab"]');
    return meta ? meta.getAttribute("content") : "";
  }

  let counter = 0;

  function renderExercise(host) {
    let spec;
    try {
      spec = JSON.parse(host.getAttribute("data-spec"));
    } catch (error) {
      return;
    }
    counter += 1;
    const uid = `mbc-${counter}`;
    host.replaceChildren();
    host.classList.add("mbc-ready");
    host.appendChild(el("div", { class: "mbc-prompt", html: spec.prompt_html }));
    const buttons = el("div", { class: "mbc-buttons" });
    const feedback = el("div", { class: "mbc-feedback", role: "status", "aria-live": "polite" });
    feedback.hidden = true;
    const hints = el("div", { class: "mbc-hints" });
    let read = null;

    if (spec.kind === "number" || spec.kind === "shape") {
      const input = el("input", {
        type: "text",
        class: "mbc-answer",
        id: `${uid}-answer`,
        placeholder: spec.placeholder || "",
        autocomplete: "off",
        spellcheck: "false",
        "aria-label": "Your answer",
      });
      const row = el("div", { class: "mbc-input" }, [input]);
      if (spec.units) row.appendChild(el("span", { class: "mbc-units", text: spec.units }));
      host.appendChild(row);
      read = () => input.value;
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          check();
        }
      });
    } else if (spec.kind === "choice") {
      const list = el("div", { class: "mbc-options", role: "radiogroup" });
      spec.options.forEach(([label], i) => {
        const radio = el("input", { type: "radio", name: uid, value: label, id: `${uid}-${i}` });
        list.appendChild(
          el("label", { class: "mbc-option", for: `${uid}-${i}` }, [
            radio,
            el("span", { text: label }),
          ])
        );
      });
      host.appendChild(list);
      read = () => {
        const chosen = list.querySelector("input:checked");
        return chosen ? chosen.value : null;
      };
    } else if (spec.kind === "code") {
      host.appendChild(
        el("p", {
          class: "mbc-code-note",
          html:
            "<strong>Checking code needs a running notebook.</strong> This page cannot run " +
            "Python: open the chapter in Colab (or Jupyter), write <code></code> in the code " +
            "cell above this exercise, run it, and press the exercise's Check button there.",
        })
      );
      host.querySelector(".mbc-code-note code").textContent = spec.name;
      const url = colabUrl();
      const open = el("button", { type: "button", class: "mbc-button mbc-colab", text: "Open in Colab" });
      if (url) {
        open.title = url;
        open.addEventListener("click", () => window.open(url, "_blank", "noopener"));
      } else {
        open.disabled = true;
        open.title = "This page does not know its notebook's Colab address";
      }
      buttons.appendChild(open);
    }

    function check() {
      const result = judge(spec, read());
      showFeedback(feedback, result);
      if (result.status !== INVALID && spec.chapter) record(spec.id, result.correct);
    }

    if (read) {
      const checkButton = el("button", {
        type: "button",
        class: "mbc-button mbc-check",
        text: spec.check_label || "Check",
      });
      checkButton.addEventListener("click", check);
      buttons.appendChild(checkButton);
    }
    const hintButton = el("button", { type: "button", class: "mbc-button mbc-hint", text: "Hint" });
    let shown = 0;
    const total = (spec.hints_html || []).length;
    if (!total) {
      hintButton.disabled = true;
      hintButton.title = "No hints for this exercise";
    }
    hintButton.addEventListener("click", () => {
      if (shown >= total) return;
      shown += 1;
      hints.appendChild(
        el("div", { class: "mbc-hint-text" }, [
          el("i", { text: `Hint ${shown} of ${total}:` }),
          document.createTextNode(" "),
          el("span", { html: spec.hints_html[shown - 1] }),
        ])
      );
      if (shown >= total) {
        hintButton.disabled = true;
        hintButton.textContent = "No more hints";
      }
    });
    buttons.appendChild(hintButton);
    host.appendChild(buttons);
    const before = spec.chapter ? state()[spec.id] : null;
    if (before && before.solved && spec.kind !== "code") {
      host.appendChild(el("div", { class: "mbc-earlier", text: "You solved this one before." }));
    }
    host.appendChild(feedback);
    host.appendChild(hints);
  }

  function renderProgress(host) {
    const data = JSON.parse(host.getAttribute("data-progress"));
    const update = () => {
      host.replaceChildren(el("b", { class: "mbc-progress-line", text: progressLine(data, state()) }));
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
        const link = el("a", { href: ch.page, text: ch.title });
        body.appendChild(
          el("tr", { "data-chapter": ch.chapter }, [
            el("td", { text: ch.chapter }),
            el("td", {}, [link]),
            el("td", { class: "mbc-count", text: `${c.solved} / ${c.attempted} / ${c.total}` }),
            el("td", { class: "mbc-count", text: String(ch.code.length) }),
          ])
        );
      }
      const head = el("thead", {}, [
        el("tr", {}, [
          el("th", { text: "chapter" }),
          el("th", { text: "title" }),
          el("th", { text: "solved / attempted / questions" }),
          el("th", { text: "code exercises (Jupyter, Colab)" }),
        ]),
      ]);
      host.replaceChildren(
        el("p", {
          class: "mbc-summary-line",
          text: `Solved so far in this browser: ${solved} of ${total} questions.`,
        }),
        el("table", { class: "mbc-summary-table" }, [head, body])
      );
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

  window.mbcourseExercises = {
    AnswerError, normalise, parseNumber, parseShape, formatNumber, formatPercent, judge, start,
    storageKey: STORE,
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
