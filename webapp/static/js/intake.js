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
    first = first || (unplaced.length ? general : null);  // a long form: the only message may be below the fold
    if (first) { first.scrollIntoView({block: "nearest"}); }
  }

  /* options: csrf, failed (text), sending (text the button shows meanwhile), onCreated(answer),
   * extra(formData) to add fields the page holds. While a report (photos and all) is on its way the form is
   * .sending: its inputs wait, so a second photo cannot replace the one being sent. */
  function bind(form, options) {
    var button = form.querySelector("button[type=submit]");
    var token = form.querySelector("[data-idempotency]");
    // A field being corrected loses its message: the fix is under way, and the next submit says if it still falls
    // short. (The point's message is watchPoint's, which answers for the point as placed.)
    form.addEventListener("input", function (event) {
      var slot = event.target.name && form.querySelector("[data-error-for='" + event.target.name + "']");
      if (slot) { slot.hidden = true; }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.classList.contains("sending")) { return; }
      var body = new FormData(form);
      if (options.extra) { options.extra(body); }
      var words = button.textContent;
      form.querySelector("[data-form-error]").hidden = true;  // the last try's "no network" is old news now
      button.disabled = true;
      form.classList.add("sending");
      var shown = progress(form, button, options.sending);
      shown(0);
      window.gridlinkShrinkPhotos(form.elements.photos && form.elements.photos.files).then(function (photos) {
        if (photos.length) { body.delete("photos"); }
        photos.forEach(function (file) { body.append("photos", file, file.name); });
        return post(form.action, body, {
          Accept: "application/json", "X-CSRFToken": options.csrf, "Idempotency-Key": token.value}, shown);
      })
        .then(function (r) {
          var answer = r.answer;
          if ((r.status === 422 || r.status === 409) && answer && answer.errors) {  // 409: a 工单号 entered already
            showErrors(form, answer.errors);
            if (options.onRefused) { options.onRefused(answer.errors); }
            return;
          }
          if (r.status < 200 || r.status > 299) {
            showErrors(form, {form: window.gridlinkError(answer, options.failed)});
            return;
          }
          showErrors(form, {});
          form.reset();
          token.value = newToken();
          options.onCreated(answer);
        })
        // no answer at all: the network is down (the typed report and its photos stay, the same key retries once)
        .catch(function () { showErrors(form, {form: options.offline || options.failed}); })
        .then(function () {
          button.disabled = false;
          form.classList.remove("sending");
          shown(null);
          // back to its words, unless the page gave it others meanwhile (a refused photo let go)
          if (options.sending && button.textContent.indexOf(options.sending) === 0) { button.textContent = words; }
        });
    });
  }

  /* A POST as XMLHttpRequest, which (unlike fetch) tells how much of the body has gone: a phone's photo on a
   * slow link takes tens of seconds. Resolves {status, answer (the JSON body or null)}; rejects when no answer
   * came at all. */
  function post(url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) { onProgress(event.loaded / event.total); }
      });
      xhr.addEventListener("load", function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
        resolve({status: xhr.status, answer: answer});
      });
      xhr.addEventListener("error", function () { reject(new Error("network")); });
      xhr.addEventListener("abort", function () { reject(new Error("aborted")); });  // never a form stuck sending
      xhr.send(body);
    });
  }

  /* Shows how far the upload is: on the submit button ("正在上报… 45%") and in the form's [data-progress] bar,
   * if it has one, where the reporter tapped. Returns the function to call with a fraction, or null when done. */
  function progress(form, button, sending) {
    var bar = form.querySelector("[data-progress]");
    return function (fraction) {
      var percent = fraction === null ? null : Math.round(fraction * 100);
      if (sending && percent !== null) { button.textContent = sending + " " + percent + "%"; }
      if (!bar) { return; }
      bar.hidden = fraction === null;
      bar.querySelector("progress").value = percent || 0;
      bar.querySelector("span").textContent = percent === null ? "" : (sending || "") + " " + percent + "%";
    };
  }

  /* ---- 附近已有同类案件: open cases of the chosen category near the chosen point (issue 4, item 6) ---- */
  var el = window.GridlinkCaseMap.el;
  var NEARBY_WAIT_MS = 250;  // typing coordinates asks once, after the last key
  var NEARBY_FIELDS = ["lon", "lat", "crs", "category"];

  function nearbyConfig() {
    return JSON.parse(document.querySelector("[data-nearby-config]").textContent);
  }

  /* Resolves to the API's items, nearest first; any failure means "nothing to suggest". */
  function fetchNearby(config, query) {
    return fetch(config.url + "?" + new URLSearchParams(query), {headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (answer) { return answer.items; })
      .catch(function () { return []; });
  }

  function ago(labels, hours) {
    if (hours < 1) { return labels.minutes.replace("%(n)s", String(Math.max(1, Math.round(hours * 60)))); }
    if (hours < 48) { return labels.hours.replace("%(n)s", String(Math.floor(hours))); }
    return labels.days.replace("%(n)s", String(Math.floor(hours / 24)));
  }

  /* "12 米 · 3 小时前 · 已派遣": the facts that tell a dispatcher whether it is the same problem. */
  function describe(config, item) {
    return [config.labels.metres.replace("%(m)s", String(Math.round(item.distance_m))),
      ago(config.labels, item.age_hours), config.statuses[item.status] || item.status].join(" · ");
  }

  function nearbyItem(config, item, categoryName, open, same) {
    var li = el("li");
    var link = li.appendChild(el("a", null, "#" + item.id));
    link.href = config.caseUrl.replace(/0$/, String(item.id));
    if (open) {
      link.addEventListener("click", function (event) { event.preventDefault(); open(item.id); });
    } else {
      link.target = "_blank";
      link.rel = "noopener";
    }
    li.appendChild(el("span", "nearby-category", categoryName));
    li.appendChild(el("span", "muted", describe(config, item)));
    if (same) {
      var button = li.appendChild(el("button", "same-problem", config.labels.same));
      button.type = "button";
      button.addEventListener("click", function () { same(item); });
    }
    return li;
  }

  /* Keeps the form's [data-nearby] list current. options.category() gives [code, name] or null;
   * options.open(id), if given, opens a listed case in place of following its link; options.same(item), if
   * given, is what a listed case's 是同一问题 button does (the phone's report: not report it again). Returns refresh(),
   * for callers that set the point or category from script (no input event fires then). */
  function watchNearby(form, options) {
    var box = form.querySelector("[data-nearby]");
    var list = box.querySelector("[data-nearby-items]");
    var config = nearbyConfig();
    var asked = 0;  // answers to older questions are dropped

    function show(items, categoryName) {
      list.replaceChildren.apply(list, items.map(function (item) {
        return nearbyItem(config, item, categoryName, options.open, options.same);
      }));
      box.hidden = !items.length;
    }

    function ask() {
      var category = options.category();
      var query = placed(form, category);
      var mine = ++asked;
      if (!query) { show([], ""); return; }
      fetchNearby(config, query).then(function (items) { if (mine === asked) { show(items, category[1]); } });
    }

    return whenPlaced(form, ask);
  }

  /* The question both hints ask, {category, lon, lat, crs}, or null until a category and a point are chosen. */
  function placed(form, category) {
    var lon = form.elements.lon.value.trim(), lat = form.elements.lat.value.trim();
    if (!category || !isFinite(parseFloat(lon)) || !isFinite(parseFloat(lat))) { return null; }
    return {category: category[0], lon: lon, lat: lat, crs: form.elements.crs.value};
  }

  /* Calls ask() once, NEARBY_WAIT_MS after the last edit of the point or category, and atOnce(), if given,
   * on every edit. Returns refresh(), for callers that set the point or category from script (no
   * input event fires then). */
  function whenPlaced(form, ask, atOnce) {
    var timer = null;

    function refresh() {
      if (atOnce) { atOnce(); }
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, NEARBY_WAIT_MS);
    }

    function edited(event) { if (NEARBY_FIELDS.indexOf(event.target.name) >= 0) { refresh(); } }

    form.addEventListener("input", edited);
    form.addEventListener("change", edited);
    form.addEventListener("reset", function () { window.setTimeout(refresh); });
    return refresh;
  }

  /* ---- 附近部件: the register's component of the chosen class at the point, offered as component_code,
   * so the case goes to that component's maintainer. /api/v1/locate decides which classes are components
   * and answers suggested_component (or null); the form's code is only ever filled by a press. A failed
   * request answers undefined: the line stays as it was (cleared, if the question changed). ---- */
  function fetchSuggestion(config, query) {
    return askLocate(config.url, query)
      .then(function (result) { return (result[0] === 200 && result[1].suggested_component) || null; })
      .catch(function () { return undefined; });
  }

  /* /api/v1/locate answers both the component line and the point check: the same question (the point, its
   * crs and the chosen category, in placed()'s order) goes out once and both read the one answer, as
   * [status, body]. Only the last question is kept; a failed request is asked again next time. */
  var lastLocate = {key: null, answer: null};
  function askLocate(url, query) {
    var key = url + "?" + new URLSearchParams(query);
    if (lastLocate.key !== key) {
      var answer = fetch(key, {headers: {Accept: "application/json"}})
        .then(function (r) { return r.json().then(function (body) { return [r.status, body]; }); });
      answer.catch(function () { if (lastLocate.answer === answer) { lastLocate.key = null; } });
      lastLocate = {key: key, answer: answer};
    }
    return lastLocate.answer;
  }

  /* Keeps the form's [data-component] line current; options.category() as for watchNearby. A code that
   * 就是它 filled is cleared the moment the category or point changes, before any request: a submit while
   * the new answer is on its way must not send the old component (whose maintainer would get the case).
   * The new answer may offer it again. Returns refresh(). */
  function watchComponent(form, options) {
    var box = form.querySelector("[data-component]");
    var config = JSON.parse(box.querySelector("[data-component-config]").textContent);
    var text = box.querySelector("[data-component-text]");
    var pick = box.querySelector("[data-component-pick]");
    var clear = box.querySelector("[data-component-clear]");
    var mark = box.querySelector("[data-component-filled]");
    var field = form.elements.component_code;
    var suggestion = null;
    var filled = null;  // the code 就是它 put in the field
    var asked = 0;
    var question = null;  // the query the line stands for, as a string; null until a point and category

    function render() {
      if (field.value !== filled) { filled = null; }  // typed over, or the form was reset
      var chosen = suggestion !== null && field.value === suggestion.code;
      box.hidden = suggestion === null;
      box.classList.toggle("chosen", chosen);
      pick.hidden = chosen;
      clear.hidden = mark.hidden = !chosen;
    }

    function show(found, categoryName) {
      suggestion = found;
      if (filled !== null && field.value === filled && (!found || found.code !== filled)) { field.value = ""; }
      if (found) {
        // Replacement functions: a name from the register may hold "$&" and the like, which a string would expand.
        text.textContent = config.labels.line.replace("%(what)s", function () { return found.name || categoryName; })
          .replace("%(code)s", function () { return found.code; })
          .replace("%(m)s", function () { return String(Math.round(found.distance_m)); });
      }
      render();
    }

    function ask() {
      var category = options.category();
      var query = placed(form, category);
      var mine = ++asked;
      if (!query) { show(null, ""); return; }
      fetchSuggestion(config, query).then(function (found) {
        if (mine === asked && found !== undefined) { show(found, category[1]); }
      });
    }

    function dropStale() {
      var query = placed(form, options.category());
      var now = query && String(new URLSearchParams(query));
      if (now === question) { return; }  // e.g. the change event of a field already read on input
      question = now;
      asked++;  // an answer on its way is for the old question
      show(null, "");
    }

    pick.addEventListener("click", function () { field.value = filled = suggestion.code; render(); });
    clear.addEventListener("click", function () { field.value = ""; render(); });
    field.addEventListener("input", render);
    return whenPlaced(form, ask, dropStale);
  }

  /* Says at once, under the point, when the point chosen is not a place in the city (outside it, swapped,
   * out of range), in the words a submit would use; clears the note once the point is good. Without a point
   * it hides only its own note: a submit's "place the point" stays until a point is chosen.
   * options.located(answer), if given, hears /api/v1/locate's answer for each new point (null: none). */
  function watchPoint(form, options) {
    var config = nearbyConfig();
    var slot = form.querySelector("[data-error-for=point]");
    var located = options.located || function () {};
    var asked = 0;
    var point = null;  // the point last asked about: a change of category alone asks nothing
    var noted = false;  // the slot holds this watcher's note (not a submit's error)

    function ask() {
      var lon = form.elements.lon.value.trim(), lat = form.elements.lat.value.trim();
      var here = String(new URLSearchParams({lon: lon, lat: lat, crs: form.elements.crs.value}));
      if (here === point) { return; }
      point = here;
      var mine = ++asked;
      if (!isFinite(parseFloat(lon)) || !isFinite(parseFloat(lat))) {
        if (noted) { slot.hidden = true; noted = false; }
        located(null);
        return;
      }
      // With a category chosen this is the component line's question too (askLocate asks it once).
      var question = placed(form, options.category()) || {lon: lon, lat: lat, crs: form.elements.crs.value};
      askLocate(config.locateUrl, question)
        .then(function (result) {
          if (mine !== asked) { return; }
          // the server's words in the page's language (`display`, the same a submit would show)
          var words = result[0] === 422 ? window.gridlinkError(result[1], "") : "";
          slot.textContent = words;
          slot.hidden = !words;
          noted = Boolean(words);
          located(result[0] === 200 ? result[1] : null);
        })
        .catch(function () {});
    }

    return whenPlaced(form, ask);
  }

  /* The hints of a report form (附近已有同类案件, 附近部件, a point outside the city); one refresh() for all. */
  function watchHints(form, options) {
    var refreshes = [watchNearby(form, options), watchComponent(form, options), watchPoint(form, options)];
    return function () { refreshes.forEach(function (refresh) { refresh(); }); };
  }

  window.GridlinkIntake = {bind: bind, showErrors: showErrors, watchHints: watchHints,
    nearbyConfig: nearbyConfig, fetchNearby: fetchNearby, describeNearby: describe};
})();
