/* gridlink report forms (dispatcher 新建案件, phone 上报): post the form with its photos, show the server's
 * 422 messages next to their fields, and send the form's hidden token as Idempotency-Key so a double
 * click or a retry after a lost answer makes one case (RELIABILITY 12). A new token is drawn only after
 * a case was created. Messages are set with textContent. */
(function () {
  "use strict";

  function newToken() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);  // randomUUID needs a secure context; intranets often lack one
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function showErrors(form, errors) {
    var first = null;
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      var message = errors[slot.dataset.errorFor];
      slot.textContent = message || "";
      slot.hidden = !message;
      if (message && !first) { first = slot; }
    });
    var general = form.querySelector("[data-form-error]");
    var unplaced = Object.keys(errors).filter(function (k) { return !form.querySelector("[data-error-for=" + k + "]"); });
    general.textContent = unplaced.map(function (k) { return errors[k]; }).join(" ");
    general.hidden = !unplaced.length;
    if (first) { first.scrollIntoView({block: "nearest"}); }
  }

  function errorMessage(answer, fallback) {
    return (answer && answer.error && answer.error.message) || fallback;
  }

  /* options: csrf, failed (text), onCreated(answer), extra(formData) to add fields the page holds. */
  function bind(form, options) {
    var button = form.querySelector("button[type=submit]");
    var token = form.querySelector("[data-idempotency]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = new FormData(form);
      if (options.extra) { options.extra(body); }
      button.disabled = true;
      fetch(form.action, {method: "POST", body: body, headers: {
        Accept: "application/json", "X-CSRFToken": options.csrf, "Idempotency-Key": token.value}})
        .then(function (r) {
          return r.json().catch(function () { return null; }).then(function (answer) {
            if (r.status === 422 && answer && answer.errors) { showErrors(form, answer.errors); return; }
            if (!r.ok) { showErrors(form, {form: errorMessage(answer, options.failed)}); return; }
            showErrors(form, {});
            form.reset();
            token.value = newToken();
            options.onCreated(answer);
          });
        })
        .catch(function () { showErrors(form, {form: options.failed}); })
        .then(function () { button.disabled = false; });
    });
  }

  window.GridlinkIntake = {bind: bind, showErrors: showErrors};
})();
