/* gridlink case map: draws the page's cases on the folium map as clustered pins coloured by deadline
 * class, and wires the legend's layer switches. The page hands over its data as a JSON data island
 * (<script type="application/json" id="page-data">); every user string reaches the DOM through
 * textContent, never as HTML (RELIABILITY 10). */
(function () {
  "use strict";

  var RANK = {overdue: 0, due_soon: 1, none: 2, on_time: 3};
  var FOCUS_ZOOM = 16;  // an opened case is shown at least this close (maps.PLACE_LABEL_MAX_ZOOM is below it)
  /* Pins closer together than this (repeat reports of one problem: DOMAIN's 50 m duplicate radius) are fanned
   * out where they are, seen from the street, instead of zoomed into: they part only at the map's last level,
   * where nothing around them is readable any more. */
  var TIGHT_METRES = 50;
  var TIP_HALF = 140;  // half a case tooltip's width, and a margin

  function pageData() {
    return JSON.parse(document.getElementById("page-data").textContent);
  }

  /* An element with a class and text content: the only way this code makes markup from data. */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function tooltip(c) {
    var box = el("div", "case-tip");
    box.appendChild(el("strong", null, "#" + c.id + " " + c.category));
    box.appendChild(el("span", "chip dl-" + c.deadline_class, c.due_text));
    box.appendChild(el("div", "desc", c.description));
    if (c.township) { box.appendChild(el("div", "muted", c.township)); }
    return box;
  }

  /* A cluster takes the colour of its most urgent case, so a red cluster always means "late here". */
  function clusterIcon(cluster) {
    var worst = "on_time";
    cluster.getAllChildMarkers().forEach(function (m) {
      if (RANK[m.options.deadlineClass] < RANK[worst]) { worst = m.options.deadlineClass; }
    });
    return L.divIcon({html: el("span", null, cluster.getChildCount()), className: "case-cluster dl-" + worst,
                      iconSize: [34, 34]});
  }

  function CaseMap(data, onSelect) {
    var self = this;
    this.map = window[data.map.map];
    this.cluster = window[data.map.cluster];
    this.heat = window[data.map.heat];
    this.layers = {divisions: window[data.map.divisions], grids: window[data.map.grids], heat: this.heat};
    this.markers = {};
    this.onSelect = onSelect;
    this.cluster.options.iconCreateFunction = clusterIcon;
    this.cluster.on("unspiderfied", function () { if (self.refan) { self.refanned(); } });
    this.cluster.on("clusterclick clusterkeypress", function (event) {
      if (event.type === "clusterkeypress" && event.originalEvent && event.originalEvent.keyCode !== 13) { return; }
      self.open(event.layer);
    });
    this.map.removeLayer(this.heat);
    // Not animated: a view set while the first one is still animating (a GPS fix on the phone page) is dropped.
    this.map.fitBounds(data.bounds, {padding: [12, 12], animate: false});
    data.cases.forEach(function (c) { self.add(c); });
    document.querySelectorAll("[data-toggle-layer]").forEach(function (box) {
      box.addEventListener("change", function () {
        var layer = self.layers[box.dataset.toggleLayer];
        if (box.checked) { self.map.addLayer(layer); } else { self.map.removeLayer(layer); }
        self.refreshHeat();
      });
    });
  }

  CaseMap.prototype.add = function (c) {
    if (c.lat === null || this.markers[c.id]) { return; }
    var self = this;
    var marker = L.marker([c.lat, c.lon], {
      icon: L.divIcon({className: "case-pin dl-" + c.deadline_class, iconSize: [18, 18], html: ""}),
      deadlineClass: c.deadline_class
    });
    marker.bindTooltip(function () { return tooltip(c); }, {direction: "top", offset: [0, -8]});
    marker.on("click", function () { self.onSelect(c.id); });
    this.cluster.addLayer(marker);
    this.markers[c.id] = marker;
  };

  /* A case's pin drawn anew as the case now is (colour, tooltip), or taken off the map when `open` is false.
   * The open case's pin keeps its tooltip open: a poll bringing that case back must not hide its name. Taking any
   * clustered pin off the map folds up the fanned-out cluster: one that held the open case's pin is fanned out
   * again once folded (refanned), without moving the map. The open case's pin redrawn while it is still being
   * brought into view is brought into view afresh: the steps under way wait on the old pin, which never shows. */
  CaseMap.prototype.redraw = function (c, open) {
    var old = this.markers[c.id];
    var focused = old !== undefined && old === this.focused;
    var fan = this.cluster._spiderfied;
    var held = Boolean(fan && this.focused) && fan.getAllChildMarkers().indexOf(this.focused) >= 0;
    if (old) {
      this.cluster.removeLayer(old);
      delete this.markers[c.id];
    }
    if (open) { this.add(c); }
    if (focused) { this.focused = this.markers[c.id] || null; }
    if (focused && this.focusing) {
      this.focusing = null;
      if (this.focused) { this.focus(c.id, this.cover); }
    } else if (held && !this.cluster._spiderfied) {
      this.refan = true;
    } else if (focused && this.focused && this.cluster.getVisibleParent(this.focused) === this.focused) {
      this.focused.openTooltip();
    }
  };

  /* After a redraw folded up the fan holding the open case: its pins fanned out again, its name shown. */
  CaseMap.prototype.refanned = function () {
    var marker = this.focused, group = this.cluster;
    this.refan = false;
    var parent = marker && group.getVisibleParent(marker);
    if (!parent || parent === marker || !parent.spiderfy || group._inZoomAnimation) { return; }
    group.once("spiderfied", function () { if (this.focused === marker) { marker.openTooltip(); } }, this);
    parent.spiderfy();
  };

  /* The open case closed: nothing is brought into view for it any more, and its name goes. */
  CaseMap.prototype.unfocus = function () {
    if (this.focused) { this.focused.closeTooltip(); }
    this.focused = this.focusing = null;
  };

  /* leaflet.heat 0.2 fails when redrawn off the map, so it is only fed while shown. */
  CaseMap.prototype.refreshHeat = function () {
    if (!this.map.hasLayer(this.heat)) { return; }
    var points = [];
    Object.keys(this.markers).forEach(function (id) {
      var ll = this.markers[id].getLatLng();
      points.push([ll.lat, ll.lng, 1]);
    }, this);
    this.heat.setLatLngs(points);
  };

  /* Whether a pin at page position (x, y) would be hidden by an element over the map (its tooltip too). */
  function under(element, x, y) {
    if (!element || element.hidden) { return false; }
    var r = element.getBoundingClientRect();
    return x > r.left - 20 && x < r.right + 20 && y > r.top - 60 && y < r.bottom + 20;
  }

  function tight(map, cluster) {
    var bounds = cluster.getBounds();
    return map.distance(bounds.getSouthWest(), bounds.getNorthEast()) <= TIGHT_METRES;
  }

  /* A cluster opened by a click (or Enter): zoomed into, or fanned out at street level if tight. `then` runs
   * once its pins are apart. */
  CaseMap.prototype.open = function (cluster, then) {
    var map = this.map, group = this.cluster, done = then || function () {};
    if (!tight(map, cluster)) {
      cluster.zoomToBounds({padding: [40, 40]});
      return;
    }
    var child = cluster.getAllChildMarkers()[0];
    if (map.getZoom() < FOCUS_ZOOM) { map.setView(cluster.getBounds().getCenter(), FOCUS_ZOOM, {animate: false}); }
    settled(group, function () {
      var parent = group.getVisibleParent(child);  // the cluster holding the pins at this zoom
      // _spiderfied: the group's fanned-out cluster (spiderfy() on it again fires no event)
      if (!parent || !parent.spiderfy || group._spiderfied === parent) { done(); return; }
      group.once("spiderfied", function () { done(); });
      parent.spiderfy();
    });
  };

  /* Runs `then` once the map's zoom and the cluster layer's redraw for it are over (its clusters split or merge in
   * an animation after the zoom itself; a cluster in mid-animation cannot be fanned out, and zoomToShowLayer
   * started mid-zoom can wait for a move that never comes). */
  function settled(group, then) {
    if (group._map._animatingZoom) {
      group._map.once("zoomend", function () { settled(group, then); });
    } else if (group._inZoomAnimation) {
      group.once("animationend", then);
    } else {
      then();
    }
  }

  /* markercluster's zoomToShowLayer (zoom into the pin's cluster, or pan to the pin, then fan out if it is still
   * clustered), given up once `current` is false: its own waits for a pin that shows, and one redrawn meanwhile
   * never does, while it throws on that removed pin at every later move, taking the map's other listeners along. */
  function showLayer(group, marker, current, then) {
    var map = group._map;
    function stop() {
      map.off("moveend", step);
      group.off("animationend", step);
    }
    function step() {
      if (!current()) { stop(); return; }
      if (group._inZoomAnimation || !(map.hasLayer(marker) || map.hasLayer(marker.__parent))) { return; }
      stop();
      if (map.hasLayer(marker)) {
        then();
      } else if (marker.__parent._icon) {
        group.once("spiderfied", then);
        marker.__parent.spiderfy();
      }
    }
    if (marker._icon && map.getBounds().contains(marker.getLatLng())) { then(); return; }
    map.on("moveend", step);
    if (marker.__parent._zoom < Math.round(map.getZoom())) {
      map.panTo(marker.getLatLng());
    } else {
      group.on("animationend", step);
      marker.__parent.zoomToBounds();
    }
  }

  /* Zooms to the case's pin and opens its tooltip; `cover` (the drawer, over the map's right side), the intake
   * panel (left) and the legend (bottom left) push the pin into the part of the map left in view. The case looked at before closes
   * its tooltip: one open case, one tooltip. */
  CaseMap.prototype.focus = function (id, cover) {
    var marker = this.markers[id];
    var map = this.map;
    if (!marker) { this.unfocus(); return; }  // a case without a point: the one looked at before lets go
    if (this.focused && this.focused !== marker) { this.focused.closeTooltip(); }
    this.focused = marker;
    this.cover = cover;
    var run = this.focusing = {};  // this focus, until its pin shows: a later one (or a close) ends its steps
    var legend = document.querySelector(".map-legend");
    var aside = document.getElementById("intake");  // the dispatcher's 新建案件 panel, over the map's left side
    if (map.getZoom() < FOCUS_ZOOM) {  // close enough to see the street, past the township names
      map.setView(marker.getLatLng(), FOCUS_ZOOM, {animate: false});
    }
    var self = this;
    settled(this.cluster, function () {
      if (self.focusing !== run) { return; }  // closed, another case opened, or its pin redrawn, meanwhile
      var parent = self.cluster.getVisibleParent(marker);
      if (parent && parent !== marker && tight(map, parent)) {
        self.open(parent, place);
      } else {
        showLayer(self.cluster, marker, function () { return self.focusing === run; }, place);
      }
    });

    function place() {
      if (self.focusing !== run) { return; }  // as above, while its pins fanned out
      self.focusing = null;
      var box = map.getContainer().getBoundingClientRect();
      var right = cover && !cover.hidden ? Math.min(box.width, cover.getBoundingClientRect().left - box.left) : box.width;
      var left = aside && !aside.hidden ? Math.max(0, aside.getBoundingClientRect().right - box.left) : 0;
      var p = map.latLngToContainerPoint(marker.getLatLng());
      // the pin with its tooltip (about 260 px wide, centred over it) clear of the panels and the edges
      var seen = p.x >= left + TIP_HALF && p.x <= right - TIP_HALF && p.y >= 140 && p.y <= box.height - 20;
      if (right - left > 60 && (!seen || under(legend, p.x + box.left, p.y + box.top))) {  // into the free middle
        map.panBy([p.x - (left + right) / 2, p.y - box.height / 2], {animate: false});
      }
      marker.openTooltip();
    }
  };

  /* A click on the map itself (not on a pin or a control, not the end of a drag), with its position.
   * Listened to on the DOM: the interactive division and grid tiles stop Leaflet's own map click. */
  function onClick(caseMap, handler) {
    var container = caseMap.map.getContainer();
    var down = null;
    container.addEventListener("mousedown", function (event) { down = [event.clientX, event.clientY]; });
    container.addEventListener("click", function (event) {
      var moved = down && Math.abs(event.clientX - down[0]) + Math.abs(event.clientY - down[1]) > 4;
      if (moved || event.target.closest(".leaflet-marker-icon, .leaflet-control, .leaflet-popup")) { return; }
      handler(caseMap.map.mouseEventToLatLng(event));
    });
  }

  window.GridlinkCaseMap = {
    RANK: RANK,
    el: el,
    pageData: pageData,
    onClick: onClick,
    create: function (data, onSelect) { return new CaseMap(data, onSelect); }
  };
})();
