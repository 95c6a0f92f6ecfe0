// Draws the reports page's charts from the JSON the server put in #chart-data (no inline script: the page's
// Content-Security-Policy allows scripts from /console/static only). Chart.js is vendored (static/vendor).
(function () {
  "use strict";
  var palette = ["#2f6fde", "#e8833a", "#3aa17e", "#c94f6d", "#8a63d2", "#b8a031", "#4ab3c9", "#7a7a7a"];

  function draw() {
    render();
    document.body.dataset.chartsReady = "true";
    // How many times the charts were drawn: the page's load, then once per report htmx swapped in.
    document.body.dataset.draws = String(Number(document.body.dataset.draws || "0") + 1);
  }

  function render() {
    var source = document.getElementById("chart-data");
    if (!source || typeof Chart === "undefined") { return; }
    var charts = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec = charts[canvas.dataset.chart];
      if (!spec || spec.labels.length === 0) { return; }
      var stacked = canvas.dataset.stacked === "true";
      var horizontal = canvas.dataset.horizontal === "true";
      spec.datasets.forEach(function (set, i) {
        set.backgroundColor = palette[i % palette.length];
        set.borderRadius = 3;
      });
      new Chart(canvas, {
        type: "bar",
        data: spec,
        options: {
          animation: false,  // screenshots and tests see the finished chart at once
          maintainAspectRatio: false,
          indexAxis: horizontal ? "y" : "x",
          plugins: { legend: { display: spec.datasets.length > 1, position: "bottom" } },
          // Every category's name on its axis (Chart.js would skip every other one to save room).
          scales: {
            x: { stacked: stacked, beginAtZero: true, ticks: { autoSkip: horizontal } },
            y: { stacked: stacked, beginAtZero: true, ticks: { autoSkip: !horizontal } }
          }
        }
      });
    });
  }

  function forget() {
    if (typeof Chart === "undefined") { return; }
    Object.values(Chart.instances).forEach(function (chart) { chart.destroy(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
  document.addEventListener("htmx:beforeSwap", forget);
  document.addEventListener("htmx:afterSettle", draw);
})();

// Live: on a page with [data-live] (the queues overview, the case list), listen to the console's server-sent events
// (web/console/live.py) and have htmx fetch the page's live element again when its queues changed: the element's
// hx-trigger is "inbox-changed from:body". The page's version goes along, so a change made between rendering the
// page and opening the stream is told at once. body[data-live-ready] says the stream is open; data-live-events
// counts the changes told (the tests watch both).
(function () {
  "use strict";

  function listen() {
    var live = document.querySelector("[data-live]");
    if (!live || typeof EventSource === "undefined") { return; }
    var url = live.dataset.live + (live.dataset.version ? "?since=" + encodeURIComponent(live.dataset.version) : "");
    var source = new EventSource(url);
    source.addEventListener("open", function () { document.body.dataset.liveReady = "true"; });
    source.addEventListener("inbox", function () {
      document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents || "0") + 1);
      if (typeof htmx !== "undefined") { htmx.trigger(document.body, "inbox-changed"); }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", listen);
  } else {
    listen();
  }
})();

// The case view's live part (web/console/case_events.py): an EventSource on the URL #case-live names; on "changed"
// htmx fetches the part again and swaps it in. The fresh part names a new URL (its own fingerprint, the replies still
// on their way), so the stream is opened again after each swap.
(function () {
  "use strict";
  var source = null;
  var watching = null;

  function watch() {
    var live = document.getElementById("case-live");
    if (!live || typeof EventSource === "undefined" || typeof htmx === "undefined") { return; }
    var url = live.dataset.events;
    if (source && url === watching && source.readyState !== EventSource.CLOSED) { return; }
    if (source) { source.close(); }
    watching = url;
    source = new EventSource(url);
    source.addEventListener("changed", function () {
      source.close();
      watching = null;
      htmx.ajax("GET", live.dataset.history, { target: "#case-live", swap: "outerHTML" }).then(function () {
        document.body.dataset.caseUpdates = String(Number(document.body.dataset.caseUpdates || "0") + 1);
        watch();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
})();
