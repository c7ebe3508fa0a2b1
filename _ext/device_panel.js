/* mbcourse: "Run on this device" (book/11_on_your_device.md), kernel-less and offline.
 *
 * The page holds <div class="mbc-device-panel"> (timing) and <div class="mbc-device-classify">
 * (a photo's top-5), written by _ext/device_panel.py, and the manifest of the panel's files as
 * <script type="application/json" id="mbc-dp-manifest"> (made by mbcourse.studies.on_device:
 * models, photos, preprocessing, timing plan). Nothing is fetched until the reader presses Run
 * or Classify: then ONNX Runtime Web (served by the build from _static/vendor/onnxruntime-web,
 * pinned in package-lock.json) and the chosen ONNX files only.
 *
 * Timing follows the book's one timing path (mbcourse.measure.time_interleaved): untimed
 * warm-up runs, then interleaved rounds (A B, then B A, ...), each running every model a few
 * times and keeping the round's median. A model's median is the median of its round medians;
 * its IQR is over all timed runs. A ratio is "within the noise" when it is closer to 1 than
 * the larger relative spread of the two models' round medians (mbcourse.measure.round_spread
 * and within_noise), and the sentences are those of mbcourse.studies.on_device.fusion_verdict
 * and int8_verdict; the browser tests hold both sides to the same answers.
 *
 * window.mbcDevicePanel exposes the rules (withinNoise, roundSpread, fusionVerdict, ...) and
 * the last results and classification, for the tests, and `bench` (one model's timed runs)
 * for benchmarks/bench_web.py.
 */
