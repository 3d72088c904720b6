/* Township page: the zone's cases on the map; tapping a pin opens that case's page. */
(function () {
  "use strict";
  var data = window.GridlinkCaseMap.pageData();
  window.GridlinkCaseMap.create(data, function (id) {
    window.location.href = data.caseUrl.replace(/0$/, String(id));
  });
})();
