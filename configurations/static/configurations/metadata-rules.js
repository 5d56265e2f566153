// Customer-group rules (configurations/admin_rules.py): "Add rule" appends an empty key/value row.
// A static file (CSP: script-src 'self'); event delegation, so rows added later (inline forms) work too.
"use strict";
(function () {
  function reveal() {
    document.querySelectorAll(".metadata-rules-add[hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("formset:added", reveal);
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".metadata-rules-add");
    if (!button) {
      return;
    }
    var rules = button.closest(".metadata-rules");
    var name = rules.getAttribute("data-rules-name");
    var body = rules.querySelector("tbody");
    var last = body.querySelector("tr:last-child");
    var row = last.cloneNode(true);
    var next = body.querySelectorAll("tr").length;
    row.querySelectorAll("input").forEach(function (input) {
      var kind = input.name.indexOf(name + "-key-") === 0 ? "key" : "value";
      input.name = name + "-" + kind + "-" + next;
      input.value = "";
      input.removeAttribute("id");
    });
    body.appendChild(row);
    row.querySelector("input").focus();
  });
})();
