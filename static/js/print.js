// The printed lists' Print button (print_base.html); the page prints without it too (the browser's own Print).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });
});
