/* 统计分析: draws the charts of the dashboard and assessment pages with Chart.js
   (static/vendor/chartjs) from the data the page carries in <script type="application/json">
   (#dashboard-data, #assessment-data). A bar of a region links to its own dashboard, as the table's
   names do. No animation: a chart is complete as soon as it is drawn (printing, screenshots), and
   the charts are redrawn at the paper's width before printing. Plain JS, no framework. */
(function () {
  "use strict";
  if (!window.Chart) { return; }

  var COLOR = {
    cumulative: "#1d5fa8", current: "#7fb0e0", rating: "#8bbf6a", target: "#2e7d32",
    bar: "#8aa4c8", alarm: "#c62828", warn: "#ef6c00", ok: "#43a047", line: "#b71c1c", grid: "#ececec"
  };
  var body = window.getComputedStyle(document.body);
  Chart.defaults.font.family = body.fontFamily;
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#444";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.position = "bottom";
  Chart.defaults.plugins.legend.labels.boxWidth = 14;
  // The legend in the order the datasets are listed (the reference lines are drawn last, on top).
  Chart.defaults.plugins.legend.labels.sort = function (a, b) { return a.datasetIndex - b.datasetIndex; };

  function readData(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function percentAxis(options) {
    var axis = { beginAtZero: true, grid: { color: COLOR.grid }, ticks: { callback: function (v) { return v + "%"; } } };
    return Object.assign(axis, options || {});
  }

  function percentTooltip(context) {
    var value = context.parsed.y === undefined || context.chart.options.indexAxis === "y" ? context.parsed.x : context.parsed.y;
    return context.dataset.label + "：" + (value === null ? "—" : value.toFixed(2) + "%");
  }

  /* A dashed horizontal reference (a target, a threshold) over bars: one value per category. */
  function reference(label, values, color) {
    var single = values.length === 1;
    return {
      type: "line", label: label, data: values, borderColor: color, backgroundColor: color, borderWidth: 2,
      borderDash: [6, 4], pointRadius: single ? 8 : 0, pointStyle: "line", pointHoverRadius: single ? 8 : 3,
      fill: false, spanGaps: true, order: 0
    };
  }

  function anyValue(values) {
    return values.some(function (v) { return v !== null && v !== undefined; });
  }

  function draw(id, config, urls) {
    var canvas = document.getElementById(id);
    if (!canvas) { return null; }
    config.options = config.options || {};
    config.options.plugins = Object.assign({ tooltip: { callbacks: { label: percentTooltip } } }, config.options.plugins || {});
    if (urls) {
      config.options.onClick = function (event, elements) {
        if (elements.length && urls[elements[0].index]) { window.location.href = urls[elements[0].index]; }
      };
      config.options.onHover = function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      };
    }
    return new Chart(canvas, config);
  }

  function dashboard(data) {
    var c = data.children;
    var many = c.labels.length > 12;
    var categoryAxis = { grid: { display: false }, ticks: { autoSkip: false, maxRotation: many ? 60 : 0, minRotation: 0 } };

    var coverage = [
      { label: "累计获贷率", data: c.coverage_cumulative, backgroundColor: COLOR.cumulative, order: 1 },
      { label: "当前获贷率", data: c.coverage_current, backgroundColor: COLOR.current, order: 1 },
      { label: "评级授信面", data: c.rating_coverage, backgroundColor: COLOR.rating, order: 1 }
    ];
    if (anyValue(c.target)) { coverage.push(reference("获贷率目标", c.target, COLOR.target)); }
    draw("chart-coverage", {
      type: "bar", data: { labels: c.labels, datasets: coverage },
      options: { scales: { x: categoryAxis, y: percentAxis({ suggestedMax: 100 }) } }
    }, c.urls);

    var npl = [{
      label: "不良贷款率", data: c.npl_ratio, order: 1,
      backgroundColor: c.alarm.map(function (alarm) { return alarm ? COLOR.alarm : COLOR.bar; })
    }];
    if (anyValue(c.threshold)) { npl.push(reference("熔断线", c.threshold, COLOR.warn)); }
    var nplMax = Math.max.apply(null, c.threshold.concat(c.npl_ratio).filter(function (v) { return v !== null; }).concat([1]));
    draw("chart-npl", {
      type: "bar", data: { labels: c.labels, datasets: npl },
      options: { scales: { x: categoryAxis, y: percentAxis({ suggestedMax: Math.ceil(nplMax * 1.2) }) } }
    }, c.urls);

    if (anyValue(c.leverage_used)) {
      var leverage = [{
        label: "放大倍数使用率", data: c.leverage_used, order: 1,
        backgroundColor: c.leverage_used.map(function (used, i) {
          if (used > 100) { return COLOR.alarm; }
          return used > (c.leverage_warning[i] || 100) ? COLOR.warn : COLOR.ok;
        })
      }];
      leverage.push(reference("预警线", c.leverage_warning, COLOR.warn));
      leverage.push(reference("上限", c.labels.map(function () { return 100; }), COLOR.alarm));
      draw("chart-leverage", {
        type: "bar", data: { labels: c.labels, datasets: leverage },
        options: { scales: { x: categoryAxis, y: percentAxis({ suggestedMax: 110 }) } }
      }, c.urls);
    }

    var t = data.trend;
    var dense = t.dates.length > 40;
    function trendLine(label, values, color, extra) {
      return Object.assign({
        label: label, data: values, borderColor: color, backgroundColor: color, borderWidth: 2,
        pointRadius: dense ? 0 : 3, tension: 0.1, fill: false
      }, extra || {});
    }
    var trendAxis = { grid: { display: false }, ticks: { maxTicksLimit: 8, maxRotation: 0 } };
    var lines = [
      trendLine("累计获贷率", t.coverage_cumulative, COLOR.cumulative),
      trendLine("当前获贷率", t.coverage_current, COLOR.current),
      trendLine("评级授信面", t.rating_coverage, COLOR.rating)
    ];
    if (data.target !== null) {
      lines.push(trendLine("当前目标", t.dates.map(function () { return data.target; }), COLOR.target,
        { borderDash: [6, 4], pointRadius: 0 }));
    }
    draw("chart-trend-coverage", {
      type: "line", data: { labels: t.dates, datasets: lines },
      options: { interaction: { mode: "index", intersect: false }, scales: { x: trendAxis, y: percentAxis({ suggestedMax: 100 }) } }
    });
    var nplLines = [trendLine("不良贷款率", t.npl_ratio, COLOR.line)];
    if (data.threshold !== null) {
      nplLines.push(trendLine("熔断线", t.dates.map(function () { return data.threshold; }), COLOR.warn,
        { borderDash: [6, 4], pointRadius: 0 }));
    }
    draw("chart-trend-npl", {
      type: "line", data: { labels: t.dates, datasets: nplLines },
      options: { interaction: { mode: "index", intersect: false }, scales: { x: trendAxis, y: percentAxis({ suggestedMax: Math.max(data.threshold || 0, 1) * 1.5 }) } }
    });
  }

  function assessment(data) {
    draw("chart-assessment", {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: "综合得分", data: data.score,
          backgroundColor: data.alarm.map(function (alarm) { return alarm ? COLOR.alarm : COLOR.cumulative; })
        }]
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (context) { return "综合得分：" + context.parsed.x.toFixed(2) + (data.alarm[context.dataIndex] ? "（通报）" : ""); } } }
        },
        scales: { x: { beginAtZero: true, suggestedMax: 100, grid: { color: COLOR.grid } }, y: { grid: { display: false } } }
      }
    }, data.urls);
  }

  var boardData = readData("dashboard-data");
  if (boardData) { dashboard(boardData); }
  var assessmentData = readData("assessment-data");
  if (assessmentData) { assessment(assessmentData); }

  function resizeAll() {
    Object.keys(Chart.instances).forEach(function (key) { Chart.instances[key].resize(); });
  }
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);
  var printButton = document.getElementById("print-page");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
})();
