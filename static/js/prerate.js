// 批量预评级: polls the job shown on the page until it ends, then reloads.
(function () {
  var box = document.getElementById("job");
  if (!box || box.dataset.done === "1") return;
  var labels = {queued: "排队中", running: "处理中", succeeded: "成功", failed: "失败"};
  function poll() {
    fetch(box.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (job) {
        document.getElementById("job-bar").style.width = job.progress + "%";
        document.getElementById("job-progress").textContent = job.progress;
        document.getElementById("job-status").textContent = labels[job.status] || job.status;
        document.getElementById("job-message").textContent = job.message || "";
        if (job.status === "succeeded" || job.status === "failed") { window.location.reload(); }
        else { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
