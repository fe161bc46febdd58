// Locker section: the listed lockers on a small map of their own (the list works without it).
// Tapping a marker scrolls to that locker in the list; nothing here changes anything.
(function () {
  "use strict";
  var el = document.getElementById("lockers-map");
  if (!el || typeof L === "undefined") return;
  var items = document.querySelectorAll(".lk-item[data-lat]");
  if (!items.length) return;
  el.hidden = false;
  var tiles = el.getAttribute("data-tiles");
  var map = L.map(el, { zoomControl: false, attributionControl: !!tiles, scrollWheelZoom: false });
  if (tiles && tiles !== "none") {
    L.tileLayer(tiles, { maxZoom: 19, attribution: el.getAttribute("data-attribution") || "" }).addTo(map);
  } else {
    el.classList.add("no-tiles");
  }
  var home = JSON.parse(el.getAttribute("data-home"));
  var points = [L.latLng(home[0], home[1])];
  L.circleMarker(points[0], { radius: 8, color: "#0a8a4a", weight: 3, fillColor: "#fff", fillOpacity: 1 })
    .addTo(map).bindTooltip("Your address");
  Array.prototype.forEach.call(items, function (item, i) {
    var p = L.latLng(parseFloat(item.getAttribute("data-lat")), parseFloat(item.getAttribute("data-lng")));
    points.push(p);
    var full = item.getAttribute("data-free") === "0";
    var marker = L.circleMarker(p, {
      radius: 9, color: "#fff", weight: 2, fillColor: full ? "#8a8f98" : "#e07b00", fillOpacity: 1
    }).addTo(map).bindTooltip((i + 1) + ". " + item.getAttribute("data-name") + (full ? " (full)" : ""));
    marker.on("click", function () { item.scrollIntoView({ behavior: "smooth", block: "center" }); });
  });
  map.fitBounds(L.latLngBounds(points).pad(0.2), { maxZoom: 16 });
})();
