// Small progressive enhancements; every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Location filters that apply on change.
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
  // Implantation details only matter when moving to implantation.
  const move = document.querySelector("#move-form select[name=move]");
  const implant = document.querySelector("#move-form .when-implant");
  if (move && implant) {
    const sync = () => { implant.hidden = move.value !== "implantation"; };
    move.addEventListener("change", sync);
    sync();
  }
  // The header menu: always open where its "Menu" button is hidden (wide screens, app.css), closed on narrow
  // ones until asked. Only a change of width class moves it: a phone's address bar resizes the window too.
  const menu = document.querySelector(".topbar details.menu");
  if (menu) {
    const button = menu.querySelector("summary");
    let wide = null;
    const fit = () => {
      const nowWide = getComputedStyle(button).display === "none";
      if (nowWide !== wide) { wide = nowWide; menu.open = wide; }
    };
    window.addEventListener("resize", fit);
    fit();
    document.addEventListener("click", (event) => {  // the folded menu closes on a tap beside it, as menus do
      if (!wide && menu.open && !menu.contains(event.target)) menu.open = false;
    });
  }
  // A table wider than the screen scrolls in its .table-wrap: a named, focusable region only while it does, so
  // the keyboard can scroll it without a tab stop on every table. Its name: its caption, or the heading before it.
  const headingBefore = (wrap) => {
    const caption = wrap.querySelector("caption");
    if (caption) return caption.textContent.trim();
    for (let el = wrap; el && el !== document.body; el = el.parentElement) {
      for (let sib = el.previousElementSibling; sib; sib = sib.previousElementSibling) {
        const heading = sib.matches("h1, h2, h3, h4") ? sib : sib.querySelector("h1, h2, h3, h4");
        if (heading) return heading.textContent.trim();
      }
    }
    return "Table";
  };
  const wraps = document.querySelectorAll(".table-wrap");
  const scrollable = () => wraps.forEach((wrap) => {
    const scrolls = wrap.scrollWidth > wrap.clientWidth;
    if (scrolls && !wrap.hasAttribute("tabindex")) {
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", `${headingBefore(wrap)} (table, scrolls sideways)`);
    } else if (!scrolls && wrap.hasAttribute("tabindex")) {
      ["tabindex", "role", "aria-label"].forEach((name) => wrap.removeAttribute(name));
    }
  });
  window.addEventListener("resize", scrollable);
  document.addEventListener("toggle", scrollable, true);  // a table in a <details> has no width until opened
  scrollable();
  // Drop-downs in the header close on a click elsewhere or Escape, as menus do.
  const groups = document.querySelectorAll(".topbar .group details");
  const closeGroups = (except) => groups.forEach((g) => { if (g !== except) g.open = false; });
  document.addEventListener("click", (event) => closeGroups(event.target.closest(".topbar .group details")));
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeGroups(null); });
});
