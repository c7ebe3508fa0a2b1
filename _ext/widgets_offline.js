// Loaded between require.js and @jupyter-widgets/html-manager's embed-amd.js on pages with widgets
// (copied to _static/vendor/ by _ext/book_html.py).
(function () {
  "use strict";
  // 1. The manager's bundled fonts come from the folder beside this file. Its webpack bundles
  //    take their public path from their AMD module's URL (by default relative to the page, so
  //    book/@jupyter-widgets/...), and set the CSS before honouring
  //    __jupyter_widgets_assets_path__, so map the module names to that folder for require.js.
  var here = document.currentScript.src;
  var dir = here.slice(0, here.lastIndexOf("/") + 1) + "html-manager/";
  window.__jupyter_widgets_assets_path__ = dir;
  window.requirejs.config({
    paths: {
      "@jupyter-widgets/html-manager": dir + "index",
      "@jupyter-widgets/html-manager/dist": dir.slice(0, -1),
    },
  });

  // 2. ipywidgets 8 typesets labels with MathJax 2's MathJax.Hub.Queue; the book loads MathJax 3,
  //    which has no Hub ("Cannot read properties of undefined (reading 'Queue')"). Forward the
  //    call to MathJax 3 once its deferred script has run.
  function typeset(element) {
    var mj = window.MathJax;
    var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
    ready
      .then(function () {
        return mj.typesetPromise ? mj.typesetPromise(element ? [element] : undefined) : null;
      })
      .catch(function (err) {
        console.error("MathJax could not typeset a widget label:", err);
      });
  }
  function installHub() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.version || String(mj.version).charAt(0) === "2") {
      return;
    }
    mj.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (command) {
          if (Array.isArray(command) && command[0] === "Typeset") {
            typeset(command[2]);
          }
        });
      },
    };
  }
  // Deferred scripts (MathJax) have run by DOMContentLoaded; widgets render on "load".
  document.addEventListener("DOMContentLoaded", installHub);
})();
