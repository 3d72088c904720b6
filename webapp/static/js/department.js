/* Department inbox: accept (接单), report handled with after-photos (处置反馈), return (退回) or ask for more time (申请延期) on a case through the actions API,
 * quoting the version the page was rendered with. After an answer the card is drawn again from the inbox as the server now has it; what the clerk
 * has typed or chosen and did not send stays on it: a 409 (someone else changed the case first) brings the new version and buttons with the
 * typed note and chosen photos kept, a 404 (改派 to another department, or withdrawn) takes the card's buttons away. The
 * open inbox follows what others do in the same way (follow). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var labels = data.labels;

  function say(item, selector, text) {
    var slot = item.querySelector(selector);
    slot.textContent = text;
    slot.hidden = !text;
  }

  /* A refusal the page answers by drawing the card again: the case changed (409) or left this department (404). */
  function Moved(status) { this.status = status; }

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
          if (r.status === 409 || r.status === 404) { throw new Moved(r.status); }
          if (!r.ok) { throw new Error(window.gridlinkError(answer, labels.failed)); }
          return answer;
        });
      });
  }

  function inbox() {
    return fetch(window.location.href, {headers: {Accept: "text/html"}})
      .then(function (r) {  // a session that ended is sent to the login page: no answer, not an empty inbox
        if (!r.ok || r.redirected) { throw new Error(String(r.status)); }
        return r.text();
      })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }

  function cardIn(root, id) { return root.querySelector("[data-case='" + id + "']"); }

  /* What the clerk typed, picked or opened on `old` and did not send (`sent`: the data-keep names an action took)
   * goes onto its fresh copy: the very fields, as a file input's files cannot be set from a script. */
  function carry(old, fresh, sent) {
    old.querySelectorAll("[data-keep]").forEach(function (field) {
      var slot = fresh.querySelector("[data-keep='" + field.dataset.keep + "']");
      if (slot && sent.indexOf(field.dataset.keep) < 0) { slot.replaceWith(field); }
    });
    var history = old.querySelector("[data-history]");
    var twin = fresh.querySelector("[data-history]");
    if (history && twin) { twin.open = history.open; }
  }

  /* A case no longer this department's: its old state, history and buttons no longer apply (the history would stop
   * short of the step that took it away); the card stays to say so. */
  function retire(item) {
    item.classList.add("retired");
    item.querySelectorAll("form, [data-error], [data-last], [data-flag], [data-history], [data-due-at], " +
                          ".inbox-head .chip, [data-status]")
      .forEach(function (node) { node.hidden = true; });
  }

  /* The case as the inbox now shows it, in place of `item`, with what was typed on it and not `sent`; a case that
   * moved between the lists brings the page's lists as the server now has them, every other card keeping what was
   * typed on it. Returns the new card, or null when the case left the inbox (retired in place). */
  function place(item, page, sent) {
    var id = item.dataset.case;
    var fresh = cardIn(page, id);
    if (!fresh) {
      retire(item);
    } else if (fresh.parentNode.id === item.parentNode.id) {
      carry(item, fresh, sent);
      item.replaceWith(fresh);
      bind(fresh);
    } else {
      var main = page.querySelector("main");
      document.querySelectorAll("main [data-case]").forEach(function (old) {
        var twin = cardIn(main, old.dataset.case);
        if (twin) { carry(old, twin, old === item ? sent : []); }
      });
      document.querySelector("main").replaceWith(main);
      main.querySelectorAll("[data-case]").forEach(bind);
      return cardIn(main, id);
    }
    document.querySelectorAll("[data-count]").forEach(function (count) {  // the headers count what is left
      var now = page.querySelector("[data-count='" + count.dataset.count + "']");
      count.textContent = now ? now.textContent : "0";
    });
    return fresh;
  }

  /* After the action: the next step offered without a reload. */
  function done(item, words, sent) {
    return inbox().then(function (page) {
      say(place(item, page, sent) || item, "[data-done]", words);
    }).catch(function () {  // the action went through; only the new view did not come: reload for the next step
      item.querySelector("[data-inbox-form]").hidden = true;
      say(item, "[data-done]", words);
    });
  }

  /* Refused because the case moved on: the card as it now is, saying what changed, with what was typed kept. */
  function moved(item) {
    return inbox().then(function (page) {
      var fresh = place(item, page, []);
      if (!fresh) { say(item, "[data-done]", labels.gone); return; }
      var status = fresh.querySelector("[data-status]");
      var changed = labels.changed.replace("%(step)s", fresh.dataset.step || "")
        .replace("%(status)s", status ? status.textContent : "");
      say(fresh, "[data-error]", fresh.querySelector("[data-inbox-form]") ? changed + labels.kept : changed);
    }).catch(function () { throw new Error(labels.conflict); });
  }

  function bind(item) {
    var form = item.querySelector("[data-inbox-form]");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      var needsPhoto = button.dataset.needsPhoto === "true";
      var takesNote = button.dataset.needsNote === "true" || needsPhoto;  // 接单 leaves the note for 处置反馈
      var sent = [takesNote ? "note" : "", needsPhoto ? "photos" : "", "choice-" + button.value];
      var note = form.elements.note.value.trim();
      say(item, "[data-done]", "");
      if (button.dataset.needsNote === "true" && !note) {
        say(item, "[data-error]", labels.noteRequired[button.value]);
        return;
      }
      var photos = needsPhoto ? form.elements.photos.files : null;
      if (needsPhoto && !photos.length) { say(item, "[data-error]", labels.photoRequired); return; }
      say(item, "[data-error]", "");
      var choice = form.querySelector("[data-choice-for='" + button.value + "']");
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });  // one action at a time: the next needs the new version
      post(item, button.value, takesNote ? note : "", choice, photos).then(function (answer) {
        item.dataset.version = String(answer.version);
        return done(item, labels.done.replace("%(action)s", button.textContent), sent);
      }).catch(function (error) {
        return error instanceof Moved ? moved(item) : Promise.reject(error);
      }).catch(function (error) {
        buttons.forEach(function (b) { b.disabled = false; });
        say(item, "[data-error]", error.message);
      });
    });
  }

  /* Whether the clerk is at work on a card (a field focused, an action on its way): the poll then only announces. */
  function busy() {
    var focused = document.activeElement;
    return Boolean((focused && focused.closest("[data-inbox-form]")) ||
                   document.querySelector("[data-inbox-form]:not([hidden]) button:disabled"));
  }

  /* The inbox as the server now has it: new cases announced, with a button to reload (never swapped in under the
   * clerk's hands); a card someone else changed drawn as it now is, saying so, with what was typed on it kept; a
   * case that left the department keeping its card, without buttons, saying why. */
  function follow(page) {
    var fresh = Array.prototype.filter.call(page.querySelectorAll("main [data-case]"), function (c) {
      var card = cardIn(document, c.dataset.case);
      return !card || card.classList.contains("retired");  // a case sent back here is news, not its old card
    }).length;
    var notice = document.querySelector("[data-new-cases]");
    notice.querySelector("span").textContent = labels.newCases.replace("%(n)s", String(fresh));
    notice.hidden = fresh === 0;
    if (busy()) { return; }
    document.querySelectorAll("main [data-case]:not(.retired)").forEach(function (item) {
      var twin = cardIn(page, item.dataset.case);
      // an answer older than the card (asked before the clerk's own step redrew it) is no news
      if (!document.contains(item) || (twin && Number(twin.dataset.version) <= Number(item.dataset.version))) {
        return;
      }
      var card = place(item, page, []);
      if (!card) { say(item, "[data-done]", labels.left); return; }
      var news = labels.refreshed.replace("%(step)s", card.dataset.step || "");
      say(card, "[data-done]", card.querySelector("[data-inbox-form]") ? news + labels.typedKept : news);
    });
  }

  /* A clerk keeps the inbox open all day: every pollMs it is read again (an answer missing for a moment: the next
   * poll tries again). */
  function watch() {
    window.setTimeout(function () {
      inbox().then(follow).catch(function () {}).then(watch);
    }, data.pollMs);
  }

  document.addEventListener("click", function (event) {  // the notice is redrawn with <main> when cards move
    if (event.target.closest("[data-reload]")) { window.location.reload(); }
  });
  document.querySelectorAll("[data-case]").forEach(bind);
  watch();
})();
