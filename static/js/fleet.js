// Fleet map (support, issue 14): a depot's drivers with their route lines and remaining stops,
// late stops in red; positions move live over Socket.IO (the staff room fleet:<depot> on
// /live, joined with the staff session cookie). Stops and late flags refresh every minute.
(function () {
  "use strict";
  var dataEl = document.getElementById("fleet-data");
  if (!dataEl || typeof L === "undefined") return;
  var data = JSON.parse(dataEl.textContent);
  var timeFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: data.timezone });
  function hm(iso) { return iso ? timeFmt.format(new Date(iso)) : ""; }
  var COLOURS = ["#1a5cff", "#8a3ffc", "#0a8a8a", "#b25e00", "#d12771", "#2a7a2a", "#6b5b00", "#5d6673"];
  var LATE = "#c0262d";
  var conn = document.getElementById("fleet-conn");

  var depot = data.fleet.depot;
  var map = L.map("fleet-map", { zoomControl: true, attributionControl: !!data.tiles });
  map.setView([depot.lat, depot.lng], 13);  // a view before any layer: Leaflet needs one
  if (data.tiles) {
    L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
  } else {
    document.getElementById("fleet-map").classList.add("no-tiles");
  }
  L.circleMarker([depot.lat, depot.lng], { radius: 9, color: "#1c1f24", weight: 3, fillColor: "#fff", fillOpacity: 1 })
    .addTo(map).bindTooltip("Depot " + depot.name);

  var layers = {};   // driver id -> { route: LayerGroup, marker: CircleMarker|null, colour }
  var order = {};    // driver id -> index (colour)

  function draw(fleet, fit) {
    var bounds = L.latLngBounds([[depot.lat, depot.lng]]);
    fleet.drivers.forEach(function (d, i) {
      if (!(d.id in order)) order[d.id] = i;
      var colour = COLOURS[order[d.id] % COLOURS.length];
      var entry = layers[d.id] || (layers[d.id] = { route: L.layerGroup().addTo(map), marker: null, colour: colour });
      entry.route.clearLayers();
      // The whole plan faint and dashed; what is left (driver → open stops → depot) solid.
      L.polyline(d.line, { color: colour, weight: 2, opacity: 0.35, dashArray: "4 6" }).addTo(entry.route);
      entry.ahead = d.stops.map(function (s) { return [s.lat, s.lng]; }).concat([[depot.lat, depot.lng]]);
      entry.aheadLine = L.polyline(d.position ? [d.position].concat(entry.ahead) : entry.ahead,
        { color: colour, weight: 4, opacity: 0.85 }).addTo(entry.route);
      d.line.forEach(function (p) { bounds.extend(p); });
      if (d.position) bounds.extend(d.position);
      d.stops.forEach(function (s) {
        var tip = d.name + " · stop " + s.seq + (s.parcels > 1 ? " (" + s.parcels + " parcels)" : "") +
          (s.expected ? " · expected " + hm(s.expected) : "") +
          (s.windowEnd ? " · window ends " + hm(s.windowEnd) : "") + (s.late ? " · LATE" : "");
        L.circleMarker([s.lat, s.lng], {
          radius: s.late ? 7 : 5, color: s.late ? LATE : colour, weight: s.late ? 3 : 2,
          fillColor: s.late ? LATE : "#fff", fillOpacity: 1, className: s.late ? "ops-stop-late" : "ops-stop"
        }).addTo(entry.route).bindTooltip(tip);
      });
      if (d.position) place(d.id, d.position[0], d.position[1], d.at);
    });
    // Drivers above every line and stop, whichever was drawn last.
    Object.keys(layers).forEach(function (id) { if (layers[id].marker) layers[id].marker.bringToFront(); });
    if (fit) map.fitBounds(bounds.pad(0.1));
  }

  function place(id, lat, lng, at) {
    var entry = layers[id];
    if (!entry) return;  // not a driver of this page (a route planned since: the refresh adds it)
    if (!entry.marker) {
      var name = data.fleet.drivers.filter(function (d) { return d.id === id; }).map(function (d) { return d.name; })[0] || "Driver";
      entry.marker = L.circleMarker([lat, lng], {
        radius: 11, color: "#1c1f24", weight: 3, fillColor: entry.colour, fillOpacity: 1, className: "ops-driver-marker"
      }).addTo(map).bindTooltip(name);
    } else {
      entry.marker.setLatLng([lat, lng]);
    }
    if (entry.aheadLine) entry.aheadLine.setLatLngs([[lat, lng]].concat(entry.ahead));
    var el = entry.marker.getElement && entry.marker.getElement();
    if (el) {
      el.setAttribute("data-driver", id);
      el.setAttribute("data-lat", lat.toFixed(6));
      el.setAttribute("data-lng", lng.toFixed(6));
    }
    var item = document.querySelector('[data-testid=fleet-driver][data-driver="' + id + '"] [data-testid=position-at]');
    if (item && at) item.textContent = "position " + hm(at);
  }

  draw(data.fleet, true);

  function refresh() {
    fetch(data.refresh, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fleet) { if (fleet) { data.fleet = fleet; draw(fleet, false); } })
      .catch(function () {});
  }
  setInterval(refresh, 60000);

  if (typeof io === "undefined") return;
  var socket = io("/live", { auth: { fleet: depot.id }, transports: ["websocket", "polling"] });
  socket.on("connect", function () { if (conn) conn.textContent = "Live"; refresh(); });
  socket.on("disconnect", function () { if (conn) conn.textContent = "Reconnecting…"; });
  socket.on("connect_error", function (err) {
    if (conn) conn.textContent = err && err.message === "staff sign-in required" ? "Sign in again for live positions" : "Reconnecting…";
  });
  socket.on("fleet_position", function (p) { place(p.driver_id, p.lat, p.lng, p.at); });
})();
