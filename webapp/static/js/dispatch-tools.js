/* Dispatch centre tools on top of dispatch.js: the 新建案件 panel (click the map to place the point), box
 * selection for bulk actions (Shift + drag on the map; each case is its own guarded action and reports
 * ok / changed / why not), the duty-area overlay, and keyboard shortcuts (? lists them). Text goes in
 * with textContent. */
(function () {
  "use strict";
  var D = window.GridlinkDispatch;
  var el = window.GridlinkCaseMap.el;
  var labels = D.labels;
  var map = D.caseMap.map;
  var container = map.getContainer();

  /* ---- 新建案件 ---- */
  var panel = document.getElementById("intake");
  var form = document.getElementById("intake-form");
  var ok = form.querySelector("[data-form-ok]");
  var pin = null;

  function setPin(latlng) {
    if (!pin) {
      pin = L.marker(latlng, {icon: L.divIcon({className: "intake-pin", iconSize: [22, 22]}), interactive: false,
                              zIndexOffset: 1000});  // above the cases' pins and clusters
      pin.addTo(map);
    }
    pin.setLatLng(latlng);
  }

  function clearPin() { if (pin) { map.removeLayer(pin); pin = null; } }

  function openIntake() {
    panel.hidden = false;
    container.classList.add("placing");
    // a phone shows the queue (and this button) below the map: the map comes back into view above the form
    if (container.getBoundingClientRect().top < 0) { window.scrollTo(0, 0); }
    form.elements.category.focus({preventScroll: true});
  }

  /* Closed, the form is put away: a reload does not bring it back open (its fields stay until then). */
  function closeIntake() {
    panel.hidden = true;
    container.classList.remove("placing");
    clearPin();
    dropDraft();
  }

  /* A half-typed report outlives a reload of the page (筛选 reloads it): its fields are kept in this tab's
   * sessionStorage as they are typed, its chosen photos in IndexedDB (sessionStorage holds text only) under
   * this tab's draft, put back on load (the panel opens with them) and dropped once the case is created or
   * the panel closed. Logging out drops them all (page.js). */
  var DRAFT = "gridlink.dispatch.intake-draft";
  var KEPT = ["source", "external_id", "lon", "lat", "crs", "category", "component_code", "description", "address",
              "reporter_contact"];
  var LISTS = ["source", "crs"];  // always holding a choice: they alone are no draft
  var photos = window.gridlinkDraftPhotos(DRAFT);

  function saveDraft() {
    var draft = {};
    KEPT.forEach(function (name) { draft[name] = form.elements[name].value; });
    window.sessionStorage.setItem(DRAFT, JSON.stringify(draft));
  }

  function dropDraft() {
    window.sessionStorage.removeItem(DRAFT);
    photos.drop();
  }

  function restoreDraft() {
    var draft = JSON.parse(window.sessionStorage.getItem(DRAFT) || "{}");
    var typed = KEPT.some(function (name) { return LISTS.indexOf(name) < 0 && draft[name]; });
    if (typed) {
      KEPT.forEach(function (name) { form.elements[name].value = draft[name] || form.elements[name].value; });
      openIntake();
      form.elements.lon.dispatchEvent(new Event("change", {bubbles: true}));  // its pin and the hints follow
    }
    photos.restore(form.elements.photos).then(function (kept) { if (kept) { openIntake(); } });
  }

  /* Map clicks are WGS84, so placing the point also sets the coordinate system. While the form is open a
   * click is its point only (dispatch.js leaves the open case's 重新定位 alone then). */
  window.GridlinkCaseMap.onClick(D.caseMap, function (latlng) {
    if (panel.hidden) { return; }
    form.elements.lon.value = latlng.lng.toFixed(6);
    form.elements.lat.value = latlng.lat.toFixed(6);
    form.elements.crs.value = "wgs84";
    setPin(latlng);
    saveDraft();  // set from script: no input event
  });
  ["lon", "lat", "crs"].forEach(function (name) {
    form.elements[name].addEventListener("change", function () {
      var lon = parseFloat(form.elements.lon.value), lat = parseFloat(form.elements.lat.value);
      if (!form.elements.lon.value.trim() && !form.elements.lat.value.trim()) {
        clearPin();  // the point taken back: no pin left where it was
      } else if (form.elements.crs.value === "wgs84" && isFinite(lon) && isFinite(lat) && Math.abs(lat) <= 90) {
        setPin([lat, lon]);
      }
    });
  });
  /* Where the server placed the point (WGS84, whatever system it was typed in): the pin goes there, and the map
   * brings it into view beside the form, so the dispatcher sees the place a caller read out. */
  form.addEventListener("gridlink:located", function (event) {
    if (panel.hidden) { return; }
    if (!event.detail) {  // no place (outside the city, say): a pin of another system's numbers would mislead
      if (form.elements.crs.value !== "wgs84") { clearPin(); }
      return;
    }
    var at = L.latLng(event.detail.lat, event.detail.lon);
    setPin(at);
    map.panInside(at, uncovered([panel, document.getElementById("drawer")]));
  });

  /* panInside's padding that keeps a point clear of what lies over the map: a narrow panel on its left or
   * right side (the form, the case drawer), a wide one over its bottom (a phone's form). */
  function uncovered(overlays) {
    var box = container.getBoundingClientRect();
    var pad = {left: 32, right: 32, top: 32, bottom: 32};
    overlays.forEach(function (overlay) {
      if (!overlay || overlay.hidden) { return; }
      var r = overlay.getBoundingClientRect();
      if (r.right <= box.left || r.left >= box.right || r.bottom <= box.top || r.top >= box.bottom) { return; }
      if (r.width > box.width / 2) {
        pad.bottom = Math.max(pad.bottom, box.bottom - r.top + 32);
      } else if (r.left + r.width / 2 < box.left + box.width / 2) {
        pad.left = Math.max(pad.left, r.right - box.left + 32);
      } else {
        pad.right = Math.max(pad.right, box.right - r.left + 32);
      }
    });
    return {paddingTopLeft: [pad.left, pad.top], paddingBottomRight: [pad.right, pad.bottom]};
  }
  /* The case made, the panel is put away (its line stays for the next opening): the drawer shows the new case
   * beside the map, which the two panels together left a strip of. */
  window.GridlinkIntake.bind(form, {csrf: D.data.csrf, failed: labels.failed, offline: labels.intakeOffline,
                                    sending: labels.intakeSending, onCreated: function (answer) {
    closeIntake();
    ok.textContent = labels.created.replace("%(id)s", String(answer.id));
    D.refreshCase(answer.case);  // into the queue and onto the map, not announced as 新到: the user made it
    D.openCase(answer.id);
  }});
  form.addEventListener("submit", function () { ok.textContent = ""; });  // a new try: the last case's line goes
  document.querySelector("[data-open-intake]").addEventListener("click", openIntake);
  panel.querySelector("[data-close-intake]").addEventListener("click", closeIntake);
  form.addEventListener("input", saveDraft);
  form.addEventListener("change", saveDraft);
  form.elements.photos.addEventListener("change", function () { photos.keep(form.elements.photos.files); });
  restoreDraft();  // after the point's listeners above, so its pin is drawn

  /* ---- Box selection and bulk actions ---- */
  var bulk = document.getElementById("bulk");
  var results = bulk.querySelector("[data-bulk-results]");
  var picked = [];  // the selected cases as loaded when selected: their versions guard the bulk action
  var start = null;
  var box = null;

  function markRows() {
    var ids = picked.map(function (c) { return String(c.id); });
    Array.prototype.forEach.call(D.tbody.rows, function (r) {
      r.classList.toggle("picked", ids.indexOf(r.dataset.case) >= 0);
    });
    bulk.querySelector("[data-bulk-count]").textContent = labels.selected.replace("%(n)s", String(picked.length));
  }

  function select(bounds) {
    var ids = Object.keys(D.caseMap.markers).filter(function (id) {
      return bounds.contains(D.caseMap.markers[id].getLatLng());
    });
    results.replaceChildren();
    bulk.hidden = false;
    if (!ids.length) { picked = []; markRows(); results.appendChild(el("li", "muted", labels.bulkNone)); return; }
    Promise.all(ids.map(function (id) { return D.loadCase(id); })).then(function (cases) {
      picked = cases;
      markRows();
    });
  }

  function clearSelection() {
    picked = [];
    markRows();
    results.replaceChildren();
    bulk.hidden = true;
  }

  /* Each case in turn; one that changed (ours or someone else's change) is reloaded at once, so its row
   * and pin show the new state and a second bulk action on the same selection quotes its new version. */
  function runBulk() {
    var action = bulk.querySelector("[data-bulk-action]").value;
    var department = bulk.querySelector("[data-bulk-department]").value;
    results.replaceChildren();
    picked.reduce(function (chain, c, i) {
      return chain.then(function () {
        var body = D.payload(c, action, "");
        if (action === "dispatch" && department) { body.department = department; }
        return D.postAction(c.actionsUrl, body).then(function (result) {
          var text = result === "ok" ? labels.bulkOk : result === "changed" ? labels.bulkChanged : result;
          results.appendChild(el("li", "bulk-" + (result === "ok" || result === "changed" ? result : "failed"),
                                 labels.bulkResult.replace("%(case)s", "#" + c.id + " " + c.category).replace("%(result)s", text)));
          if (result !== "ok" && result !== "changed") { return null; }
          return D.loadCase(c.id).then(function (fresh) { picked[i] = fresh; D.refreshCase(fresh); },
                                       function () { return null; });  // the next case still runs
        });
      });
    }, Promise.resolve()).then(markRows);
  }

  map.boxZoom.disable();  // Shift + drag selects cases here instead of zooming
  container.addEventListener("mousedown", function (event) {
    if (!event.shiftKey || event.button !== 0) { return; }
    map.dragging.disable();
    start = map.mouseEventToLatLng(event);
    event.preventDefault();
  }, true);
  container.addEventListener("mousemove", function (event) {
    if (!start) { return; }
    var bounds = L.latLngBounds(start, map.mouseEventToLatLng(event));
    if (!box) { box = L.rectangle(bounds, {className: "select-box", interactive: false}).addTo(map); }
    box.setBounds(bounds);
  });
  document.addEventListener("mouseup", function () {
    if (!start) { return; }
    map.dragging.enable();
    start = null;
    if (box) { select(box.getBounds()); map.removeLayer(box); box = null; }
  });
  bulk.querySelector("[data-bulk-run]").addEventListener("click", runBulk);
  bulk.querySelector("[data-bulk-clear]").addEventListener("click", clearSelection);

  /* ---- 责任网格: duty areas as an overlay (off at first), outlined and faintly filled in their kind's
   * colour so an area reads as one patch over the grid lines ---- */
  var duty = D.data.duty;
  D.caseMap.layers.responsibility = L.vectorGrid.protobuf(duty.url, {
    rendererFactory: L.canvas.tile, interactive: false, minZoom: duty.minZoom,
    vectorTileLayerStyles: {responsibility: function (props) {
      var colour = duty.colours[props.kind] || duty.style.color;
      return Object.assign({}, duty.style, {color: colour, fill: true, fillColor: colour, fillOpacity: 0.12});
    }}
  });
  var dutyToggle = document.querySelector("[data-toggle-layer=responsibility]");
  dutyToggle.addEventListener("change", function () {
    document.querySelector("[data-duty-legend]").hidden = !dutyToggle.checked;
  });

  /* ---- Keyboard shortcuts ---- */
  var help = document.getElementById("shortcuts");

  function move(step) {
    var rows = Array.prototype.slice.call(D.tbody.rows);
    if (!rows.length) { return; }
    var at = rows.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = rows[Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + step))];
    rows.forEach(function (r) { r.classList.toggle("selected", r === next); });
    next.scrollIntoView({block: "nearest"});
  }

  function openSelected() {
    var row = D.tbody.querySelector("tr.selected");
    if (row) { D.openCase(Number(row.dataset.case)); }
  }

  function escape() {
    if (!help.hidden) { help.hidden = true; } else if (D.isOpen()) { D.closeDrawer(); } else { closeIntake(); }
  }

  var KEYS = {
    j: function () { move(1); }, k: function () { move(-1); }, Enter: openSelected,
    f: function () { D.actOnCurrent("file"); }, d: function () { D.actOnCurrent("dispatch"); },
    c: function () { D.actOnCurrent("close"); }, n: openIntake, Escape: escape,
    "?": function () { help.hidden = !help.hidden; }
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var typing = event.target.closest("input, textarea, select, [contenteditable]");
    if ((typing && event.key !== "Escape") || (event.key === "Enter" && event.target.closest("a, button"))) { return; }
    var handler = KEYS[event.key];
    if (handler) { event.preventDefault(); handler(); }
  });
  document.querySelector("[data-open-shortcuts]").addEventListener("click", function () { help.hidden = !help.hidden; });
  help.querySelector("[data-close-shortcuts]").addEventListener("click", function () { help.hidden = true; });
})();
