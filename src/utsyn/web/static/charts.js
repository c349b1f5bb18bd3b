/* Utsyn's charts: draws every <canvas data-chart='{...}'> with Chart.js (vendor/chart.umd.min.js).
 *
 * The figures come from the server (web/charts.py) in the data-chart attribute: no inline
 * script, so the CSP (script-src 'self') holds. Each canvas has a table beside it with the
 * same figures, which is what screen readers and pages without JavaScript use. Colours are
 * read from utsyn.css (custom properties): a bar takes its grade's colour (--grade-A ...),
 * the one scale of the map and the badges.
 */
(function () {
  "use strict";

  var LINE_COLOURS = ["--accent", "--grade-F", "--ink", "--grade-D"];

  function cssColour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function datasets(spec) {
    return spec.series.map(function (series, i) {
      var colour = cssColour(LINE_COLOURS[i % LINE_COLOURS.length], "#00509e");
      var set = {
        label: series.label,
        data: series.values,
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: 2,
        pointRadius: 3,
        spanGaps: false,
      };
      if (spec.type === "bar" && spec.grades) {
        // Bars take their grade's colour, as on the map; the edge keeps light ones visible.
        set.backgroundColor = spec.grades.map(function (grade) {
          return cssColour("--grade-" + (grade || "none"), "#8c959f");
        });
        set.borderColor = cssColour("--ink", "#1b1f24");
        set.borderWidth = 1;
      }
      return set;
    });
  }

  function draw(canvas) {
    var spec = JSON.parse(canvas.getAttribute("data-chart"));
    var english = document.documentElement.lang === "en";
    var ink = cssColour("--ink", "#1b1f24");
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets(spec) },
      options: {
        locale: english ? "en-GB" : "nb-NO",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        color: ink,
        scales: {
          x: { ticks: { color: ink } },
          y: {
            min: 0,
            max: 100,
            ticks: { color: ink },
            title: { display: true, text: spec.yLabel, color: ink },
          },
        },
        plugins: { legend: { display: spec.series.length > 1, labels: { color: ink } } },
      },
    });
    canvas.setAttribute("data-drawn", "true");
  }

  function drawAll() {
    if (typeof window.Chart !== "function") {
      return; // the tables beside the canvases still hold every figure
    }
    // The page's typeface (the design system's Inter) in the charts too.
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
