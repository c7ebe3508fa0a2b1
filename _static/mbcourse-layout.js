// Figures open full size on a click (Jupyter Book loads every _static/*.js; the CSS is in
// mbcourse.css). Each image a chapter's code drew (div.cell_output img) is wrapped in a link to
// its own file, so that it also works as a link (a new tab, a saved copy); a plain click opens
// the shared <dialog> instead, with the figure at its drawn size or as wide as the window,
// whichever is larger. Escape, the close button or a click on the figure closes it. A figure
// wider than its box (on a phone it keeps its drawn size) gets a line saying it scrolls.
// tests/browser/test_figures.py clicks every figure.
(() => {
  "use strict";
  let dialog = null;

  function fullSizeDialog() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "mbc-figure-dialog";
    dialog.setAttribute("aria-label", "Figure, full size");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "mbc-figure-close";
    close.textContent = "Close";
    close.addEventListener("click", () => dialog.close());
    const img = document.createElement("img");
    img.addEventListener("click", () => dialog.close());
    dialog.append(close, img);
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();  // the backdrop
    });
    document.body.append(dialog);
    return dialog;
  }

  function open(source) {
    const view = fullSizeDialog();
    const img = view.querySelector("img");
    img.alt = source.alt;
    img.style.width = "";
    img.src = source.currentSrc || source.src;
    view.showModal();
    const fit = () => {
      // A vector figure may grow to the window's width; a raster one stays at its pixels.
      const natural = img.naturalWidth || source.naturalWidth;
      const vector = /\.svg(\?|#|$)/i.test(img.src);
      const room = view.clientWidth - 16;
      img.style.width = `${vector ? Math.max(natural, room) : natural}px`;
    };
    if (img.complete && img.naturalWidth) fit();
    else img.addEventListener("load", fit, {once: true});
  }

  function wrap(img) {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.className = "mbc-figure-open";
    link.href = img.getAttribute("src");
    const figure = img.closest("figure");
    const number = figure && figure.querySelector(".caption-number");
    const name = number ? number.textContent.trim() : "the figure";
    link.title = `Open ${name} full size`;
    // The link's name is the image's description (its alt text) and what the link does.
    const hint = document.createElement("span");
    hint.className = "mbc-visually-hidden";
    hint.textContent = ` (open ${name} full size)`;
    img.replaceWith(link);
    link.append(img, hint);
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      open(img);
    });
    // On a phone a figure keeps its drawn size and scrolls sideways: say so below it.
    const note = document.createElement("p");
    note.className = "mbc-figure-wider";
    note.hidden = true;
    note.textContent = "Wider than the screen: scroll it sideways, or tap it to open it full size.";
    link.after(note);
    const mark = () => { note.hidden = link.scrollWidth <= link.clientWidth + 1; };
    img.addEventListener("load", mark);
    window.addEventListener("resize", mark);
    mark();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("div.cell_output img").forEach(wrap);
  });
})();
