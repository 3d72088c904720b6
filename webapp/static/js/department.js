/* Department inbox: accept (接单), report handled with after-photos (处置反馈), return (退回) or ask for more time (申请延期) on a case through the actions API,
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

  /* A multipart form, as the actions API takes it: the after-photos of 处置反馈 travel as files. */
  function post(item, action, note, choice, photos) {
    var body = new FormData();
    body.append("action", action);
    body.append("version", item.dataset.version);
    if (note) { body.append("note", note); body.append("reason", note); }
    if (choice) { body.append(choice.dataset.field, choice.value); }  // 申请延期: how long
    return window.gridlinkShrinkPhotos(photos).then(function (files) {
      files.forEach(function (file) { body.append("photos", file, file.name); });
      return fetch(item.dataset.actionsUrl, {method: "POST", body: body, headers: {
        Accept: "application/json", "X-CSRFToken": data.csrf}});
    })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (answer) {
          if (r.status === 409) { throw new Error(labels.conflict); }
          if (!r.ok) { throw new Error(window.gridlinkError(answer, labels.failed)); }
          return answer;
        });
      });
  }

  /* The case as the inbox now shows it (status, next actions, version), in place of `item`; a case that moved
   * between the lists (handled: 等待核查与结案) brings the page's lists as the server now has them; a case that
   * left the inbox (returned to the centre) leaves only the done note. */
  function refresh(item, done) {
    return fetch(window.location.href, {headers: {Accept: "text/html"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var todo = page.querySelector("[data-count=todo]");  // the header counts what is left to do
        document.querySelector("[data-count=todo]").textContent = todo ? todo.textContent : "0";
        var fresh = page.querySelector("[data-case='" + item.dataset.case + "']");
        if (fresh && fresh.parentNode.id !== item.parentNode.id) {
          var main = document.querySelector("main");
          main.replaceWith(page.querySelector("main"));
          document.querySelectorAll("main [data-case]").forEach(bind);
          item = document.querySelector("main [data-case='" + item.dataset.case + "']");
        } else if (fresh) {
          item.replaceWith(fresh);
          bind(fresh);
          item = fresh;
        } else {
          // gone from the inbox (returned to the centre): its old state, last step and forms no longer apply
          item.querySelectorAll("form, [data-error], [data-last], .inbox-head .chip, [data-status]").forEach(function (node) {
            node.hidden = true;
          });
        }
        say(item, "[data-done]", done);
      })
      .catch(function () {  // the action went through; only the new view did not come: reload for the next step
        item.querySelector("[data-inbox-form]").hidden = true;
        say(item, "[data-done]", done);
      });
  }

  function bind(item) {
    var form = item.querySelector("[data-inbox-form]");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      var note = form.elements.note.value.trim();
      say(item, "[data-done]", "");
      if (button.dataset.needsNote === "true" && !note) {
        say(item, "[data-error]", labels.noteRequired[button.value]);
        return;
      }
      var needsPhoto = button.dataset.needsPhoto === "true";
      var photos = needsPhoto ? form.elements.photos.files : null;
      if (needsPhoto && !photos.length) { say(item, "[data-error]", labels.photoRequired); return; }
      say(item, "[data-error]", "");
      var choice = form.querySelector("[data-choice-for='" + button.value + "']");
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });  // one action at a time: the next needs the new version
      post(item, button.value, note, choice, photos).then(function (answer) {
        item.dataset.version = String(answer.version);
        return refresh(item, labels.done.replace("%(action)s", button.textContent));
      }).catch(function (error) {
        buttons.forEach(function (b) { b.disabled = false; });
        say(item, "[data-error]", error.message);
      });
    });
  }

  document.querySelectorAll("[data-case]").forEach(bind);
})();
