// The "check all" box of a bulk-action list ticks every .row-check box.
document.getElementById("check-all")?.addEventListener("change", function (e) {
  document.querySelectorAll(".row-check").forEach(function (box) { box.checked = e.target.checked; });
});
