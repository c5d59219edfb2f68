/* 档卡导入: follow a running import job. Polls GET /api/v1/imports/{id}/ (session cookie) every
   half second, updates the progress bar and the counters, and reloads the page once the job has
   finished: the server then renders the result and the errors. Plain JS, no framework. */
(function () {
  "use strict";
  var box = document.getElementById("import-job");
  if (!box || box.getAttribute("data-finished") === "true" || !window.fetch) { return; }
  var url = box.getAttribute("data-status-url");
  var PHASES = { waiting: "等待", reading: "读取文件", checking: "逐行校验", writing: "写入数据", done: "完成" };
  var STATUSES = { queued: "排队中", running: "处理中", succeeded: "成功", failed: "失败" };
  var failures = 0;

  function text(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = value; }
  }

  function show(job) {
    var bar = document.getElementById("job-progress");
    var percent = job.total_rows ? Math.min(99, Math.floor(job.processed_rows * 100 / job.total_rows)) : 0;
    if (bar) { bar.value = percent; bar.textContent = percent + "%"; }
    text("job-processed", job.processed_rows);
    text("job-total", job.total_rows);
    text("job-rate", job.rows_per_second === null ? "—" : job.rows_per_second);
    text("job-phase", PHASES[job.phase] || job.phase);
    text("job-status", STATUSES[job.status] || job.status);
    if (job.message) { text("job-message", job.message); }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (job) {
        failures = 0;
        show(job);
        if (job.status === "succeeded" || job.status === "failed") {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 500);
      })
      .catch(function () {
        failures += 1;  // a network hiccup: keep trying, more slowly; the page's refresh still works
        if (failures < 20) { window.setTimeout(poll, 500 * failures); }
        else { text("job-message", "暂时无法获取进度，请刷新页面。"); }
      });
  }

  window.setTimeout(poll, 500);
})();