(function () {
  "use strict";

  // ---- statistics and the book's noise rule -----------------------------------------------
  function sorted(xs) {
    return Array.from(xs).sort((a, b) => a - b);
  }

  /** numpy.quantile's default (linear interpolation between order statistics). */
  function quantile(xs, q) {
    const s = sorted(xs);
    if (!s.length) return NaN;
    const pos = (s.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  }

  function median(xs) {
    return quantile(xs, 0.5);
  }

  /** mbcourse.measure.round_spread: the largest max/min - 1 over lists of round medians. */
  function roundSpread(...roundLists) {
    if (!roundLists.length) throw new Error("roundSpread: give at least one list of rounds");
    return Math.max(...roundLists.map((r) => {
      if (!r.length || r.some((v) => !(v > 0))) {
        throw new Error("roundSpread: each list needs positive round medians");
      }
      return Math.max(...r) / Math.min(...r) - 1;
    }));
  }

  /** mbcourse.measure.within_noise: |log ratio| <= log(1 + spread). */
  function withinNoise(ratio, spread) {
    if (!(ratio > 0) || !Number.isFinite(ratio)) throw new Error("withinNoise: bad ratio");
    if (!(spread >= 0) || !Number.isFinite(spread)) throw new Error("withinNoise: bad spread");
    return Math.abs(Math.log(ratio)) <= Math.log1p(spread);
  }

  // ---- the verdicts in words (mbcourse.studies.on_device) ---------------------------------
  const NUMBER_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine"];

  function nameList(names) {
    return names.length === 1 ? names[0]
      : names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
  }

  function stageList(stages) {
    const runs = [];
    for (const v of sorted(stages)) {
      const last = runs[runs.length - 1];
      if (last && v === last[last.length - 1] + 1) last.push(v);
      else runs.push([v]);
    }
    const pieces = [];
    for (const run of runs) {
      if (run.length >= 3) pieces.push(`${run[0]}\u2013${run[run.length - 1]}`);
      else pieces.push(...run.map(String));
    }
    return (stages.length === 1 ? "stage " : "stages ") + nameList(pieces);
  }

  function split(rows) {
    const faster = [], slower = [], tied = [];
    for (const row of rows) {
      if (withinNoise(row.ratio, row.spread)) tied.push(row);
      else (row.ratio < 1 ? faster : slower).push(row);
    }
    return [faster, slower, tied];
  }

  function verdict(rows, where, subject, kind, listing, preposition) {
    const [faster, slower, tied] = split(rows);
    const n = rows.length;
    const every = `all ${n < NUMBER_WORDS.length ? NUMBER_WORDS[n] : n} ${kind}s`;
    const group = (sel) => (sel.length === n && n > 1 ? every : listing(sel));
    const parts = [faster.length
      ? `${subject} ${preposition} ${group(faster)}, beyond the timing noise`
      : `${subject} ${preposition} no ${kind} beyond the timing noise`];
    if (slower.length) parts.push(`slower ${preposition} ${group(slower)}, beyond the noise`);
    if (tied.length) parts.push(`within the noise ${preposition} ${group(tied)}`);
    return `On this device (${where}), ` + parts.join("; ") + ".";
  }

  function fusionVerdict(rows, where) {
    if (!rows.length) throw new Error("fusionVerdict: rows is empty");
    return verdict(rows, where, "Fused-MBConv was faster than MBConv", "stage",
      (sel) => stageList(sel.map((r) => r.stage)), "in");
  }

  function int8Verdict(rows, where) {
    if (!rows.length) throw new Error("int8Verdict: rows is empty");
    return verdict(rows, where, "int8 was faster than fp32", "network",
      (sel) => nameList(sel.map((r) => r.title)), "for");
  }

  // ---- the browser, the device and the runtime --------------------------------------------
  // The smallest module using a SIMD instruction (wasm-feature-detect's test): ONNX Runtime
  // Web 1.31 ships SIMD builds only.
  const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3,
    2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

  function hasSimd() {
    try {
      return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
    } catch (err) {
      return false;
    }
  }

  function browserName() {
    const data = navigator.userAgentData;
    if (data && data.brands && data.brands.length) {
      const real = data.brands.filter((b) => !/Not.?A.?Brand/i.test(b.brand));
      const pick = real.find((b) => b.brand !== "Chromium") || real[0];
      if (pick) return `${pick.brand} ${pick.version}`;
    }
    const ua = navigator.userAgent;
    for (const [re, name] of [[/Firefox\/(\d+)/, "Firefox"], [/Edg\/(\d+)/, "Edge"],
      [/Chrome\/(\d+)/, "Chrome"], [/Version\/(\d+)[.\d]* .*Safari/, "Safari"]]) {
      const m = ua.match(re);
      if (m) return `${name} ${m[1]}`;
    }
    return ua;
  }

  async function describeDevice() {
    const info = {
      browser: browserName(),
      os: "", arch: "", model: "",
      cores: navigator.hardwareConcurrency || null,
      memory: navigator.deviceMemory || null,
      userAgent: navigator.userAgent,
      isolated: Boolean(self.crossOriginIsolated),
    };
    const data = navigator.userAgentData;
    if (data && data.getHighEntropyValues) {
      try {
        const v = await data.getHighEntropyValues(
          ["architecture", "bitness", "model", "platformVersion"]);
        info.os = [data.platform, v.platformVersion].filter(Boolean).join(" ");
        info.arch = [v.architecture, v.bitness && v.bitness + "-bit"].filter(Boolean).join(" ");
        info.model = v.model || "";
      } catch (err) { /* the low-entropy values below */ }
      if (!info.os) info.os = data.platform || "";
    }
    if (!info.os) {
      const m = navigator.userAgent.match(/\(([^)]+)\)/);
      info.os = m ? m[1] : navigator.platform || "";
    }
    const parts = [info.model, info.os, info.arch].filter(Boolean);
    if (info.cores) parts.push(`${info.cores} logical cores`);
    if (info.memory) parts.push(`about ${info.memory} GB of memory`);
    info.text = `${info.browser} on ${parts.join(", ")}`;
    return info;
  }

  const state = {
    manifest: null, base: null, vendor: null, device: null, runtimes: {},
    models: new Map(), results: null, lastClassification: null, busy: false,
  };

  function url(file) {
    return new URL(file, state.base).href;
  }

  /** ONNX Runtime Web, imported on first use: "wasm" (CPU) or "webgpu" (its JSPI build). */
  async function runtime(kind, threads) {
    const have = state.runtimes[kind];
    if (have) {
      if (kind === "wasm" && have.threads !== threads) {
        throw new Error(`The WebAssembly runtime of this page started with ${have.threads} ` +
          `thread${have.threads === 1 ? "" : "s"}; reload the page to run with ${threads}.`);
      }
      return have.ort;
    }
    const file = kind === "webgpu" ? "ort.jspi.min.mjs" : "ort.wasm.min.mjs";
    const ort = await import(new URL(file, state.vendor).href);
    ort.env.wasm.wasmPaths = state.vendor;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    state.runtimes[kind] = {ort, threads};
    return ort;
  }

  function backendChoice(value) {
    const cores = navigator.hardwareConcurrency || 2;
    if (value === "wasm-threads") {
      return {kind: "wasm", ep: "wasm", threads: cores, label: `wasm-simd, ${cores} threads`};
    }
    if (value === "webgpu") return {kind: "webgpu", ep: "webgpu", threads: 1, label: "webgpu"};
    return {kind: "wasm", ep: "wasm", threads: 1, label: "wasm-simd, 1 thread"};
  }

  async function modelBytes(entry) {
    if (!state.models.has(entry.file)) {
      const response = await fetch(url(entry.file));
      if (!response.ok) throw new Error(`${entry.file}: HTTP ${response.status}`);
      state.models.set(entry.file, new Uint8Array(await response.arrayBuffer()));
    }
    return state.models.get(entry.file);
  }

  async function session(ort, entry, backend) {
    const bytes = await modelBytes(entry);
    return ort.InferenceSession.create(bytes, {
      executionProviders: [backend.ep],
      graphOptimizationLevel: "all",
    });
  }

  function megabytes(bytes) {
    return (bytes / 1e6).toFixed(1) + " MB";
  }

  // ---- the timing panel -------------------------------------------------------------------
  function formatMs(ms) {
    return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
  }

  function randomInput(ort, shape) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let seed = 12345;
    for (let i = 0; i < n; i++) {  // a fixed pseudo-random normal-ish input (sum of uniforms)
      let s = 0;
      for (let k = 0; k < 3; k++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        s += seed / 2147483648;
      }
      data[i] = s - 1.5;
    }
    return new ort.Tensor("float32", data, shape);
  }

  /** Time a group of models (a pair) in interleaved rounds; returns stats per model. */
  async function timeGroup(ort, backend, entries, plan, report) {
    const sessions = [];
    try {
      for (const e of entries) {
        report(`loading ${e.label} (${megabytes(e.file.bytes)})`);
        sessions.push(await session(ort, e.file, backend));
      }
      const feeds = sessions.map((s, i) => ({[s.inputNames[0]]: randomInput(ort,
        entries[i].input)}));
      for (let i = 0; i < sessions.length; i++) {
        report(`warming up ${entries[i].label}`);
        for (let k = 0; k < plan.warmup; k++) await sessions[i].run(feeds[i]);
      }
      const rounds = entries.map(() => []);
      const runs = entries.map(() => []);
      for (let r = 0; r < plan.rounds; r++) {
        report(`round ${r + 1} of ${plan.rounds}`);
        const order = entries.map((_, i) => i);
        if (r % 2) order.reverse();
        for (const i of order) {
          const times = [];
          for (let k = 0; k < plan.runs_per_round; k++) {
            const t0 = performance.now();
            await sessions[i].run(feeds[i]);
            times.push(performance.now() - t0);
          }
          rounds[i].push(median(times));
          runs[i].push(...times);
        }
      }
      return entries.map((e, i) => ({
        id: e.id, label: e.label, group: e.group, precision: e.precision,
        median_ms: median(rounds[i]), q1_ms: quantile(runs[i], 0.25),
        q3_ms: quantile(runs[i], 0.75), n: runs[i].length, rounds_ms: rounds[i],
        backend: backend.label, bytes: e.file.bytes,
      }));
    } finally {
      for (const s of sessions) {
        try { await s.release(); } catch (err) { /* already gone */ }
      }
    }
  }

  function groups(manifest, chosen) {
    const out = [];
    for (const net of manifest.networks) {
      if (!chosen.has("net:" + net.id)) continue;
      out.push({kind: "network", title: net.title, id: net.id, entries:
        Object.entries(net.files).map(([precision, file]) => ({
          id: `${net.id}-${precision}`, label: `${net.title} ${precision}`, group: net.title,
          precision, file, input: net.input}))});
    }
    if (chosen.has("stages")) {
      for (const st of manifest.stages) {
        out.push({kind: "stage", stage: st.stage, title: `stage ${st.stage}`, entries:
          Object.entries(st.files).map(([block, file]) => ({
            id: `stage${st.stage}-${block}`, label: `stage ${st.stage} ${block}`,
            group: `V2-S stage ${st.stage} (${st.width} ch, ${st.resolution}\u00b2)`,
            precision: block, file, input: st.input}))});
      }
    }
    return out;
  }

  function cell(row, text, header) {
    const c = document.createElement(header ? "th" : "td");
    if (header) c.scope = "row";
    c.textContent = text;
    row.appendChild(c);
    return c;
  }

  function resultCells(r) {
    return [r.group, r.precision, formatMs(r.median_ms),
      `${formatMs(r.q1_ms)}\u2013${formatMs(r.q3_ms)}`, String(r.n), r.backend];
  }

  function comparisonCells(c) {
    const judged = withinNoise(c.ratio, c.spread) ? "within the noise"
      : c.ratio < 1 ? `${c.faster} faster` : `${c.faster} slower`;
    return [c.title, c.ratio.toFixed(2), `${(100 * c.spread).toFixed(0)} %`, judged];
  }

  function addRow(tbody, cells) {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => cell(tr, text, i === 0));
    tbody.appendChild(tr);
  }

  function whereText(device, backend) {
    return `${device.browser}, ${[device.os, device.arch].filter(Boolean).join(" ")}, ` +
      `ONNX Runtime Web ${backend.label}, batch 1`;
  }

  function markdownTable(header, rows) {
    const line = (cells) => "| " + cells.join(" | ") + " |";
    return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
  }

  function copyText(results) {
    const {device, backend, plan, rows, comparisons, verdicts, date} = results;
    const lines = [
      `mbcourse "Run on this device", ${date}`,
      `device: ${device.text}`,
      `browser: ${device.userAgent}`,
      `backend: ONNX Runtime Web ${results.ortVersion}, ${backend.label}` +
        `${device.isolated ? " (cross-origin isolated)" : ""}; batch 1; ` +
        `${plan.warmup} warm-up runs, ${plan.rounds} rounds of ${plan.runs_per_round} runs`,
      "",
      markdownTable(["model", "variant", "median ms", "IQR ms", "runs", "backend"],
        rows.map(resultCells)),
    ];
    if (comparisons.length) {
      lines.push("", markdownTable(["comparison", "time ratio", "round spread", "verdict"],
        comparisons.map(comparisonCells)));
    }
    if (verdicts.length) lines.push("", ...verdicts);
    return lines.join("\n");
  }

  function readPlan(panel) {
    const plan = {};
    for (const key of ["warmup", "rounds", "runs_per_round"]) {
      const input = panel.querySelector(`[name="mbc-dp-${key}"]`);
      const value = Number(input.value);
      const min = Number(input.min), max = Number(input.max);
      if (!Number.isInteger(value) || value < min || value > max) {
        throw new Error(`${input.dataset.label} must be a whole number from ${min} to ${max}, ` +
          `got "${input.value}".`);
      }
      plan[key] = value;
    }
    return plan;
  }

  function setBusy(root, busy, text) {
    root.setAttribute("aria-busy", busy ? "true" : "false");
    const status = root.querySelector(".mbc-dp-status");
    status.textContent = text || "";
    const progress = root.querySelector("progress");
    if (progress) progress.hidden = !busy;
    root.querySelectorAll("button.mbc-dp-action").forEach((b) => { b.disabled = busy; });
  }

  function showError(root, message) {
    const box = root.querySelector(".mbc-dp-message");
    box.textContent = message;
    box.hidden = !message;
  }

  async function runPanel(panel) {
    const m = state.manifest;
    const tbody = panel.querySelector(".mbc-dp-results tbody");
    const cbody = panel.querySelector(".mbc-dp-comparisons tbody");
    const verdictBox = panel.querySelector(".mbc-dp-verdict");
    const copyButton = panel.querySelector(".mbc-dp-copy");
    const copyArea = panel.querySelector(".mbc-dp-copy-text");
    showError(panel, "");
    let plan;
    try {
      plan = readPlan(panel);
    } catch (err) {
      showError(panel, err.message);
      return;
    }
    const chosen = new Set(Array.from(panel.querySelectorAll('[name="mbc-dp-model"]:checked'))
      .map((c) => c.value));
    const todo = groups(m, chosen);
    if (!todo.length) {
      showError(panel, "Choose at least one network or the stages to run.");
      return;
    }
    const backend = backendChoice(panel.querySelector('[name="mbc-dp-backend"]').value);
    const progress = panel.querySelector("progress");
    const total = todo.reduce((a, g) => a + g.entries.length, 0);
    let done = 0;
    progress.max = total;
    progress.value = 0;
    tbody.textContent = "";
    cbody.textContent = "";
    verdictBox.textContent = "";
    copyButton.disabled = true;
    copyArea.value = "";
    state.results = null;
    setBusy(panel, true, "Loading ONNX Runtime Web\u2026");
    const rows = [], comparisons = [];
    try {
      const ort = await runtime(backend.kind, backend.threads);
      for (const g of todo) {
        const report = (what) => setBusy(panel, true,
          `${g.kind === "stage" ? "EfficientNetV2-S " + g.title : g.title}: ${what}\u2026`);
        const stats = await timeGroup(ort, backend, g.entries, plan, report);
        for (const s of stats) {
          rows.push(s);
          addRow(tbody, resultCells(s));
        }
        done += stats.length;
        progress.value = done;
        const [a, b] = stats;
        if (b) {
          const c = g.kind === "stage"
            ? {kind: "stage", stage: g.stage, title: `stage ${g.stage}: Fused-MBConv / MBConv`,
              faster: "Fused-MBConv"}
            : {kind: "network", title: `${g.title}: int8 / fp32`, faster: "int8",
              network: g.title};
          c.ratio = b.median_ms / a.median_ms;
          c.spread = roundSpread(a.rounds_ms, b.rounds_ms);
          comparisons.push(c);
          addRow(cbody, comparisonCells(c));
        }
      }
      const where = whereText(state.device, backend);
      const nets = comparisons.filter((c) => c.kind === "network")
        .map((c) => ({title: c.network, ratio: c.ratio, spread: c.spread}));
      const stages = comparisons.filter((c) => c.kind === "stage");
      const verdicts = [];
      if (stages.length) verdicts.push(fusionVerdict(stages, where));
      if (nets.length) verdicts.push(int8Verdict(nets, where));
      for (const text of verdicts) {
        const p = document.createElement("p");
        p.textContent = text;
        verdictBox.appendChild(p);
      }
      state.results = {
        date: new Date().toISOString().slice(0, 10), device: state.device, backend, plan,
        rows, comparisons, verdicts, where, ortVersion: ort.env.versions
          ? ort.env.versions.web || ort.env.versions.common : "",
      };
      copyArea.value = copyText(state.results);
      copyButton.disabled = false;
      setBusy(panel, false, `Done: ${rows.length} models timed on ${backend.label}.`);
    } catch (err) {
      setBusy(panel, false, "");
      showError(panel, `The run stopped: ${err && err.message ? err.message : err}`);
    }
  }

  async function copyResults(panel) {
    const area = panel.querySelector(".mbc-dp-copy-text");
    const status = panel.querySelector(".mbc-dp-status");
    try {
      await navigator.clipboard.writeText(area.value);
      status.textContent = "Copied the results table to the clipboard.";
    } catch (err) {
      area.focus();
      area.select();
      const ok = document.execCommand && document.execCommand("copy");
      status.textContent = ok ? "Copied the results table to the clipboard."
        : "The browser did not allow copying: the table is selected below; copy it by hand.";
    }
  }

  // ---- classifying a photo ----------------------------------------------------------------
  const IMAGE_TIMEOUT_MS = 30000;

  class ImageProblem extends Error {}

  function withTimeout(promise, ms, what) {
    let timer;
    return Promise.race([promise, new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ImageProblem(what)), ms);
    })]).finally(() => clearTimeout(timer));
  }

  function loadImageElement(blob, name) {
    return new Promise((resolve, reject) => {
      const address = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = () => { URL.revokeObjectURL(address); resolve(img); };
      img.onerror = () => {
        URL.revokeObjectURL(address);
        reject(new ImageProblem(`"${name}" could not be read as an image: the file is damaged ` +
          "or not in a format this browser decodes (JPEG, PNG, GIF, WebP, AVIF or BMP)."));
      };
      img.src = address;
    });
  }

  /** The centre square of an image, resized to size x size: RGBA pixels. */
  async function pixelsOf(source, sx, sy, side, size) {
    const bitmap = await createImageBitmap(source, sx, sy, side, side, {
      resizeWidth: size, resizeHeight: size, resizeQuality: "high",
      colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = size;
    const context = canvas.getContext("2d", {willReadFrequently: true});
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    return context.getImageData(0, 0, size, size).data;
  }

  async function readUserImage(file, size) {
    if (!file) throw new ImageProblem("Choose an image file first.");
    if (file.size === 0) {
      throw new ImageProblem(`"${file.name}" is empty (0 bytes): there is no image in it.`);
    }
    const img = await withTimeout(loadImageElement(file, file.name), IMAGE_TIMEOUT_MS,
      `"${file.name}" did not load within ${IMAGE_TIMEOUT_MS / 1000} s.`);
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) throw new ImageProblem(`"${file.name}" has no pixels to read.`);
    const limit = state.manifest.max_megapixels;
    if (w * h > limit * 1e6) {
      throw new ImageProblem(`"${file.name}" is ${w} \u00d7 ${h} pixels ` +
        `(${(w * h / 1e6).toFixed(1)} megapixels); this page reads images of up to ${limit} ` +
        "megapixels. Scale it down (the network sees 224 \u00d7 224 pixels anyway) and try " +
        "again.");
    }
    const side = Math.min(w, h);
    return withTimeout(pixelsOf(img, Math.floor((w - side) / 2), Math.floor((h - side) / 2),
      side, size), IMAGE_TIMEOUT_MS, `"${file.name}" could not be decoded within ` +
      `${IMAGE_TIMEOUT_MS / 1000} s.`);
  }

  async function readBundledPhoto(photo, size) {
    const response = await fetch(url(photo.file));
    if (!response.ok) throw new Error(`${photo.file}: HTTP ${response.status}`);
    const bitmap = await createImageBitmap(await response.blob(),
      {colorSpaceConversion: "none", premultiplyAlpha: "none"});
    if (bitmap.width !== size || bitmap.height !== size) {
      throw new Error(`${photo.file} is ${bitmap.width} x ${bitmap.height}, not ${size} x ${size}`);
    }
    return pixelsOf(bitmap, 0, 0, size, size);
  }

  /** RGBA pixels -> (1, 3, S, S) float32, (x - mean) / std per channel. */
  function normalise(rgba, size, mean, std) {
    const plane = size * size;
    const out = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) out[c * plane + i] = (rgba[4 * i + c] - mean[c]) / std[c];
    }
    return out;
  }

  function softmax(logits) {
    const max = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / sum);
  }

  async function categories() {
    if (!state.categories) {
      const entry = state.manifest.classifier.categories;
      const response = await fetch(url(entry.file));
      if (!response.ok) throw new Error(`${entry.file}: HTTP ${response.status}`);
      state.categories = await response.json();
    }
    return state.categories;
  }

  async function classify(box) {
    const m = state.manifest;
    const c = m.classifier;
    const tbody = box.querySelector(".mbc-dp-top5 tbody");
    showError(box, "");
    tbody.textContent = "";
    box.querySelector(".mbc-dp-top5").hidden = true;
    state.lastClassification = null;
    const choice = box.querySelector('[name="mbc-dp-photo"]:checked');
    const precision = box.querySelector('[name="mbc-dp-precision"]').value;
    const network = m.networks.find((n) => n.id === c.network);
    setBusy(box, true, "Reading the image\u2026");
    try {
      let rgba, source;
      if (!choice || choice.value === "file") {
        const file = box.querySelector('input[type="file"]').files[0];
        rgba = await readUserImage(file, c.size);
        source = file.name;
      } else {
        const photo = m.photos.find((p) => p.id === choice.value);
        rgba = await readBundledPhoto(photo, c.size);
        source = photo.id;
      }
      setBusy(box, true, `Loading ${network.title} ${precision} ` +
        `(${megabytes(network.files[precision].bytes)})\u2026`);
      const ort = await runtime("wasm", state.runtimes.wasm ? state.runtimes.wasm.threads : 1);
      const key = `classify:${precision}`;
      if (!state.sessions) state.sessions = {};
      if (!state.sessions[key]) {
        state.sessions[key] = await session(ort, network.files[precision], backendChoice("wasm"));
      }
      const s = state.sessions[key];
      setBusy(box, true, "Classifying\u2026");
      const x = new ort.Tensor("float32", normalise(rgba, c.size, c.mean, c.std),
        [1, 3, c.size, c.size]);
      const output = await s.run({[s.inputNames[0]]: x});
      const logits = Array.from(output[s.outputNames[0]].data);
      const probs = softmax(logits);
      const names = await categories();
      const top = probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
      top.forEach(([p, i], rank) => addRow(tbody, [String(rank + 1), names[i],
        `${(100 * p).toFixed(1)} %`]));
      box.querySelector(".mbc-dp-top5").hidden = false;
      box.querySelector(".mbc-dp-top5 caption").textContent =
        `Top 5 for ${source}: ${network.title} ${precision}` +
        (c.weights === "trained" ? "" : " (random weights: the classes mean nothing)");
      state.lastClassification = {source, precision, logits,
        top5: top.map(([p, i]) => ({index: i, name: names[i], probability: p}))};
      setBusy(box, false, `Done: ${names[top[0][1]]}, ${(100 * top[0][0]).toFixed(1)} %.`);
    } catch (err) {
      setBusy(box, false, "");
      const text = err instanceof ImageProblem ? err.message
        : `Classification stopped: ${err && err.message ? err.message : err}`;
      showError(box, text);
    }
  }

  // ---- set-up (no downloads: only what the browser says about itself) ---------------------
  function offline(root, reason) {
    showError(root, reason);
    root.querySelectorAll("button.mbc-dp-action").forEach((b) => { b.disabled = true; });
  }

  async function setUp() {
    const script = document.getElementById("mbc-dp-manifest");
    const panel = document.querySelector(".mbc-device-panel");
    const box = document.querySelector(".mbc-device-classify");
    if (!script || (!panel && !box)) return;
    state.manifest = JSON.parse(script.textContent);
    state.base = new URL(script.dataset.base, document.baseURI).href;
    state.vendor = new URL(script.dataset.vendor, document.baseURI).href;
    state.device = await describeDevice();
    const roots = [panel, box].filter(Boolean);
    document.querySelectorAll(".mbc-dp-device").forEach((e) => {
      e.textContent = state.device.text;
    });
    const backendNote = document.querySelector(".mbc-dp-backend-note");
    const select = panel && panel.querySelector('[name="mbc-dp-backend"]');
    if (select) {
      if (state.device.isolated) {
        const o = new Option(`WebAssembly SIMD, ${navigator.hardwareConcurrency || 2} threads`,
          "wasm-threads");
        select.add(o);
      }
      if (navigator.gpu && typeof WebAssembly.Suspending === "function") {
        select.add(new Option("WebGPU", "webgpu"));
      }
    }
    if (backendNote) {
      backendNote.textContent = state.device.isolated
        ? "This page is cross-origin isolated: multi-threaded WebAssembly is offered."
        : "This page is not cross-origin isolated (GitHub Pages cannot send the headers that " +
          "would make it so): WebAssembly runs single-threaded, with SIMD.";
      if (navigator.gpu && typeof WebAssembly.Suspending !== "function") {
        backendNote.textContent += " This browser has WebGPU, but not the JavaScript " +
          "Promise Integration that this page's WebGPU build needs, so WebGPU is not offered.";
      }
    }
    if (location.protocol === "file:") {
      roots.forEach((r) => offline(r, "Opened from disk, the browser does not let this page " +
        "load WebAssembly or ONNX files. Serve the folder instead, e.g. " +
        "`python -m http.server --directory _build/html`, and open http://localhost:8000."));
      return;
    }
    if (!hasSimd()) {
      roots.forEach((r) => offline(r, "This browser has no WebAssembly SIMD, which ONNX " +
        "Runtime Web needs; a current Chrome, Edge, Firefox or Safari has it."));
      return;
    }
    if (panel) {
      panel.querySelector(".mbc-dp-run").addEventListener("click", () => runPanel(panel));
      panel.querySelector(".mbc-dp-copy").addEventListener("click", () => copyResults(panel));
    }
    if (box) {
      box.querySelector(".mbc-dp-classify").addEventListener("click", () => classify(box));
      const file = box.querySelector('input[type="file"]');
      file.addEventListener("change", () => {
        const own = box.querySelector('[name="mbc-dp-photo"][value="file"]');
        if (own) own.checked = true;
      });
    }
    roots.forEach((r) => r.setAttribute("data-ready", "true"));
  }

  // ---- for benchmarks/bench_web.py: one model's runs, timed as the panel times them --------
  const benches = new Map();
  let benchCount = 0;

  async function benchOpen(file, input, backendValue) {
    const backend = backendChoice(backendValue || "wasm");
    const ort = await runtime(backend.kind, backend.threads);
    const s = await session(ort, {file}, backend);
    const id = ++benchCount;
    benches.set(id, {s, feeds: {[s.inputNames[0]]: randomInput(ort, input)}, backend});
    return id;
  }

  async function benchRuns(id, runs) {
    const {s, feeds} = benches.get(id);
    const times = [];
    for (let k = 0; k < runs; k++) {
      const t0 = performance.now();
      await s.run(feeds);
      times.push(performance.now() - t0);
    }
    return times;
  }

  async function benchClose(id) {
    await benches.get(id).s.release();
    benches.delete(id);
  }

  window.mbcDevicePanel = {
    quantile, median, roundSpread, withinNoise, nameList, stageList, fusionVerdict,
    int8Verdict, state, bench: {open: benchOpen, runs: benchRuns, close: benchClose},
    get results() { return state.results; },
    get lastClassification() { return state.lastClassification; },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
