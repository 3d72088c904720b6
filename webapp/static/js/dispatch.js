/* Dispatch centre: the queue beside the map, the case drawer, and live arrivals.
 * New cases come from polling /dispatch/feed?after=<last id> (a cursor, so nothing is missed or shown
 * twice). All case text is set with textContent (RELIABILITY 10). */
(function () {
  "use strict";
  var G = window.GridlinkCaseMap;
  var Intake = window.GridlinkIntake;
  var el = G.el;
  var data = G.pageData();
  var labels = data.labels;
  var table = document.getElementById("queue");
  var tbody = table.querySelector("tbody");
  var empty = document.getElementById("queue-empty");
  var counter = document.querySelector("[data-count=open]");
  var live = document.querySelector("[data-live]");
  var drawer = document.getElementById("drawer");
  var intakePanel = document.getElementById("intake");
  var caseMap = G.create(data, openCase);
  // On a phone the legend would cover most of the map: it starts folded (a tap on 案件时限 opens it).
  if (window.matchMedia("(max-width: 640px)").matches) { document.querySelector("[data-legend]").open = false; }
  var lastEvent = data.lastEvent;  // the feed's cursor: the last case event this page has seen
  var current = null;
  var currentCase = null;
  var offline = false;  // the last poll got no answer: the live line says so until one comes
  var loads = 0;  // drawer loads started: an answer to an older one (another case clicked since) is dropped
  var runs = {};  // the open case's actions by name, as their buttons run them (the keyboard runs them too)

  function urgency(row) { return JSON.parse(row.dataset.urgency); }

  /* Whether urgency key a sorts before b: [deadline class, time, case id], compared in that order. */
  function before(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) { return a[i] < b[i]; }
    }
    return false;
  }

  function flag(cell, kind, text, title) {
    var span = cell.appendChild(el("span", "flag", text));
    span.dataset.flag = kind;
    if (title) { span.title = title; }
  }

  /* Same cells as the server's _cases.html rows. */
  function row(c) {
    var tr = el("tr", "dl-" + c.deadline_class + " fresh");
    tr.dataset.case = c.id;
    tr.dataset.urgency = JSON.stringify(c.urgency);
    var due = tr.appendChild(el("td", "due"));
    due.appendChild(el("span", "chip dl-" + c.deadline_class, c.due_text));
    if (c.due_at) { due.appendChild(el("span", "due-at", c.due_at)); }
    var what = tr.appendChild(el("td", "what"));
    var link = what.appendChild(el("a", null, "#" + c.id + " " + c.category));
    link.href = "#case-" + c.id;
    what.appendChild(el("span", "desc", c.description));
    var where = tr.appendChild(el("td", "where", c.township || labels.unlocated));
    if (c.owner) { where.appendChild(el("span", "owner", c.owner)); }
    var state = tr.appendChild(el("td", "state"));
    state.appendChild(el("span", "status status-" + c.status, c.status_label));
    if (c.extension_pending) {  // as _cases.html flags them
      flag(state, "extension", labels.extensionFlag, labels.extensionTitle.replace("%(t)s", c.extension_pending));
    }
    if (c.returned !== null) { flag(state, "returned", labels.returnedFlag, c.returned); }
    if (c.reworked !== null) { flag(state, "rework", labels.reworkFlag, c.reworked); }
    if (c.extension_rejected !== null) {
      flag(state, "extension_rejected", labels.extensionRejectedFlag, c.extension_rejected);
    }
    if (c.escalated) { flag(state, "escalated", labels.escalatedFlag.replace("%(n)s", String(c.escalated))); }
    return tr;
  }

  function insertByUrgency(tr, key) {
    var next = Array.prototype.find.call(tbody.rows, function (r) { return before(key, urgency(r)); });
    tbody.insertBefore(tr, next || null);
  }

  function showCount() {
    var n = tbody.rows.length;
    counter.textContent = String(n + Number(counter.dataset.unlisted));  // the open cases past the list's limit too
    table.hidden = n === 0;
    empty.hidden = n !== 0;
  }

  /* Cases as they now are (new ones, or changed by anyone: a reopen, a new status or deadline) take their row
   * and pin; `gone` ids (closed, cancelled, filtered out) leave the queue and the map. */
  function arrive(cases, gone) {
    var fresh = cases.filter(function (c) { return !tbody.querySelector("tr[data-case='" + c.id + "']"); });
    cases.forEach(redraw);
    (gone || []).forEach(function (id) { redraw({id: id, status: "gone"}); });
    if (cases.length || (gone && gone.length)) { caseMap.refreshHeat(); }  // once a poll, not once a case
    if (fresh.length) { live.textContent = labels.newCases.replace("%(n)s", String(fresh.length)); }
    var ids = cases.map(function (c) { return c.id; }).concat(gone || []);
    if (currentCase && ids.indexOf(current) >= 0) { followOpen(); }
  }

  function online() {
    if (offline) { live.textContent = ""; }
    offline = false;
  }

  function poll() {
    var sep = data.feedUrl.indexOf("?") < 0 ? "?" : "&";
    fetch(data.feedUrl + sep + "after=" + lastEvent, {headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (feed) {
        lastEvent = feed.lastEvent;
        online();
        arrive(feed.cases, feed.gone);
        if (feed.open !== null) {  // the server's count: cases past the list's limit change elsewhere too
          counter.dataset.unlisted = String(Math.max(0, feed.open - tbody.rows.length));
          showCount();
        }
      })
      .catch(function () { offline = true; live.textContent = labels.offline; })
      .then(function () { window.setTimeout(poll, data.pollMs); });
  }

  function fill(c) {
    drawer.querySelector("[data-field=title]").textContent = "#" + c.id + " " + c.category;
    ["due_text", "status_label", "description", "address", "township", "squad", "reported_at", "source",
     "external_id", "reporter_contact", "stage_due", "routing_reason", "extension_request", "returned",
     "filing_condition", "closing_condition"]
      .forEach(function (key) {
        drawer.querySelector("[data-field=" + key + "]").textContent = c[key] || labels.none;
      });
    drawer.querySelector("[data-contact]").hidden = !("reporter_contact" in c);  // only for roles shown contacts
    drawer.querySelector("[data-external]").hidden = !c.external_id;  // the hotline's (or another system's) number
    drawer.querySelector("[data-extension]").hidden = !c.extension_request;  // what 批准/驳回延期 decide
    drawer.querySelector("[data-returned]").hidden = c.returned === null;  // why the handler gave it back
    drawer.querySelector("[data-filing]").hidden = !c.filing_condition;  // the category's standard, when it has one
    drawer.querySelector("[data-closing]").hidden = !c.closing_condition;
    drawer.querySelector("[data-field=due_text]").className = "chip dl-" + c.deadline_class;
    drawer.querySelector("[data-field=status_label]").className = "status status-" + c.status;
    drawer.querySelector("[data-field=suggestion_heading]").textContent = c.suggestion.heading;
    drawer.querySelector("[data-field=suggestion_name]").textContent = c.suggestion.name;
    drawer.querySelector("[data-field=suggestion_kind]").textContent = c.suggestion.kind;
    fillPhotos(c.photos);
    var history = drawer.querySelector("[data-history]");
    history.replaceChildren();
    c.history.forEach(function (e) {
      var li = history.appendChild(el("li"));
      li.appendChild(el("time", null, e.at));
      li.appendChild(el("strong", null, stepText(e)));
      if (e.actor) { li.appendChild(el("span", "muted", e.actor)); }
      if (e.note) { li.appendChild(el("p", null, e.note)); }
    });
    fillActions(c);
    fillDuplicate(c);
  }

  /* A history step's action and the state it led to, e.g. 派遣（环卫） → 已派遣. */
  function stepText(e) { return e.action_label + (e.to_status ? " → " + e.to_status : ""); }

  /* `template` filled with who took a step (the case's latest, unless `e` is given), what it was and when (what
   * the user missed). */
  function changeText(template, c, e) {
    e = e || c.history[c.history.length - 1];
    return template.replace("%(who)s", e.actor || labels.someone).replace("%(step)s", stepText(e))
      .replace("%(at)s", e.at);
  }

  function fillPhotos(photos) {
    var box = drawer.querySelector("[data-photos]");
    box.replaceChildren();
    if (!photos.length) { box.appendChild(el("span", "muted", labels.noPhotos)); return; }
    photos.forEach(function (p) {
      var link = box.appendChild(el("a", "thumb thumb-" + p.kind + (p.stale ? " stale" : "")));
      link.href = p.url;
      link.target = "_blank";
      link.rel = "noopener";
      var img = link.appendChild(el("img"));
      img.src = p.thumb;
      img.alt = labels.photoKinds[p.kind] || p.kind;
      link.appendChild(el("span", "thumb-kind", img.alt));  // before and after told apart in words, not colour
      link.appendChild(el("span", "thumb-at", p.sent));  // and one round of after-photos from the next
      if (p.taken) { link.appendChild(el("span", "thumb-at", p.taken)); }  // when the camera took it
      if (p.stale) { link.appendChild(el("span", "thumb-stale", p.stale)); }  // before the case was reported
    });
  }

  /* The dispatch button sends the suggested department unless the dispatcher typed nothing else. */
  function payload(c, action, note, choice) {
    var body = {action: action, version: c.version};
    if (note) { body.note = note; body.reason = note; }
    if (action === "dispatch" && c.suggestion.department) { body.department = c.suggestion.department; }
    if (choice) { body[choice.field] = choice.value; }  // a cancel's reason, a redispatch's department
    return body;
  }

  /* 重新定位 (分拣): the new point, typed or taken from the next click on the map while the drawer is open. */
  function pointInputs(box, a) {
    if (!a.point) { return null; }
    var group = box.appendChild(el("span", "relocate"));
    group.dataset.relocate = "";
    var inputs = ["lon", "lat"].map(function (name) {
      var input = group.appendChild(el("input"));
      input.type = "number";
      input.step = "any";
      input.name = name;  // its name keeps what was typed through a redraw (typed)
      input.placeholder = labels[name];
      input.setAttribute("aria-label", labels[name]);
      return input;
    });
    return {lon: inputs[0], lat: inputs[1]};
  }

  /* One click fills one form: the 新建案件 form while it is open (dispatch-tools.js), else this one. */
  G.onClick(caseMap, function (latlng) {
    var group = drawer.hidden || !intakePanel.hidden ? null : drawer.querySelector("[data-relocate]");
    if (!group) { return; }
    group.querySelector("[name=lon]").value = latlng.lng.toFixed(6);
    group.querySelector("[name=lat]").value = latlng.lat.toFixed(6);
  });

  /* The list an action picks its field from (作废: why; 改派: to which department), before its button. */
  function choiceSelect(box, a) {
    if (!a.choice) { return null; }
    var select = box.appendChild(el("select", "action-choice"));
    select.setAttribute("aria-label", a.label);
    select.appendChild(el("option", null, a.choice.prompt)).value = "";  // nothing picked by default
    a.choice.options.forEach(function (o) {
      var option = select.appendChild(el("option", null, o.label));
      option.value = o.value;
      option.selected = Boolean(o.selected);  // 派遣: the department the rules named, until another is picked
      if (o.local) { option.dataset.local = "1"; }  // 派遣 to the squad or township: no department is sent
    });
    return select;
  }

  function fillActions(c) {
    var box = drawer.querySelector("[data-actions]");
    box.replaceChildren();
    runs = {};
    if (!c.actions.length) { box.appendChild(el("p", "muted", labels.noActions)); return; }
    var note = box.appendChild(el("textarea", "note"));
    note.name = "note";
    note.placeholder = labels.notePlaceholder;
    note.maxLength = data.noteLimit;
    note.rows = 2;
    c.actions.forEach(function (a) {
      var select = choiceSelect(box, a);
      var point = pointInputs(box, a);
      var button = box.appendChild(el("button", "action action-" + a.action, a.label));
      button.type = "button";
      runs[a.action] = function () {
        if (a.needsNote && !note.value.trim()) { showError(labels.noteRequired); note.focus(); return; }
        if (point && !(point.lon.value && point.lat.value)) {
          showError(intakePanel.hidden ? labels.pickPoint : labels.pickPointIntake);
          return;
        }
        if (select && !select.value) { showError(a.choice.prompt); select.focus(); return; }
        if (a.confirm && !window.confirm(a.confirm)) { return; }
        var local = select && select.selectedOptions[0].dataset.local;
        var body = payload(c, a.action, note.value.trim(),
                           select && !local && {field: a.choice.field, value: select.value});
        if (point) { body.lon = Number(point.lon.value); body.lat = Number(point.lat.value); }
        send(c, c.actionsUrl, body);
      };
      button.addEventListener("click", runs[a.action]);
    });
  }

  /* What the user typed into the open case's actions (the note, a new point), by field name. */
  function typed() {
    var values = {};
    drawer.querySelectorAll("[data-actions] textarea[name], [data-actions] input[name]").forEach(function (field) {
      values[field.name] = field.value;
    });
    return values;
  }

  function retype(values) {
    drawer.querySelectorAll("[data-actions] textarea[name], [data-actions] input[name]").forEach(function (field) {
      if (values[field.name]) { field.value = values[field.name]; }
    });
  }

  /* ---- 标记为重复: offer the open same-category cases near this one as its original ---- */
  var duplicate = drawer.querySelector("[data-duplicate]");
  var original = duplicate.querySelector("[data-duplicate-original]");
  var nearbyConfig = Intake.nearbyConfig();

  function fillDuplicate(c) {
    duplicate.hidden = true;
    var cancellable = c.actions.some(function (a) { return a.action === "cancel"; });  // linking cancels it
    if (!cancellable || c.lat === null) { return; }
    Intake.fetchNearby(nearbyConfig, {category: c.category_code, lon: c.lon, lat: c.lat}).then(function (items) {
      var others = items.filter(function (item) { return item.id !== c.id; });
      if (currentCase !== c || !others.length) { return; }
      original.replaceChildren.apply(original, others.map(function (item) {
        var option = el("option", null, "#" + item.id + " " + Intake.describeNearby(nearbyConfig, item));
        option.value = String(item.id);
        return option;
      }));
      duplicate.hidden = false;
    });
  }

  duplicate.querySelector("[data-duplicate-run]").addEventListener("click", function () {
    if (!window.confirm(labels.confirmDuplicate.replace("%(id)s", original.value))) { return; }
    send(currentCase, currentCase.duplicateUrl, {original: Number(original.value), version: currentCase.version});
  });

  function showError(message) {
    var box = drawer.querySelector(".drawer-error");
    box.textContent = message;
    box.hidden = !message;
    box.classList.remove("notice");
  }

  /* News about the open case rather than a refusal: the same line, in the colour of a warning. */
  function showNotice(message) {
    showError(message);
    drawer.querySelector(".drawer-error").classList.add("notice");
  }

  /* One guarded workflow action; resolves to "ok", "changed" (409: someone else acted first) or a message. */
  function postAction(url, body) {
    return fetch(url, {method: "POST", body: JSON.stringify(body), headers: {
      "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": data.csrf}})
      .then(function (r) {
        if (r.status === 409) { return "changed"; }
        return r.json().then(function (answer) {
          return r.ok ? "ok" : window.gridlinkError(answer, labels.failed);
        });
      })
      .catch(function (error) { return unreachable(error) ? labels.offlineAction : labels.failed; });
  }

  /* fetch rejects with a TypeError when no answer came at all (the server down, the network gone). */
  function unreachable(error) { return error instanceof TypeError; }

  /* Post a guarded change to the open case: reload it on success; on a 409 (someone else acted first) show
   * the case as it now is, saying who changed it, with the note kept for a second try; else say why. */
  var acting = 0;  // the user's own actions in flight: a poll bringing one back is not "changed by someone"

  function send(c, url, body) {
    showError("");
    acting += 1;
    postAction(url, body).then(function (result) {
      acting -= 1;
      if (result === "ok") { openCase(c.id, true); return; }
      if (result !== "changed") { showError(result); return; }
      latest(c.id).then(function (fresh) {
        if (fresh) { redrawOpen(fresh, true); showError(changeText(labels.conflictBy, fresh)); }
      }, function () { showError(labels.conflict); });
    });
  }

  /* A keyboard shortcut's action on the open case, run as its button runs it (派遣 to the department picked
   * in the drawer, 结案 asking first), if the user's role may take it now. */
  function actOnCurrent(action) {
    if (!currentCase) { return; }
    if (runs[action]) { runs[action](); return; }
    showError(labels.notAvailable.replace("%(action)s", data.actionLabels[action] || action));
  }

  function loadCase(id) {
    return fetch(data.caseUrl.replace(/0$/, String(id)), {headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  /* The row shows the case's state at its place in the urgency order (a new stage clock moves it); a case
   * that left the open states leaves the queue, and one an action brought back (重新立案, 恢复) joins it. */
  function updateRow(c, changed) {
    var tr = tbody.querySelector("tr[data-case='" + c.id + "']");
    if (!tr && !changed) { return; }  // only looked at (a link to a case outside the queue): no row for it
    if (tr) { tr.remove(); }
    if (data.openStatuses.indexOf(c.status) >= 0) {
      tr = row(c);
      tr.classList.toggle("selected", c.id === current);  // the open case stays marked in its new place
      insertByUrgency(tr, c.urgency);
    }
    showCount();
  }

  /* A case an action changed: its row, and its pin redrawn in the new deadline colour with the new
   * tooltip (gone once the case left the open states, back when it returned), without reloading the page. */
  function refreshCase(c) {
    redraw(c);
    caseMap.refreshHeat();
  }

  /* refreshCase without the heat map, which a batch of cases (a poll) redraws once. */
  function redraw(c) {
    updateRow(c, true);
    caseMap.redraw(c, data.openStatuses.indexOf(c.status) >= 0);
  }

  /* Case `id` as the server has it now; null when a later load started meanwhile (that one is shown). */
  function latest(id) {
    var mine = ++loads;
    return loadCase(id).then(function (c) { return mine === loads ? c : null; },
                             function (error) { if (mine === loads) { throw error; } return null; });
  }

  /* The case in the drawer, its row marked (`changed`: its row and pin redrawn as it now is). */
  function show(c, changed) {
    current = c.id;
    currentCase = c;
    showError("");
    fill(c);
    if (changed) { refreshCase(c); } else { updateRow(c, false); }
    drawer.hidden = false;
    Array.prototype.forEach.call(tbody.rows, function (r) {
      r.classList.toggle("selected", r.dataset.case === String(c.id));
    });
  }

  /* The open case drawn again as it now is, keeping what the user typed; the map stays where the user left it. */
  function redrawOpen(c, changed) {
    var kept = typed();
    show(c, changed);
    retype(kept);
  }

  /* A poll mentioned the open case: someone acted on it (or this page did, and has shown it already). Its
   * drawer follows unless the user opened another case meanwhile; only someone else's step is announced
   * (the user's own bulk action on it is not news). */
  function followOpen() {
    if (acting) { return; }  // the answer to the user's own step redraws the case
    var before = currentCase;
    var started = loads;
    loadCase(before.id).then(function (c) {
      if (loads === started && currentCase === before && c.version !== before.version) {
        redrawOpen(c, false);
        var theirs = c.history.slice(before.history.length).filter(function (e) { return !e.mine; }).pop();
        if (theirs) { showNotice(changeText(labels.updated, c, theirs)); }
      }
    }, function () {});  // no answer: the live line says the connection is down
  }

  function openCase(id, changed) {
    latest(id)
      .then(function (c) {
        if (!c) { return; }
        show(c, changed);
        history.replaceState(null, "", "#case-" + id);  // the address names the open case: share it, reload it
        caseMap.focus(id, drawer);
      })
      .catch(function (error) {
        drawer.hidden = false;
        showError(unreachable(error) ? labels.offlineOpen.replace("%(id)s", String(id)) : labels.failed);
      });
  }

  tbody.addEventListener("click", function (event) {
    var tr = event.target.closest("tr[data-case]");
    if (tr) { event.preventDefault(); openCase(Number(tr.dataset.case)); }
  });
  function closeDrawer() {
    drawer.hidden = true; current = null; currentCase = null;
    caseMap.unfocus();
    history.replaceState(null, "", location.pathname + location.search);
  }

  /* /dispatch#case-38 opens case 38 (a link shared, a reload, the back button). */
  function openFromAddress() {
    var match = /^#case-(\d+)$/.exec(location.hash);
    if (match && match[1] !== String(current)) { openCase(Number(match[1])); }
  }
  window.addEventListener("hashchange", openFromAddress);
  openFromAddress();

  drawer.querySelector("[data-close]").addEventListener("click", closeDrawer);

  /* The 新建案件 form's nearby list and 附近部件 line; dispatch-tools.js sets the point on a map click
   * (no input event). */
  var intakeForm = document.getElementById("intake-form");
  /* The category typed or picked, as [code, name]: the list's "CODE 名称", the code alone or the name alone
   * (what the server accepts too), so the hints show whenever the report would be taken. */
  G.onClick(caseMap, Intake.watchHints(intakeForm, {open: openCase, category: function () {
    var value = intakeForm.elements.category.value.trim();
    var found = null;
    Array.prototype.some.call(intakeForm.elements.category.list.options, function (o) {
      var pair = [o.value.split(" ")[0], o.value.slice(o.value.indexOf(" ") + 1)];
      if (o.value === value || pair[0] === value || pair[1] === value) { found = pair; }
      return found !== null;
    });
    return found;
  }, located: function (answer) {  // a point typed in GCJ-02 or BD-09 gets its pin too (dispatch-tools.js)
    intakeForm.dispatchEvent(new CustomEvent("gridlink:located", {detail: answer}));
  }}));
  window.setTimeout(poll, data.pollMs);

  /* For dispatch-tools.js (intake panel, box selection, keyboard shortcuts). */
  window.GridlinkDispatch = {
    data: data, labels: labels, caseMap: caseMap, tbody: tbody, openCase: openCase,
    closeDrawer: closeDrawer, loadCase: loadCase, refreshCase: refreshCase, postAction: postAction, payload: payload,
    actOnCurrent: actOnCurrent, isOpen: function () { return current !== null; }
  };
})();
