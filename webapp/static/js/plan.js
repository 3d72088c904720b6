/* Grid planning editor: select grids on the vector-tile map, split / merge / move a shared edge / fill a
 * gap by drawing, bulk-assign, and publish after an impact preview. Every edit quotes the layout revision;
 * a 409 means a colleague saved first, so the page reloads. Text reaches the DOM only via textContent. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("page-data").textContent);
  if (data.units) { return; }  // the 门前三包 page, below
  var labels = data.labels;
  var map = window[data.map.map];
  var gridLayer = window[data.map.grids];
  var drawn = data.map.drawn ? window[data.map.drawn] : null;
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var revision = data.revision;
  var selected = [];  // grid JSON objects from the API, in selection order
  var shiftHeld = false;
  var drawing = false;
  var highlight = L.geoJSON(null, {style: {color: "#e67e22", weight: 3, fillColor: "#f39c12", fillOpacity: 0.25},
                                   interactive: false}).addTo(map);
  var problemLayer = L.layerGroup().addTo(map);

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return String(values[key]); });
  }

  function say(text, isError) {
    var box = $("message");
    box.textContent = text;
    box.className = "plan-message" + (isError ? " error" : "");
    box.hidden = !text;
  }

  /* One JSON call; 409 (stale revision) reloads the page after telling the planner why. */
  function call(method, path, body) {
    var options = {method: method, headers: {"Accept": "application/json"}, credentials: "same-origin"};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrf;
      options.body = JSON.stringify(body);
    }
    return fetch(data.api + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (response.status === 409) {
          say(labels.conflict, true);
          window.setTimeout(function () { window.location.reload(); }, 2000);
          throw new Error("conflict");
        }
        if (!response.ok) {
          say(window.gridlinkError(json, labels.failed), true);
          throw new Error("failed");
        }
        return json;
      });
    });
  }

  // ---- selection -------------------------------------------------------------------------------
  function showSelection() {
    highlight.clearLayers();
    selected.forEach(function (g) { highlight.addData(g.geometry); });
    var one = selected.length === 1 ? selected[0] : null;
    $("attributes").hidden = !one;
    $("selection-empty").hidden = selected.length > 0;
    if (one) {
      $("attributes").querySelectorAll("[data-field]").forEach(function (dd) {
        var key = dd.dataset.field;
        var value = key === "area" ? Math.round(one.area_m2).toLocaleString() + " m²" : one[key];
        dd.textContent = value === null || value === undefined ? labels.none : String(value);
      });
    }
    var list = $("selected-codes");
    list.textContent = "";
    if (selected.length > 1) {
      selected.forEach(function (g) { list.appendChild(el("li", "chip-code", g.code)); });
    }
    $("selection-count").textContent = selected.length ? fill(labels.selected, {n: selected.length}) : "";
    if ($("merge")) { $("merge").disabled = editing || selected.length < 2; }
    $("clear-selection").disabled = selected.length === 0;
    $("assign-button").disabled = selected.length === 0;
    $("duty-button").disabled = selected.length === 0;
  }

  function toggle(grid, add) {
    say("");  // what was said of the last selection (not neighbours, a code taken) is not said of this one
    var at = selected.findIndex(function (g) { return g.id === grid.id; });
    if (!add) { selected = at >= 0 && selected.length === 1 ? [] : [grid]; }
    else if (at >= 0) { selected.splice(at, 1); }
    else { selected.push(grid); }
    showSelection();
  }

  /* Clicks are read from the DOM and the server finds the grid under them: the vector-tile canvas
   * swallows Leaflet's map click without reporting the feature, and the stored shapes are exact anyway.
   * A press that moved more than a few pixels was a pan, not a click. */
  var pressed = null;
  map.boxZoom.disable();  // shift adds to the selection; the rectangle tool selects by box
  map.getContainer().addEventListener("mousedown", function (e) {
    shiftHeld = e.shiftKey;
    pressed = [e.clientX, e.clientY];
  }, true);
  map.getContainer().addEventListener("click", function (e) {
    var moved = !pressed || Math.abs(e.clientX - pressed[0]) + Math.abs(e.clientY - pressed[1]) > 4;
    if (drawing || moved || e.target.closest(".leaflet-control")) { return; }
    var at = map.mouseEventToLatLng(e);
    call("GET", "/grids?at=" + at.lng + "," + at.lat).then(function (json) {
      if (json.grids.length) { toggle(json.grids[0], e.shiftKey); }
    }).catch(function () {});
  });
  $("clear-selection").addEventListener("click", function () { selected = []; say(""); showSelection(); });

  function boxSelect(geojson) {
    var bounds = L.geoJSON(geojson).getBounds();
    var add = shiftHeld;
    var bbox = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].join(",");
    call("GET", "/grids?bbox=" + bbox).then(function (json) {
      if (!add) { selected = []; }
      say("");
      json.grids.forEach(function (g) {
        if (!selected.some(function (s) { return s.id === g.id; })) { selected.push(g); }
      });
      showSelection();
    }).catch(function () {});
  }

  // ---- check results ---------------------------------------------------------------------------
  function showCheck(check, problems) {
    $("grid-count").textContent = String(check.count);
    $("revision").textContent = String(revision);
    var summary = $("check-summary");
    summary.textContent = check.ok ? labels.noProblems : labels.blocked;
    summary.className = check.ok ? "ok" : "bad";
    var list = $("problems");
    list.textContent = "";
    problemLayer.clearLayers();
    (check.invalid_grids || []).forEach(function (code) { list.appendChild(el("li", null, labels.invalid + " " + code)); });
    problems.features.forEach(function (f) {
      var p = f.properties;
      var latlng = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var text = labels[p.kind] + (p.grids ? " " + p.grids : "") + " · " + p.area_m2.toLocaleString() + " m²";
      L.circleMarker(latlng, {radius: 9, color: "#c62828", weight: 3, fillColor: "#ef5350", fillOpacity: 0.5})
        .bindTooltip(text).addTo(problemLayer);
      var item = list.appendChild(el("li"));
      var link = item.appendChild(el("a", null, text));
      link.href = "#";
      link.addEventListener("click", function (ev) { ev.preventDefault(); map.setView(latlng, 17); });
    });
  }

  function reloadTiles() {
    gridLayer.setUrl(data.map.tiles + "&v=" + revision);
  }

  function edited(result) {
    revision = result.revision;
    selected = [];
    showSelection();
    reloadTiles();
    showCheck(result.check, result.problems);
    var parts = [];
    if (result.created.length) { parts.push("+ " + result.created.join(", ")); }
    if (result.removed.length) { parts.push("− " + result.removed.join(", ")); }
    if (result.changed.length) { parts.push("± " + result.changed.join(", ")); }
    say(parts.length ? fill(labels.savedWith, {changes: parts.join(labels.listSep)}) : labels.saved, false);
  }

  /* One edit of the draft at a time: a double click sent the same revision twice, and the second came back
   * 409, "changed by someone else", and reloaded the page. The message line says it is saving meanwhile. */
  var editing = false;
  function edit(path, body) {
    if (editing) { return; }
    editing = true;
    say(labels.saving, false);
    showSelection();
    call("POST", path, body).then(edited).catch(function () {}).then(function () {
      editing = false;
      showSelection();
    });
  }

  function ids() { return selected.map(function (g) { return g.id; }); }

  // ---- drawing tools ---------------------------------------------------------------------------
  map.on("draw:drawstart", function () { drawing = true; });
  map.on("draw:drawstop", function () { window.setTimeout(function () { drawing = false; }, 0); });
  map.getContainer().addEventListener("gridlink:draw", function (e) {
    var kind = e.detail.layerType;
    var geometry = e.detail.geojson.geometry;
    if (kind === "rectangle") {
      boxSelect(e.detail.geojson);
    } else if (kind === "polyline" && selected.length === 1) {
      edit("/split", {grids: ids(), line: geometry, revision: revision});
    } else if (kind === "polyline" && selected.length === 2) {
      edit("/move-edge", {grids: ids(), line: geometry, revision: revision});
    } else if (kind === "polyline") {
      say(labels.selectTwo, true);
    } else if (kind === "polygon") {
      edit("/fill", {polygon: geometry, revision: revision});
    }
    window.setTimeout(function () { if (drawn) { drawn.clearLayers(); } }, 0);
  });
  if ($("merge")) {
    $("merge").addEventListener("click", function () { edit("/merge", {grids: ids(), revision: revision}); });
  }

  // ---- assignment ------------------------------------------------------------------------------
  $("assign-button").addEventListener("click", function () {
    var codes = selected.map(function (g) { return g.code; });
    call("POST", "/assign", {codes: codes, squad: $("assign-squad").value, co_manager: $("assign-manager").value})
      .then(function (result) {
        say(fill(labels.assigned, {n: result.assigned}), false);
        return Promise.all(codes.map(function (code) { return call("GET", "/grids/" + encodeURIComponent(code)); }));
      })
      .then(function (grids) { selected = grids; showSelection(); })
      .catch(function () {});
  });

  // ---- responsibility grids (责任网格) -----------------------------------------------------------
  var dutyLayer = window[data.map.responsibility];
  dutyLayer.options.vectorTileLayerStyles.responsibility = function (props) {
    return {color: data.colours[props.kind] || "#16a085", weight: 3, opacity: 0.9, fill: false, dashArray: "6 4"};
  };
  dutyLayer.redraw();
  var parties = {
    squad: data.squads.filter(function (s) { return s.here; }).map(function (s) { return [s.code, s.name]; }),
    co_manager: data.coManagers.filter(function (u) { return u.here; })
      .map(function (u) { return [u.username, u.name]; }),
    department: data.departments.map(function (d) { return [d.code, d.name]; })
  };
  function showParties() {
    var select = $("duty-party");
    select.textContent = "";
    parties[$("duty-kind").value].forEach(function (p) {
      var option = select.appendChild(el("option", null, p[1]));
      option.value = p[0];
    });
  }
  $("duty-kind").addEventListener("change", showParties);
  showParties();
  $("duty-button").addEventListener("click", function () {
    call("POST", "/responsibility", {codes: selected.map(function (g) { return g.code; }), code: $("duty-code").value,
                                     name: $("duty-name").value, kind: $("duty-kind").value, party: $("duty-party").value})
      .then(function (result) {
        say(fill(labels.dutyCreated, {code: result.code, n: result.grids}), false);
        $("duty-list").appendChild(el("li", null, result.code + " " + $("duty-name").value + " · "
          + $("duty-kind").selectedOptions[0].textContent + " " + $("duty-party").selectedOptions[0].textContent
          + " · " + fill(labels.gridCount, {n: result.grids})));  // as the page lists the others
        $("duty-code").value = "";  // the next duty area is another: its code and name are to be typed
        $("duty-name").value = "";
        dutyLayer.setUrl(data.map.dutyTiles + "&t=" + Date.now());  // past the browser's tile cache
      }).catch(function () {});
  });

  // ---- publish ---------------------------------------------------------------------------------
  var squads = {};
  data.squads.forEach(function (s) { squads[s.id] = s.name; });
  var managers = {};
  data.coManagers.forEach(function (u) { managers[u.id] = u.name; });

  function impactSection(title, block, describe) {
    var box = el("section", "impact-block");
    var head = box.appendChild(el("h3"));
    head.appendChild(document.createTextNode(title + " "));
    head.appendChild(el("span", "count", block.count));
    if (block.items.length) {
      var list = box.appendChild(el("ul", "impact-items"));
      block.items.slice(0, 50).forEach(function (item) { list.appendChild(el("li", null, describe(item))); });
      if (block.items.length > 50) { list.appendChild(el("li", "muted", "…")); }
    }
    return box;
  }

  function movesText(item) {
    return "#" + item.id + " " + fill(labels.moves, {old: item.old_grid || labels.none, new: item.new_grid || labels.none})
      + (item.old_squad_id !== item.new_squad_id
        ? " · " + (squads[item.old_squad_id] || labels.none) + " → " + (squads[item.new_squad_id] || labels.none) : "");
  }

  function owners(squadId, managerId) {
    return "(" + ([squads[squadId], managers[managerId]].filter(Boolean).join(" / ") || labels.none) + ")";
  }

  /* An old grid's area and who answers for it now, then the new grids over it with who will: a merge of two
   * co-managers' grids says whose area passes to whom. */
  function dutyText(item) {
    return item.old_grid + " " + owners(item.squad_id, item.co_manager_id) + " → " + item.new_grids.map(function (code, i) {
      return code + " " + owners(item.new_owners[i][0], item.new_owners[i][1]);
    }).join(", ");
  }

  function showImpact(json) {
    var box = $("impact");
    box.textContent = "";
    box.appendChild(impactSection(labels.cases, json.impact.open_cases, movesText));
    box.appendChild(impactSection(labels.frontage, json.impact.frontage_units, movesText));
    box.appendChild(impactSection(labels.assignments, json.impact.assignments, dutyText));
    box.appendChild(impactSection(labels.responsibility, json.impact.responsibility, function (item) {
      return item.code + ": " + item.old_grids.join(", ") + " → " + (item.new_grids.join(", ") || labels.none);
    }));
    var blocked = $("publish-blocked");
    blocked.hidden = json.check.ok;
    blocked.textContent = json.check.ok ? "" : labels.blocked + " "
      + json.problems.features.map(function (f) { return labels[f.properties.kind]; })
        .concat((json.check.invalid_grids || []).map(function (c) { return labels.invalid + " " + c; })).join("、");
    $("publish-confirm").disabled = !json.check.ok;
    revision = json.revision;
    showCheck(json.check, json.problems);
  }

  if ($("publish")) {
    $("publish").addEventListener("click", function () {
      $("publish-confirm").disabled = true;
      $("publish-dialog").showModal();
      call("GET", "/impact").then(showImpact).catch(function () { $("publish-dialog").close(); });
    });
    $("publish-confirm").addEventListener("click", function () {
      call("POST", "/publish", {revision: revision, effective: $("effective").value}).then(function () {
        $("publish-dialog").close();
        say(labels.published, false);
        window.setTimeout(function () { window.location.reload(); }, 800);
      }).catch(function () { $("publish-dialog").close(); });
    });
  }

  map.fitBounds(data.bounds, {padding: [12, 12]});
  showCheck(data.check, data.problems);
  showSelection();
})();

