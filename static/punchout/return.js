// Submit the cart-return form on load, so the procurement system receives the cart
// without a click. The page's Continue button does the same without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("punchout-return");
  if (form) {
    form.submit();
  }
});
