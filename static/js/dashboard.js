// Quality dashboard charts. Each canvas carries its data (data-chart); the table beside it holds the same numbers.
document.addEventListener("DOMContentLoaded", () => {
  const printButton = document.querySelector("[data-print]");
  if (printButton) printButton.addEventListener("click", () => window.print());
  const Chart = window.Chart;
  if (!Chart) return;
  Chart.defaults.animation = false; // a still chart prints as it looks
  Chart.defaults.font.size = 13;
  Chart.defaults.color = "#344054";
  const green = "#2f8a5b";
  const stageColours = { evaluation: "#4f6d9a", trial: "#8a5cb8", implantation: "#c0722b", adjustment: "#2f8a5b" };
  const axis = (text, extra = {}) => ({ title: { display: true, text }, ...extra });
  const percentAxis = (text) => axis(text, { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } });
  const ofCounts = (d, i) => `${d.counts[i][0]} of ${d.counts[i][1]} refills`;
  const builders = {
    percent: (d) => ({
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: "% on or before the due date", data: d.percent, backgroundColor: green }] },
      options: {
        scales: { y: percentAxis("% of refills on time"), x: axis("Month of the refill", { ticks: { maxRotation: 0, autoSkip: true } }) },
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: (c) => `${c.parsed.y}% (${ofCounts(d, c.dataIndex)})` } } },
      },
    }),
    "percent-horizontal": (d) => ({
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: "% on or before the due date", data: d.percent, backgroundColor: green }] },
      options: {
        indexAxis: "y",
        scales: { x: percentAxis("% of refills on time"), y: axis("Patient's location") },
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: (c) => `${c.parsed.x}% (${ofCounts(d, c.dataIndex)})` } } },
      },
    }),
    late: (d) => ({
      type: "bar",
      data: { labels: d.labels, datasets: [
        { label: "Late refills (in range)", data: d.late, backgroundColor: "#b54708" },
        { label: "Overdue now", data: d.open, backgroundColor: "#b42318" },
      ] },
      options: {
        scales: { y: axis("Refills", { beginAtZero: true, ticks: { precision: 0 } }), x: axis("Days after the due date") },
        plugins: { legend: { position: "bottom" } },
      },
    }),
    stages: (d) => ({
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: "Active patients", data: d.patients,
        backgroundColor: d.keys.map((k) => stageColours[k] || "#777") }] },
      options: {
        scales: { y: axis("Active patients", { beginAtZero: true, ticks: { precision: 0 } }), x: axis("Current stage") },
        plugins: { legend: { display: false } },
      },
    }),
  };
  const charts = [];
  document.querySelectorAll("canvas[data-chart-kind]").forEach((canvas) => {
    const build = builders[canvas.dataset.chartKind];
    if (!build) return;
    const config = build(JSON.parse(canvas.dataset.chart));
    config.options = { responsive: true, maintainAspectRatio: false, ...config.options };
    charts.push(new Chart(canvas, config));
  });
  // Print and screen lay the page out at different widths: redraw the charts for each.
  const redraw = () => charts.forEach((chart) => chart.resize());
  window.addEventListener("beforeprint", redraw);
  window.addEventListener("afterprint", redraw);
  window.matchMedia("print").addEventListener("change", redraw);
});
