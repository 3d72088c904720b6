/* 上报 in three taps on a phone: (1) this page takes the GPS position at once, showing its accuracy, with a
 * tap on the map as the fallback; (2) a big category button; (3) "拍照并上报" (taking the photo submits)
 * or "不拍照，直接上报". The form goes through intake.js (per-field errors, Idempotency-Key). */
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
  var refreshHints = window.GridlinkIntake.watchHints(form, {category: function () {
    var pressed = form.querySelector("[data-category][aria-pressed=true]");
    if (pressed) { return [pressed.dataset.category, pressed.textContent]; }
    var chosen = more.selectedOptions[0];
    return more.value ? [more.value, chosen.textContent.slice(chosen.textContent.indexOf(" ") + 1)] : null;
  }});

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
    }
    gps.classList.toggle("located", true);
    refreshHints();
  }

  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(function (pos) {
      place(L.latLng(pos.coords.latitude, pos.coords.longitude), pos.coords.accuracy || 1);
    }, function () { gps.textContent = labels.denied; }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 30000});
  } else {
    gps.textContent = labels.denied;
  }
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
  // "不拍照": a photo picked earlier (say, before a category, so its submit was refused) stays behind.
  form.querySelector("[data-no-photo]").addEventListener("click", function () {
    form.querySelector("[data-photo-submit]").value = "";
  });

  window.GridlinkIntake.bind(form, {csrf: form.elements.csrf_token.value, failed: labels.failed,
    onCreated: function (answer) { window.location.href = answer.url; }});
  form.querySelector("[data-photo-submit]").addEventListener("change", function () {
    if (this.files.length) { form.requestSubmit(); }
  });
})();
