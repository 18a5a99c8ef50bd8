/* What every page runs: the header's menu at phone width.  The button folds and unfolds it; the stylesheet hides
   the menu while the button says aria-expanded="false" (without JavaScript, css/nojs.css keeps it open). */
(function () {
  "use strict";
  var button = document.querySelector(".menu-toggle");
  if (!button) {
    return;
  }
  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
})();

/* An item input of a line editor (data-item-lookup: many inputs, each named for its row) asks the item lookup for
   its text as ?q=, the one name the lookup reads. */
document.addEventListener("htmx:configRequest", function (event) {
  var input = event.detail.elt;
  if (input && input.hasAttribute && input.hasAttribute("data-item-lookup")) {
    event.detail.parameters.set("q", input.value);
  }
});
