/* Township page: the zone's cases on the map; tapping a pin opens that case's page. The map sits in a page
 * that scrolls (the task list below it): the mouse wheel scrolls the page until the map is clicked. */
(function () {
  "use strict";
  var data = window.GridlinkCaseMap.pageData();
  var map = window.GridlinkCaseMap.create(data, function (id) {
    window.location.href = data.caseUrl.replace(/0$/, String(id));
  }).map;
  map.scrollWheelZoom.disable();
  // The DOM click, not Leaflet's: a click on a division or grid goes to that layer and may not reach the map.
  map.getContainer().addEventListener("click", function () { map.scrollWheelZoom.enable(); }, {once: true});
})();
