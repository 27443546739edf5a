// "Copy" buttons: <button data-copy="#field-id" data-copy-status="status-id">. The clipboard API needs a secure
// context (https, or localhost); elsewhere the text is selected and copied the older way, or left selected.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.querySelector(button.dataset.copy);
    const status = document.getElementById(button.dataset.copyStatus);
    if (!field) continue;
    const say = (text) => { if (status) status.textContent = text; };
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
        say("Copied.");
      } catch {
        field.focus();
        field.select();
        say(document.execCommand && document.execCommand("copy")
          ? "Copied." : "Selected: press Ctrl+C (⌘C on a Mac) to copy.");
      }
    });
  }
});
