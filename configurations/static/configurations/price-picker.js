// A configuration's product rows (configurations/admin.py, PricesOfProductSelect): the price picker shows only
// the prices of the row's product. A static file (CSP: script-src 'self'); event delegation covers rows added
// later. The product box is an autocomplete (select2), whose change events are jQuery's: both are listened to.
"use strict";
(function () {
  function follow(productSelect) {
    var row = productSelect.closest("tr");
    var prices = row && row.querySelector("select[name$='-prices']");
    if (!prices) {
      return;
    }
    var product = productSelect.value;
    prices.querySelectorAll("option").forEach(function (option) {
      var mine = !product || option.getAttribute("data-product") === product;
      option.hidden = !mine;
      if (!mine) {
        option.selected = false;
      }
    });
  }
  function changed(event) {
    var target = event.target;
    if (target && target.matches && target.matches("select[name$='-product']")) {
      follow(target);
    }
  }
  document.addEventListener("change", changed);
  if (window.django && window.django.jQuery) {
    window.django.jQuery(document).on("change", "select[name$='-product']", function (event) {
      follow(event.target);
    });
  }
})();
