// Amount boxes in the admin (billing/admin_money.py): the currency code beside the box follows the form's
// currency field (a select or a text box). A static file (CSP: script-src 'self'); event delegation, so it needs no DOM-ready hook.
"use strict";
(function () {
  function update(source) {
    var form = source.form;
    if (!form) {
      return;
    }
    form.querySelectorAll("[data-currency-from]").forEach(function (label) {
      if (label.getAttribute("data-currency-from") === source.name) {
        label.textContent = (source.value || "").toUpperCase();
      }
    });
  }
  function changed(event) {
    if (event.target.matches && event.target.matches("select, input")) {
      update(event.target);
    }
  }
  document.addEventListener("change", changed);
  document.addEventListener("input", changed);
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-currency-from]").forEach(function (label) {
      var form = label.closest("form");
      var source = form && form.querySelector("[name='" + label.getAttribute("data-currency-from") + "']");
      if (source) {
        update(source);
      }
    });
  });
})();
