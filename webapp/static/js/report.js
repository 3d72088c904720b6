/* 上报 in three taps on a phone: (1) this page takes the GPS position at once, showing its accuracy and the
 * township and grid it lies in, with 重新定位 and a tap on the map as the fallbacks; (2) a big category
 * button; (3) "拍照并上报" (taking the photo submits) or "不拍照，直接上报". The form goes through intake.js
 * (per-field errors, Idempotency-Key, large photos scaled down). */
(function () {
  "use strict";
  var G = window.GridlinkCaseMap;
  var data = G.pageData();
  var labels = data.labels;
  var caseMap = G.create(data, function () {});
  var map = caseMap.map;
  var form = document.getElementById("report-form");
  var gps = form.querySelector("[data-gps]");
  var marker = null;
  var circle = null;
  var more = form.querySelector("[data-more-categories]");
  var where = form.querySelector("[data-where]");
  var photo = form.querySelector("[data-photo-submit]");
  var send = form.querySelector("[data-no-photo]");
  var refreshHints = window.GridlinkIntake.watchHints(form, {category: function () {
    var pressed = form.querySelector("[data-category][aria-pressed=true]");
    if (pressed) { return [pressed.dataset.category, pressed.textContent]; }
    var chosen = more.selectedOptions[0];
    return more.value ? [more.value, chosen.textContent.slice(chosen.textContent.indexOf(" ") + 1)] : null;
  }, located: showWhere, same: function (item) {
    // not reporting drops a photo already taken: asked first, not lost without a word
    if (photo.files.length && !window.confirm(labels.samePhoto)) { return; }
    window.location.href = data.homeUrl + "?same=" + encodeURIComponent(item.id);
  }});

  /* Where the point lies (township, grid) before anything is sent; in another township the reporter is told
   * that the report goes there (they follow it, the local squad works it). */
  function showWhere(answer) {
    var township = answer && answer.township;
    var outside = Boolean(township && data.zone && township.code !== data.zone);
    var parts = [township && township.name, answer && answer.grid && labels.grid.replace("%(code)s", answer.grid.code)];
    where.textContent = outside ? labels.outside.replace("%(place)s", township.name)
      : parts.filter(Boolean).join(" · ");
    where.classList.toggle("warning", outside);
    where.hidden = !where.textContent;
  }

  function place(latlng, accuracy) {
    form.elements.lon.value = latlng.lng.toFixed(6);
    form.elements.lat.value = latlng.lat.toFixed(6);
    if (!marker) {
      marker = L.marker(latlng, {icon: L.divIcon({className: "intake-pin", iconSize: [22, 22]}), interactive: false});
      marker.addTo(map);
    }
    marker.setLatLng(latlng);
    if (circle) { map.removeLayer(circle); circle = null; }
    if (accuracy) {
      circle = L.circle(latlng, {radius: accuracy, weight: 1, interactive: false}).addTo(map);
      gps.textContent = labels.accuracy.replace("%(m)s", String(Math.round(accuracy)));
      map.setView(latlng, Math.max(map.getZoom(), 16));
    } else {
      gps.textContent = labels.tapped;
      if (map.getZoom() < 17) { map.setView(latlng, 17); }  // a tap on a town-wide map is tens of metres wide
    }
    gps.classList.toggle("located", true);
    refreshHints();
  }

  /* The GPS position, asked at once (a fix of the last 30 s will do) and again with 重新定位, which wants a
   * fresh one: the reporter walked on, or the first fix timed out. */
  function locate(maximumAge) {
    if (!navigator.geolocation) { gps.textContent = labels.denied; return; }
    gps.textContent = labels.locating;
    gps.classList.toggle("located", false);
    navigator.geolocation.getCurrentPosition(function (pos) {
      place(L.latLng(pos.coords.latitude, pos.coords.longitude), pos.coords.accuracy || 1);
    }, function () { gps.textContent = labels.denied; },
    {enableHighAccuracy: true, timeout: 15000, maximumAge: maximumAge});
  }
  locate(30000);
  form.querySelector("[data-relocate]").addEventListener("click", function () { locate(0); });
  G.onClick(caseMap, function (latlng) { place(latlng, 0); });

  /* One category at a time: a big button, or a class from 其他类别. */
  function choose(code, button) {
    form.elements.category.value = code;
    form.querySelectorAll("[data-category]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b === button));
    });
    if (button) { more.value = ""; }
    var slot = form.querySelector("[data-error-for=category]");  // "请选择类别" is answered now
    if (slot) { slot.hidden = true; }
    refreshHints();
  }
  form.querySelectorAll("[data-category]").forEach(function (button) {
    button.addEventListener("click", function () { choose(button.dataset.category, button); });
  });
  more.addEventListener("change", function () { choose(more.value, null); });
  /* A photo taken before the position or the category is kept: the submit it starts is refused with what
   * is missing, the photo shows as chosen, and the send button then sends it (no second photo needed). */
  function showPhoto() {
    var chosen = photo.files.length ? photo.files[0].name : "";
    form.querySelector("[data-photo-name]").textContent = labels.photoChosen.replace("%(name)s", chosen);
    form.querySelector("[data-photo-chosen]").hidden = !chosen;
    send.textContent = chosen ? labels.sendWithPhoto : labels.sendWithoutPhoto;
  }
  form.querySelector("[data-photo-remove]").addEventListener("click", function () {
    photo.value = "";
    showPhoto();
  });
  form.addEventListener("reset", function () { window.setTimeout(showPhoto); });

  window.GridlinkIntake.bind(form, {csrf: form.elements.csrf_token.value, failed: labels.failed,
    offline: labels.offline, sending: labels.sending,
    onCreated: function (answer) { window.location.href = answer.url; },
    onRefused: function (errors) {  // a photo refused as no photo goes: sending again would send it again
      if (errors.photos) { photo.value = ""; showPhoto(); }
    }});
  photo.addEventListener("change", function () {
    showPhoto();
    if (this.files.length) { form.requestSubmit(); }
  });
})();
