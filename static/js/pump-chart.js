// Projected reservoir volume with the residuals measured at refills. Data comes from the canvas's data-chart.
document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("reservoir-chart");
  if (!canvas || !window.Chart) return;
  const data = JSON.parse(canvas.dataset.chart);
  new window.Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "Projected volume (mL)", data: data.projected, borderColor: "#1f3a5f", borderWidth: 2,
          pointRadius: 0, tension: 0 },
        { label: "Measured residual (mL)", data: data.measured, borderColor: "#b42318", backgroundColor: "#b42318",
          showLine: false, pointRadius: 5, pointStyle: "rectRot" },
        { label: "Alarm volume", data: data.labels.map(() => data.alarm_ml), borderColor: "#c0722b",
          borderDash: [6, 4], borderWidth: 1, pointRadius: 0 },
      ],
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        y: { min: 0, max: data.reservoir_ml, title: { display: true, text: "mL in reservoir" } },
        x: { ticks: { maxTicksLimit: 8, maxRotation: 0 } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
});
