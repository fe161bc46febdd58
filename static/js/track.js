// Tracking page: the recipient's address and the driver on a map drawn without image assets
// (useful with tiles off), kept live over Socket.IO. Every (re)connect brings a full snapshot,
// so the page is right again after a network drop or a server restart without a reload.
(function () {
  "use strict";
  var dataEl = document.getElementById("tracking-data");
  if (!dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var $ = function (sel) { return document.querySelector(sel); };
  var timeFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: data.timezone });
  var dayFmt = new Intl.DateTimeFormat("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: data.timezone });
  function hm(iso) { return iso ? timeFmt.format(new Date(iso)) : ""; }
  // The server's clock, not the browser's (the demo's runs from a working-day morning).
  var serverNow = document.querySelector("meta[name=server-now]");
  var skew = serverNow ? new Date(serverNow.content).getTime() - Date.now() || 0 : 0;
  function now() { return Date.now() + skew; }

  // ---- map
  var map = null, driver = null, line = null, anim = null;
  var destination = L.latLng(data.destination[0], data.destination[1]);
  if (typeof L !== "undefined" && $("#map")) {
    map = L.map("map", { zoomControl: true, attributionControl: !!data.tiles });
    if (data.tiles) {
      L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
    } else {
      $("#map").classList.add("no-tiles");
    }
    L.circleMarker(destination, { radius: 10, color: "#0a8a4a", weight: 3, fillColor: "#fff", fillOpacity: 1 })
      .addTo(map).bindTooltip(data.destinationLabel === "the locker" ? "Locker" : "Your address");
    map.setView(destination, 15);
  }

  function fit() {
    if (map && driver) map.fitBounds(L.latLngBounds([destination, driver.getLatLng()]).pad(0.35), { maxZoom: 16 });
  }

  function placeDriver(lat, lng, smooth) {
    if (!map) return;
    var target = L.latLng(lat, lng);
    if (!driver) {
      // Only the way from the driver to this address is drawn: no other stop is ever shown.
      line = L.polyline([target, destination], { color: "#1a5cff", weight: 3, dashArray: "6 8", opacity: 0.7 }).addTo(map);
      driver = L.circleMarker(target, { radius: 9, color: "#fff", weight: 3, fillColor: "#1a5cff", fillOpacity: 1 })
        .addTo(map).bindTooltip("Driver");
      fit();
      return;
    }
    if (anim) cancelAnimationFrame(anim);
    var from = driver.getLatLng(), t0 = performance.now(), ms = smooth ? 900 : 0;
    var step = function (now) {
      var f = ms ? Math.min(1, (now - t0) / ms) : 1;
      var p = L.latLng(from.lat + (target.lat - from.lat) * f, from.lng + (target.lng - from.lng) * f);
      driver.setLatLng(p);
      line.setLatLngs([p, destination]);
      anim = f < 1 ? requestAnimationFrame(step) : null;
    };
    anim = requestAnimationFrame(step);
  }

  function removeDriver() {
    if (driver) { driver.remove(); line.remove(); driver = null; line = null; }
  }

  // ---- text
  var last = data.driver ? { lat: data.driver[0], lng: data.driver[1], at: data.driverAt } : null;
  var hiddenUntil = data.hiddenUntil;

  function metres(a, b) {
    var r = 6371008.8, rad = Math.PI / 180;
    var dlat = (b.lat - a.lat) * rad, dlng = (b.lng - a.lng) * rad;
    var h = Math.pow(Math.sin(dlat / 2), 2) + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.pow(Math.sin(dlng / 2), 2);
    return 2 * r * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function ago(iso) {
    var s = Math.max(0, Math.round((now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return s + " s ago";
    var m = Math.round(s / 60);
    return m === 1 ? "1 min ago" : m + " min ago";
  }

  function renderMapText() {
    var el = $("[data-testid=map-text]");
    if (!el) return;
    if (last) {
      var d = metres(last, destination);
      var dist = d < 1000 ? Math.round(d / 10) * 10 + " m" : (d / 1000).toFixed(1) + " km";
      var stale = now() - new Date(last.at).getTime() > 120000;
      el.textContent = "Driver " + dist + " from " + data.destinationLabel + ", position updated " + ago(last.at) +
        (stale ? " (the driver's phone has not reported recently)." : ".");
      el.classList.toggle("stale", stale);
    } else if (hiddenUntil) {
      el.textContent = "The driver appears on the map when there are " + hiddenUntil + " or fewer stops before yours.";
    }
  }

  function renderEta(eta, stopsBefore) {
    var block = $("#eta-block");
    if (!block) return;
    if (!eta || !eta.earliest) { block.hidden = true; return; }
    block.hidden = false;
    $("[data-testid=eta]").textContent = hm(eta.earliest) + "–" + hm(eta.latest);
    if (eta.confidence) $("[data-testid=eta-confidence]").textContent = Math.round(eta.confidence * 100) + "\u00a0% sure:";
    var stops = $("[data-testid=stops-before]");
    if (stopsBefore === null || stopsBefore === undefined) stops.textContent = "";
    else if (stopsBefore === 0) stops.textContent = "You are the next stop";
    else if (stopsBefore === 1) stops.textContent = "1 stop before yours";
    else stops.textContent = stopsBefore + " stops before yours";
  }

  function renderStatus(status, label, finished) {
    $("[data-testid=status]").textContent = label;
    var hero = $("#hero");
    hero.className = hero.className.replace(/status-\S+/, "status-" + status);
    document.title = "Parcel " + $(".tn").textContent + " · " + label;
    if (status === "failed") {
      // As the page says it on load: no ETA for an attempt that is over.
      removeDriver(); last = null; $("#eta-block").hidden = true;
      var failedText = $("[data-testid=map-text]");
      if (failedText) {
        failedText.textContent = "We could not hand your parcel over this time. Pick a new day or a parcel locker below, and it comes again.";
        failedText.classList.remove("stale");
      }
    }
    if (finished) {
      $("#eta-block").hidden = true; $("#window-block").hidden = true; removeDriver(); last = null;
      // The line about the driver, as the page says it once delivered (track.html).
      var who = $("[data-testid=driver]");
      if (who) who.childNodes.forEach(function (n) {
        if (n.nodeType === 3 && n.textContent.indexOf("Your driver is") >= 0) n.textContent = n.textContent.replace("Your driver is", "Delivered by");
      });
      var text = $("[data-testid=map-text]");
      if (text) {
        text.textContent = status === "collected" ? "You collected your parcel."
          : status === "returned" ? "Your parcel went back to the sender."
          : data.destinationLabel === "the locker" ? "Your parcel is in the locker." : "Your parcel has arrived.";
        text.classList.remove("stale");
      }
    }
  }

  function renderHistory(items) {
    var ol = $("#timeline");
    ol.innerHTML = "";
    items.forEach(function (h, i) {
      var li = document.createElement("li");
      li.className = i === items.length - 1 ? "current" : "done";
      var when = document.createElement("span");
      when.className = "when";
      when.textContent = dayFmt.format(new Date(h.at)) + " " + hm(h.at);
      var what = document.createElement("span");
      what.className = "what";
      what.textContent = h.label;
      li.appendChild(when); li.appendChild(document.createTextNode(" ")); li.appendChild(what);
      ol.appendChild(li);
    });
  }

  // ---- proof of delivery: the sentence and the driver's photos, behind short-lived signed links
  function renderProof(p) {
    var section = $("#proof");
    if (!section) return;
    if (!p || !p.photos || !p.photos.length) { section.hidden = true; return; }
    $("#proof-heading").textContent = p.heading;
    $("[data-testid=proof-summary]").textContent = p.summary + ".";
    var list = $("#proof-photos");
    list.innerHTML = "";
    p.photos.forEach(function (photo, i) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = photo.full; a.target = "_blank"; a.rel = "noopener";
      a.setAttribute("data-testid", "proof-link");
      var img = document.createElement("img");
      // The full size's proportions reserve the thumbnail's place before it loads.
      var scale = Math.min(1, 320 / Math.max(photo.width, photo.height, 1));
      img.width = Math.max(1, Math.round(photo.width * scale));
      img.height = Math.max(1, Math.round(photo.height * scale));
      img.alt = p.heading + (p.photos.length > 1 ? " (" + (i + 1) + " of " + p.photos.length + ")" : "");
      img.src = photo.thumb;
      img.setAttribute("data-testid", "proof-photo");
      a.appendChild(img); li.appendChild(a); list.appendChild(li);
    });
    section.hidden = false;
  }

  if (last) placeDriver(last.lat, last.lng, false);
  renderMapText();
  setInterval(renderMapText, 10000);

  // ---- live
  if (typeof io === "undefined") return;
  var history = [];
  var version = 0;
  var shownStatus = data.status;  // the status the page's sections were built for
  var socket = io("/live", { auth: { token: data.token }, transports: ["websocket", "polling"] });
  socket.on("connect", function () { $("#conn").hidden = true; });
  socket.on("disconnect", function () { $("#conn").hidden = false; });
  socket.on("connect_error", function () { $("#conn").hidden = false; });
  // The photo links expire (PHOTO_URL_TTL_S): a minute before, ask for a snapshot with fresh
  // ones. Timed from the server's own ttl, so a phone whose clock is off still gets them.
  var proofRefresh = null;
  function showProof(p) {
    renderProof(p);
    if (proofRefresh) clearTimeout(proofRefresh);
    proofRefresh = null;
    if (p && p.ttl_s) {
      proofRefresh = setTimeout(function () {
        if (socket.connected) socket.emit("resync");
      }, Math.max(30, p.ttl_s - 60) * 1000);
    }
  }
  socket.on("snapshot", function (s) {
    if (s.version < version) return;
    version = s.version;
    renderStatus(s.status, s.label, s.finished);
    showProof(s.proof);
    renderEta(s.eta, s.stops_before);
    hiddenUntil = s.driver_hidden_until_stops;
    if (s.position) { last = s.position; placeDriver(last.lat, last.lng, true); }
    else { last = null; removeDriver(); }
    history = s.history;
    renderHistory(history);
    renderMapText();
    // A status the sections were not built for: its live change came while the socket was
    // down (a phone offline, a socket still connecting), so they are asked for now.
    if (s.status !== shownStatus) { shownStatus = s.status; refreshChanges(); }
    document.body.dataset.live = "1";
  });
  socket.on("position", function (p) {
    last = p;
    hiddenUntil = null;
    placeDriver(p.lat, p.lng, true);
    renderMapText();
  });
  socket.on("proof", function (p) { showProof(p); });
  // Moved to another slot from elsewhere (support, a text): the promised window follows.
  socket.on("window", function (w) {
    var shown = document.querySelector('#window-block [data-testid="window"]');
    if (shown && w.text) { shown.textContent = w.text; $("#window-block").hidden = false; }
  });
  socket.on("eta", function (e) {
    renderEta(e, e.stops_before);
  });
  // The change sections (instructions, car, texts, lockers, slots, rating) depend on the
  // status: when it moves, fetch the page once and take the server's own sections, so a
  // delivered parcel offers the rating, not forms it can no longer use, and a failed one
  // the slots and lockers it can choose now. The map, the socket and the proof stay.
  // The pickup code never travels over the socket: this fetch brings it, for the recipient
  // only. A change that comes while a fetch is under way fetches once more after it, so the
  // last change is always the one shown.
  var refreshing = false, again = false;
  function refreshChanges() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        // The sections, the locker's pickup slot, and the address line's words
        // ("Delivering to" / "Delivered to").
        ["#changes", "#pickup-slot", ".map-card .address"].forEach(function (sel) {
          var here = document.querySelector(sel), fresh = doc.querySelector(sel);
          if (here && fresh) here.replaceWith(document.importNode(fresh, true));
        });
      })
      .catch(function () { /* the page keeps its sections; a reload shows the fresh ones */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refreshChanges(); }
      });
  }
  socket.on("status", function (s) {
    shownStatus = s.status;
    var finished = s.status === "delivered" || s.status === "at_locker" || s.status === "collected" || s.status === "returned";
    renderStatus(s.status, s.label, finished);
    history.push({ status: s.status, label: s.label, at: s.at });
    renderHistory(history);
    refreshChanges();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && socket.connected) socket.emit("resync");
  });
})();
