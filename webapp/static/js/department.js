/* Department inbox: accept (接单), report handled (处置反馈), return (退回) or ask for more time (申请延期) on a case through the actions API,
 * quoting the version the page was rendered with; a 409 means someone else changed the case first. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var labels = data.labels;

  function say(item, selector, text) {
    var slot = item.querySelector(selector);
    slot.textContent = text;
    slot.hidden = !text;
  }

  function post(item, action, note, choice) {
    var body = {action: action, version: Number(item.dataset.version)};
    if (note) { body.note = note; body.reason = note; }
    if (choice) { body[choice.dataset.field] = choice.value; }  // 申请延期: how long
    return fetch(item.dataset.actionsUrl, {method: "POST", body: JSON.stringify(body), headers: {
      "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": data.csrf}})
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (answer) {
          if (r.status === 409) { throw new Error(labels.conflict); }
          if (!r.ok) { throw new Error(window.gridlinkError(answer, labels.failed)); }
          return answer;
        });
      });
  }

  document.querySelectorAll("[data-inbox-form]").forEach(function (form) {
    var item = form.closest("[data-case]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      var note = form.elements.note.value.trim();
      say(item, "[data-done]", "");
      if (button.dataset.needsNote === "true" && !note) { say(item, "[data-error]", labels.noteRequired); return; }
      say(item, "[data-error]", "");
      var choice = form.querySelector("[data-choice-for='" + button.value + "']");
      post(item, button.value, note, choice).then(function (answer) {
        item.dataset.version = String(answer.version);
        say(item, "[data-done]", labels.done.replace("%(action)s", button.textContent));
        form.hidden = true;  // the allowed actions changed; reload to see the next ones
      }).catch(function (error) { say(item, "[data-error]", error.message); });
    });
  });
})();
