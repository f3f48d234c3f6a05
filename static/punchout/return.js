// Submit the return form on load when the page asks for it (data-auto-submit), so the
// procurement system receives the cart without a click. The Continue button does the
// same without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("punchout-return");
  if (form && form.dataset.autoSubmit === "1") {
    form.submit();
  }
});