/* 门前三包 area redraw (/plan/frontage): pick a unit in the list or on the map, draw its area as a polygon. */
(function () {
  "use strict";

  var node = document.getElementById("page-data");
  var data = node ? JSON.parse(node.textContent) : {};
  if (!data.units) { return; }
  var map = window[data.map.map];
  var drawn = window[data.map.drawn];
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var chosen = null;
  var base = {color: "#2c7be5", weight: 1, fillOpacity: 0.3};
  var layers = {};
  var areas = L.geoJSON(data.units, {
    style: function () { return base; },
    pointToLayer: function (f, latlng) { return L.circleMarker(latlng, {radius: 4}); },
    onEachFeature: function (f, layer) {
      layers[f.id] = layer;
      layer.bindTooltip(function () { return document.createTextNode(f.properties.name); }, {sticky: true});
      layer.on("click", function () { choose(f.id); });
    }
  }).addTo(map);

  function say(text, isError) {
    var box = document.getElementById("message");
    box.textContent = text;
    box.className = "plan-message" + (isError ? " error" : "");
    box.hidden = !text;
  }

  function choose(id) {
    chosen = id;
    areas.setStyle(function (f) { return f.id === id ? {color: "#e67e22", weight: 3, fillOpacity: 0.4} : base; });
    document.querySelectorAll("#units [data-unit]").forEach(function (b) {
      b.classList.toggle("chosen", Number(b.dataset.unit) === id);
    });
  }

  document.querySelectorAll("#units [data-unit]").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = Number(button.dataset.unit);
      choose(id);
      var layer = layers[id];  // an area, or the shop's point until it has one
      if (layer.getBounds) { map.fitBounds(layer.getBounds(), {maxZoom: 18, animate: false}); }
      else { map.setView(layer.getLatLng(), 18, {animate: false}); }
    });
  });

  map.getContainer().addEventListener("gridlink:draw", function (e) {
    window.setTimeout(function () { drawn.clearLayers(); }, 0);
    if (chosen === null) { say(data.labels.chooseUnit, true); return; }
    fetch(data.api + "/" + chosen + "/area", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({polygon: e.detail.geojson.geometry})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) { say(window.gridlinkError(json, data.labels.failed), true); return; }
        say(data.labels.areaSaved, false);
        window.setTimeout(function () { window.location.reload(); }, 800);
      });
    }).catch(function () { say(data.labels.failed, true); });
  });

  // The streets of the township's units (where areas are drawn), else the whole township.
  var units = areas.getLayers().length ? areas.getBounds() : null;
  map.fitBounds(units || data.bounds, {maxZoom: 19, padding: [40, 40], animate: false});  // one street's shops
})();
