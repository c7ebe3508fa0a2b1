// What a page's layout looks like at the current window size (tests/browser/test_layout.py).
// Every <details> is opened first (hidden code cells, solutions), since a reader opens them.
//
// An element "overflows" when its box reaches beyond the box that should contain it:
//  - the nearest ancestor that scrolls horizontally (overflow-x auto or scroll): never, it
//    scrolls;
//  - the nearest ancestor that clips (overflow-x hidden or clip): the part outside is cut off;
//  - else the text column (the article's content box): it sticks out of the page's column.
// MathJax's visually hidden MathML copy (mjx-assistive-mml) and invisible elements are skipped,
// and inline boxes never contain (overflow does not apply to them).
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  const scrolls = (s) => s === "auto" || s === "scroll";
  const clips = (s) => s === "hidden" || s === "clip";
  const memo = new Map();
  function box(el) {
    const chain = [];
    let p = el.parentElement, found = article;
    while (p && p !== article && p !== document.body) {
      if (memo.has(p)) { found = memo.get(p); break; }
      chain.push(p);
      const cs = getComputedStyle(p);
      if (cs.display !== "inline" && (scrolls(cs.overflowX) || clips(cs.overflowX))) {
        found = p;
        break;
      }
      p = p.parentElement;
    }
    for (const c of chain) if (!memo.has(c)) memo.set(c, found);
    return found;
  }
  function edges(b) {
    const r = b.getBoundingClientRect();
    if (b !== article) return {left: r.left, right: r.right};
    const cs = getComputedStyle(article);
    return {left: r.left + parseFloat(cs.paddingLeft), right: r.right - parseFloat(cs.paddingRight)};
  }
  const overflowOf = (b) => (b === article ? "column" : getComputedStyle(b).overflowX);
  const describe = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += "#" + el.id;
    if (el.classList.length) d += "." + Array.from(el.classList).slice(0, 3).join(".");
    return d;
  };
  const section = (el) => {
    const sec = el.closest("section");
    const h = sec && sec.querySelector("h1, h2, h3, h4");
    return h ? h.textContent.replace(/#$/, "").trim().slice(0, 80) : "";
  };
  const snippet = (el) => (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 70);

  const offenders = [];
  const reported = new Set();
  for (const el of article.querySelectorAll("*")) {
    if (el.closest("mjx-assistive-mml")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    let anc = el.parentElement, inside = false;
    while (anc && anc !== article) {
      if (reported.has(anc)) { inside = true; break; }
      anc = anc.parentElement;
    }
    if (inside) continue;
    const b = box(el);
    const kind = overflowOf(b);
    if (scrolls(kind)) continue;
    const e = edges(b);
    const over = Math.max(r.right - e.right, e.left - r.left);
    if (over > 1) {
      reported.add(el);
      offenders.push({element: describe(el), box: describe(b), overflow: kind,
                      over: Math.round(over), width: Math.round(r.width),
                      section: section(el), text: snippet(el)});
    }
  }

  // Display equations wider than their line: do they scroll inside their own box?
  const math = [];
  for (const c of article.querySelectorAll('mjx-container[display="true"]')) {
    const inner = c.querySelector("mjx-math");
    if (!inner) continue;
    const own = c.closest("div.math") || c;
    if (inner.getBoundingClientRect().width <= own.getBoundingClientRect().width + 1) continue;
    const b = box(inner);
    math.push({text: snippet(c), section: section(c), box: describe(b),
               own: b === c || b === own, scrolls: scrolls(overflowOf(b))});
  }

  // Tables wider than their box: own scroll box, and the first column in view at the far right.
  const tables = [];
  for (const t of article.querySelectorAll("table")) {
    const b = box(t);
    const tw = t.getBoundingClientRect().width, bw = b.getBoundingClientRect().width;
    if (tw <= bw + 1) continue;
    const own = b !== article && b.contains(t) && b.querySelectorAll("table").length === 1;
    t.dataset.mbcWide = String(tables.length);  // for the test's paint check
    const entry = {head: snippet(t.querySelector("tr") || t), section: section(t),
                   box: describe(b), own, scrolls: scrolls(overflowOf(b)),
                   hidden: [], transparent: []};
    if (entry.scrolls) {
      const before = b.scrollLeft;
      b.scrollLeft = b.scrollWidth;
      const e = b.getBoundingClientRect();
      for (const row of t.querySelectorAll("tr")) {
        const cell = row.firstElementChild;
        if (!cell) continue;
        const r = cell.getBoundingClientRect();
        if (r.left < e.left - 1 || r.right > e.right + 1) entry.hidden.push(snippet(cell));
        const bg = getComputedStyle(cell).backgroundColor;
        const alpha = bg.startsWith("rgba") ? parseFloat(bg.split(",")[3]) : bg === "transparent" ? 0 : 1;
        if (alpha < 1) entry.transparent.push(snippet(cell) + " (" + bg + ")");
      }
      b.scrollLeft = before;
    }
    tables.push(entry);
  }

  // Code (cells and outputs) wider than its box: it must scroll or wrap.
  const code = [];
  for (const pre of article.querySelectorAll("pre")) {
    if (pre.scrollWidth <= pre.clientWidth + 1) continue;
    const cs = getComputedStyle(pre);
    code.push({id: pre.id || describe(pre), section: section(pre), text: snippet(pre),
               scrolls: scrolls(cs.overflowX), wraps: /pre-wrap|break-spaces|normal/.test(cs.whiteSpace)});
  }

  // Math whose TeX shows as text: a backslash command left inside \text{...} (mtext).
  const tex = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.getMathItemsWithin(document.body)) {
      const mml = MathJax.startup.toMML(item.root);
      const texts = [...mml.matchAll(/<mtext[^>]*>([^<]*)<\/mtext>/g)].map((m) => m[1]);
      const shown = texts.filter((t) => /\\[A-Za-z_{}$%&#]/.test(t));
      if (shown.length) tex.push({math: item.math.slice(0, 100), shown});
    }
  }

  const se = document.scrollingElement;
  return {pageScroll: Math.max(0, se.scrollWidth - window.innerWidth), offenders, math, tables,
          code, tex, theme: document.documentElement.dataset.theme};
}
