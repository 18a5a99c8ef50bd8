/* Draws the charts a page hands over with json_script (inventory/charts.py says what they show and how they are
   computed).  Each <canvas data-chart="ID"> names the <script type="application/json" id="ID"> holding its data:
   {type, labels, datasets: [{role, label, data, below?}], y_title, y_max?}.  Loaded with Chart.js
   (vendor/chart.umd.min.js) only on the pages that have a chart; no inline script, as the CSP requires. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  var ACCENT = "#0b4f8a";
  var DANGER = "#b42318";
  var INK = "#1b1f24";
  var FONT = { size: 13 };

  // How each kind of series is drawn: the roles inventory/charts.py gives them.
  var ROLES = {
    on_hand: { borderColor: ACCENT, backgroundColor: "rgba(11, 79, 138, 0.12)", fill: "origin", stepped: "after",
      borderWidth: 2, pointRadius: 0, spanGaps: false },
    safety: { borderColor: DANGER, borderDash: [6, 4], borderWidth: 2, pointRadius: 0, fill: false },
    projection: { borderColor: "#9a3412", borderDash: [2, 3], borderWidth: 2, pointRadius: 0, fill: false },
    days: { backgroundColor: ACCENT, maxBarThickness: 48 },
    target: { type: "line", showLine: false, pointStyle: "line", pointRadius: 16, pointHoverRadius: 16,
      borderWidth: 3, borderColor: INK, backgroundColor: INK }
  };

  function dataset(series) {
    var drawn = Object.assign({ label: series.label, data: series.data }, ROLES[series.role] || {});
    if (series.below) {  // a class under its target stands out
      drawn.backgroundColor = series.below.map(function (below) { return below ? DANGER : ACCENT; });
    }
    return drawn;
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source || canvas.getAttribute("data-drawn")) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var line = data.type === "line";
    canvas.setAttribute("data-drawn", "true");
    new window.Chart(canvas, {
      type: data.type,
      data: { labels: data.labels, datasets: data.datasets.map(dataset) },
      options: {
        locale: document.documentElement.lang || undefined,
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 14, font: FONT } } },
        scales: {
          x: { grid: { display: false },
            ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: line ? 7 : undefined, font: FONT } },
          y: { beginAtZero: true, max: data.y_max || undefined, ticks: { precision: 0, font: FONT },
            title: { display: Boolean(data.y_title), text: data.y_title, font: FONT } }
        }
      }
    });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
})();
