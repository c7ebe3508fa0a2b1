// Accessibility fixes for HTML that the theme and the extensions write (Jupyter Book loads every
// _static/*.js). tests/browser/test_accessibility.py checks the result with axe-core.
document.addEventListener("DOMContentLoaded", () => {
  // Search buttons show "Search Ctrl+K" but are labelled "Search": let the visible text name them.
  document.querySelectorAll(".search-button__button[aria-label]").forEach((button) => {
    button.removeAttribute("aria-label");
  });
  // The colour-mode button shows only an icon (with its own title) but is labelled "Color mode":
  // hide the icons from assistive technology and name the button by its title instead.
  document.querySelectorAll(".theme-switch-button").forEach((button) => {
    button.querySelectorAll(".theme-switch").forEach((icon) => icon.setAttribute("aria-hidden", "true"));
    if (button.hasAttribute("aria-label")) {
      button.setAttribute("title", button.getAttribute("aria-label"));
      button.removeAttribute("aria-label");
    }
  });
  // Collapsed code cells: the visible "Show code cell source" is the toggle's name.
  document.querySelectorAll('summary[aria-label="Toggle hidden content"]').forEach((summary) => {
    summary.removeAttribute("aria-label");
  });
  // Bibliography: the entries of role="list" must be list items (doc-biblioentry is deprecated).
  document.querySelectorAll('.citation-list[role="list"] > [role="doc-biblioentry"]').forEach((entry) => {
    entry.setAttribute("role", "listitem");
  });
});
