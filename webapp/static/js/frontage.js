/* 门前三包 pages: colours the frontage areas of the vector tiles by latest score (a click opens the unit),
 * and keeps the phone score sheet's total live while +/- are tapped. The page hands over the score bands
 * as a JSON data island (<script type="application/json" id="page-data">); the server scores again on
 * submit, so this total is a preview. Nothing from the data is written as HTML. */
(function () {
  "use strict";

  function pageData() {
    var node = document.getElementById("page-data");
    return node ? JSON.parse(node.textContent) : {};
  }

  /* The colour of the first band whose lowest score the score reaches; grey when never inspected. */
  function colourOf(score, data) {
    if (typeof score !== "number") { return data.unscored; }
    for (var i = 0; i < data.bands.length; i++) {
      if (score >= data.bands[i].min) { return data.bands[i].colour; }
    }
    return data.unscored;
  }

  function areasMap(data) {
    var map = window[data.map.map];
    var areas = window[data.map.areas];
    areas.options.vectorTileLayerStyles.frontage = function (props) {
      var colour = colourOf(props.score, data);
      return {fill: true, fillColor: colour, fillOpacity: 0.65, color: colour, weight: 2, opacity: 1};
    };
    areas.redraw();  /* tiles fetched before the style function was set are drawn again with it */
    var tip = L.tooltip({direction: "top", offset: [0, -4]});
    areas.on("mouseover", function (e) {  /* which unit, before a click opens it; text, never HTML */
      var props = e.layer.properties;
      var label = document.createElement("span");
      label.textContent = props.name + " · " + (typeof props.score === "number" ? props.score : data.unscoredLabel);
      map.openTooltip(tip.setContent(label).setLatLng(e.latlng));
      map.getContainer().style.cursor = "pointer";
    });
    areas.on("mouseout", function () {
      map.closeTooltip(tip);
      map.getContainer().style.cursor = "";
    });
    map.getContainer().addEventListener("gridlink:feature", function (e) {
      if (e.detail.layer === "frontage") {
        window.location.href = data.unitUrl.replace(/0$/, String(e.detail.properties.unit));
      }
    });
  }

  function count(input) {
    var n = parseInt(input.value, 10);
    return isNaN(n) || n < 0 ? 0 : n;
  }

  /* The sheet's rule, as grids.frontage.score_deductions: a section never loses more than its points. */
  function scoreSheet(form, data) {
    var total = Number(form.dataset.total);
    var out = document.getElementById("live-total");
    var bar = out.closest(".sheet-total");
    function update() {
      var score = total;
      form.querySelectorAll("[data-points]").forEach(function (section) {
        var lost = 0;
        section.querySelectorAll("input[data-deduction]").forEach(function (input) {
          lost += count(input) * Number(input.dataset.deduction);
        });
        lost = Math.min(lost, Number(section.dataset.points));
        section.querySelector("[data-lost]").textContent = lost ? "−" + lost : "";
        score -= lost;
      });
      out.textContent = String(score);
      bar.style.setProperty("--band", colourOf(score, data));
    }
    form.addEventListener("click", function (e) {
      var button = e.target.closest("[data-step]");
      if (!button) { return; }
      var input = button.parentNode.querySelector("input");
      var next = count(input) + Number(button.dataset.step);
      input.value = String(Math.max(0, Math.min(Number(input.max), next)));
      update();
    });
    form.addEventListener("input", update);
    update();
  }

  var data = pageData();
  if (data.map) { areasMap(data); }
  var form = document.querySelector("form[data-score-sheet]");
  if (form) { scoreSheet(form, data); }
})();
