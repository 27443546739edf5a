// The import button: post with fetch and read the streamed progress lines (one JSON object per line), so a
// large file shows a moving bar and then its summary. Without this script the form posts normally and the
// summary page follows.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("import-run");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const bar = document.getElementById("import-progress");
  const status = document.getElementById("import-status");
  const result = document.getElementById("import-result");
  const button = form.querySelector("button[type=submit]");

  const show = (message) => {
    if (message.phase) {
      bar.max = message.total || 1;
      bar.value = message.done;
      status.textContent = message.phase === "check"
        ? `Checking ${message.total.toLocaleString()} ${message.total === 1 ? "row" : "rows"}…`
        : `Saved ${message.done.toLocaleString()} of ${message.total.toLocaleString()}…`;
      form.dataset.updates = String(Number(form.dataset.updates || 0) + 1);
    } else if (message.summary_html) {
      bar.value = bar.max;
      status.textContent = "Done: everything was saved.";
      result.innerHTML = message.summary_html;
      form.querySelector(".buttons").hidden = true;
      result.querySelector("h2")?.focus();
    } else if (message.error) {
      status.textContent = message.error;
      status.classList.add("field-error");
      if (message.check_url) window.setTimeout(() => { window.location.assign(message.check_url); }, 1500);
      button.disabled = false;
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    form.querySelector(".import-progress").hidden = false;
    status.classList.remove("field-error");
    status.textContent = "Starting…";
    try {
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: { Accept: "application/x-ndjson" },
        credentials: "same-origin",
      });
      if (!response.ok || !response.body) throw new Error(`The server answered ${response.status}.`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop();
        lines.filter((line) => line.trim()).forEach((line) => show(JSON.parse(line)));
      }
      if (buffered.trim()) show(JSON.parse(buffered));
    } catch (error) {
      show({ error: `The import could not finish (${error.message}). Nothing was saved unless the summary says so: check the patient list before trying again.` });
    }
  });
});
