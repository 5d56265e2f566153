// Copy buttons in the admin: <button data-copy-target="input-id" data-copied-label="Copied">.
// A static file (CSP: script-src 'self'); works with event delegation, so it needs no DOM-ready hook.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy-target]");
  if (!button) {
    return;
  }
  var input = document.getElementById(button.getAttribute("data-copy-target"));
  if (!input) {
    return;
  }
  var status = button.parentNode.querySelector("[role=status]");
  function done() {
    if (status) {
      status.textContent = button.getAttribute("data-copied-label") || "";
    }
  }
  input.focus();
  input.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, function () {
      if (document.execCommand("copy")) {
        done();
      }
    });
  } else if (document.execCommand("copy")) {
    done();
  }
});
