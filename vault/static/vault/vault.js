// The test gateway's hosted fields. It speaks only with the page that framed it, whose origin the portal signed into
// the token: "vault:submit" from there posts the fields to the vault, which answers a payment method id that goes
// back up as "vault:payment_method"; field errors are shown here, next to the fields. Card and bank details never
// leave this frame for the parent page.
(function () {
  "use strict";

  var body = document.body;
  var parentOrigin = body.dataset.parentOrigin;
  var form = document.getElementById("vault-form");
  var busy = false;

  function tell(message) {
    if (parentOrigin && window.parent !== window) {
      window.parent.postMessage(message, parentOrigin);
    }
  }

  // The brand's colour and font (checked by the server), as custom properties: no inline style is allowed here.
  var root = document.documentElement.style;
  if (body.dataset.accent) {
    root.setProperty("--color-accent", body.dataset.accent);
    root.setProperty("--color-focus", body.dataset.accent);
  }
  if (body.dataset.font) {
    root.setProperty("--font-sans", body.dataset.font);
  }

  var lastHeight = 0;
  function resize() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      tell({ type: "vault:resize", height: height });
    }
  }
  if (window.ResizeObserver) {
    new ResizeObserver(resize).observe(document.documentElement);
  }
  window.addEventListener("load", resize);

  function formError() {
    return document.getElementById("form-error");
  }

  function clearErrors() {
    if (!form) return;
    formError().hidden = true;
    formError().textContent = "";
    form.querySelectorAll(".field-error").forEach(function (error) {
      error.hidden = true;
      error.textContent = "";
    });
    form.querySelectorAll("input[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== input.id + "_error";
      });
      if (described.length) {
        input.setAttribute("aria-describedby", described.join(" "));
      } else {
        input.removeAttribute("aria-describedby");
      }
    });
  }

  function showErrors(errors) {
    var first = null;
    var general = [];
    Object.keys(errors).forEach(function (name) {
      var input = form && form.querySelector('input[name="' + name + '"]:not([type="hidden"])');
      if (!input) {
        general.push(errors[name]);
        return;
      }
      var error = document.getElementById(input.id + "_error");
      error.textContent = errors[name];
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      described.push(error.id);
      input.setAttribute("aria-describedby", described.join(" "));
      first = first || input;
    });
    if (general.length || !first) {
      formError().textContent = general.length ? general.join(" ") : body.dataset.genericError;
      formError().hidden = false;
    }
    if (first) {
      first.focus();
    }
    resize();
  }

  function submit() {
    if (!form) {
      tell({ type: "vault:error" });
      return;
    }
    if (busy) return;
    busy = true;
    clearErrors();
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { Accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
    })
      .then(function (response) {
        return response.json().then(function (data) {
          return { ok: response.ok, data: data };
        });
      })
      .then(function (answer) {
        if (answer.ok && answer.data.id) {
          tell({ type: "vault:payment_method", id: answer.data.id, pm_type: answer.data.type });
        } else {
          showErrors(answer.data.errors || { __all__: body.dataset.networkError });
          tell({ type: "vault:error" });
        }
      })
      .catch(function () {
        showErrors({ __all__: body.dataset.networkError });
        tell({ type: "vault:error" });
      })
      .finally(function () {
        busy = false;
      });
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== parentOrigin || event.source !== window.parent) return;
    if (!event.data) return;
    if (event.data.type === "vault:submit") {
      submit();
    } else if (event.data.type === "vault:hello") {
      lastHeight = 0;
      resize();
      tell({ type: "vault:ready" });
    }
  });

  if (form) {
    // Enter in a field submits the portal's form, as its button does (which then asks this frame to submit).
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && event.target.tagName === "INPUT") {
        event.preventDefault();
        tell({ type: "vault:enter" });
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      tell({ type: "vault:enter" });
    });
  }

  // Told once here, and again to the page's "vault:hello" if the page was not listening yet.
  resize();
  tell({ type: "vault:ready" });
})();
