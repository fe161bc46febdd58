// Tracking page map: the recipient's address and the driver, drawn without any image assets,
// so the page stays useful when tiles are off or blocked.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var dataEl = document.getElementById("tracking-data");
  if (!el || !dataEl || typeof L === "undefined") return;
  var data = JSON.parse(dataEl.textContent);

  var map = L.map(el, { zoomControl: true, attributionControl: !!data.tiles });
  if (data.tiles) {
    L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
  } else {
    el.classList.add("no-tiles");
  }

  var home = L.circleMarker(data.destination, {
    radius: 10, color: "#0b5", weight: 3, fillColor: "#fff", fillOpacity: 1
  }).addTo(map).bindTooltip("Your address");

  var driver = null;
  function placeDriver(latlng) {
    if (!driver) {
      driver = L.circleMarker(latlng, {
        radius: 9, color: "#fff", weight: 3, fillColor: "#1a5cff", fillOpacity: 1
      }).addTo(map).bindTooltip("Driver");
    } else {
      driver.setLatLng(latlng);
    }
  }

  if (data.driver) {
    placeDriver(data.driver);
    map.fitBounds(L.latLngBounds([data.destination, data.driver]).pad(0.35), { maxZoom: 16 });
  } else {
    map.setView(data.destination, 15);
  }
  el.dataset.ready = "1";
  window.lastmileMap = { map: map, home: home, placeDriver: placeDriver };
})();
