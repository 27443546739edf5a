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
});
