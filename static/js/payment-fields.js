// The add-a-payment-method form with the processor's hosted fields: the test gateway's vault (a frame on its own
// origin), Stripe's Payment Element or Mollie Components. Card and bank details stay inside those fields; this page
// only receives the payment method (or token) they give, puts it into the form's hidden "payment_method" field and
// submits the form.
(function () {
  "use strict";

  var form = document.querySelector("form[data-payment-fields]");
  if (!form) return;
  var hidden = form.querySelector('input[name="payment_method"]');
  var button = form.querySelector('button[type="submit"]');
  var errorBox = document.getElementById("payment-fields-error");
  var busy = false;
  var timer = null;
  hidden.value = ""; // a form restored by the back button must not reuse a spent payment method

  function chosenType() {
    var input = form.querySelector('input[name="type"]:checked') || form.querySelector('input[name="type"]');
    return input ? input.value : "card";
  }

  function setBusy(on) {
    busy = on;
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
    window.clearTimeout(timer);
    if (on) {
      timer = window.setTimeout(function () {
        fail(form.dataset.unreachable);
      }, 30000);
    }
  }

  function fail(message) {
    setBusy(false);
    if (message) {
      errorBox.textContent = message;
      errorBox.hidden = false;
    }
  }

  function finish(id) {
    window.clearTimeout(timer);
    hidden.value = id;
    form.submit();
  }

  function requestSubmit() {
    if (form.requestSubmit) {
      form.requestSubmit(button);
    } else {
      button.click();
    }
  }

  // The vault: one frame per payment method type; it answers "vault:payment_method" to "vault:submit". A frame
  // that loaded before this script listened has told its height and readiness to no one: "vault:hello" asks again.
  function vaultFields() {
    var origin = form.dataset.vaultOrigin;
    var frames = Array.prototype.slice.call(form.querySelectorAll("iframe[data-vault]"));
    function frameFor(source) {
      return frames.filter(function (frame) {
        return frame.contentWindow === source;
      })[0];
    }
    window.addEventListener("message", function (event) {
      var frame = event.origin === origin && frameFor(event.source);
      var data = event.data || {};
      if (!frame) return;
      if (data.type === "vault:resize" && typeof data.height === "number" && data.height > 0) {
        frame.style.height = Math.min(Math.ceil(data.height), 2000) + "px";
      } else if (data.type === "vault:payment_method" && busy && frame.dataset.vault === chosenType()) {
        finish(String(data.id));
      } else if (data.type === "vault:error") {
        fail("");
      } else if (data.type === "vault:enter") {
        requestSubmit();
      } else if (data.type === "vault:ready") {
        frame.dataset.ready = "true";
      }
    });
    frames.forEach(function (frame) {
      frame.contentWindow.postMessage({ type: "vault:hello" }, origin);
    });
    return function () {
      var frame = frames.filter(function (candidate) {
        return candidate.dataset.vault === chosenType();
      })[0];
      if (!frame) {
        fail(form.dataset.unreachable);
        return;
      }
      frame.contentWindow.postMessage({ type: "vault:submit" }, origin);
    };
  }

  // Stripe's Payment Element, in deferred mode: the payment method is created here and confirmed by our server.
  function stripeFields() {
    if (!window.Stripe) return null;
    var stripe = window.Stripe(form.dataset.publishableKey, { locale: form.dataset.locale });
    var styles = window.getComputedStyle(document.documentElement);
    var elements = null;
    var element = null;
    function build() {
      if (element) element.destroy();
      elements = stripe.elements({
        mode: "setup",
        currency: form.dataset.currency,
        paymentMethodTypes: [chosenType()],
        appearance: {
          variables: {
            colorPrimary: styles.getPropertyValue("--color-accent").trim() || undefined,
            fontFamily: styles.getPropertyValue("--font-sans").trim() || undefined,
            borderRadius: "8px",
          },
        },
      });
      element = elements.create("payment");
      element.mount("#stripe-payment-element");
    }
    build();
    form.querySelectorAll('input[name="type"]').forEach(function (radio) {
      radio.addEventListener("change", build);
    });
    return function () {
      elements
        .submit()
        .then(function (submitted) {
          if (submitted.error) {
            fail(submitted.error.message);
            return null;
          }
          return stripe.createPaymentMethod({ elements: elements }).then(function (result) {
            if (result.error) {
              fail(result.error.message);
            } else {
              finish(result.paymentMethod.id);
            }
          });
        })
        .catch(function () {
          fail(form.dataset.unreachable);
        });
    };
  }

  // Mollie Components: card fields, tokenized into a single-use card token (tkn_…).
  function mollieFields() {
    if (!window.Mollie) return null;
    var mollie = window.Mollie(form.dataset.profileId, {
      locale: form.dataset.locale,
      testmode: form.dataset.testmode === "true",
    });
    [
      ["cardHolder", "#mollie-card-holder"],
      ["cardNumber", "#mollie-card-number"],
      ["expiryDate", "#mollie-expiry-date"],
      ["verificationCode", "#mollie-verification-code"],
    ].forEach(function (pair) {
      mollie.createComponent(pair[0]).mount(pair[1]);
    });
    return function () {
      mollie
        .createToken()
        .then(function (result) {
          if (result.error) {
            fail(result.error.message);
          } else {
            finish(result.token);
          }
        })
        .catch(function () {
          fail(form.dataset.unreachable);
        });
    };
  }

  var kind = form.dataset.paymentFields;
  var tokenize = kind === "vault" ? vaultFields() : kind === "stripe" ? stripeFields() : mollieFields();
  if (!tokenize) {
    fail(form.dataset.unreachable);
    button.disabled = true;
    return;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    errorBox.hidden = true;
    errorBox.textContent = "";
    setBusy(true);
    tokenize();
  });
})();
