/* The approval queue's "select all on this page" box.  It is hidden in the page and shown here, so that without
   JavaScript nobody is offered a box that does nothing; events are delegated to the document, so the queue still
   works after htmx swaps it for the answer to a bulk decision. */
(function () {
  "use strict";
  function reveal() {
    var all = document.getElementById("dc-select-all");
    if (all) {
      all.hidden = false;
    }
  }
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:afterSettle", reveal);
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "dc-select-all") {
      document.querySelectorAll('#dc-queue input[name="request"]').forEach(function (box) {
        box.checked = target.checked;
      });
    } else if (target.name === "request") {
      var all = document.getElementById("dc-select-all");
      var boxes = document.querySelectorAll('#dc-queue input[name="request"]');
      if (all) {
        all.checked = Array.prototype.every.call(boxes, function (box) { return box.checked; });
      }
    }
  });
})();
