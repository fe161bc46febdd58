// Slot changes: the cut-off countdown, kept live. The server's text is right at load; this
// ticks it down and, on the tracking page, follows the live ETA: track.js's socket is private,
// so the socket.io client's event dispatch is wrapped to see its `eta` and `snapshot` events
// (no second connection). The server decides again on every form posted.
(function () {
  "use strict";
  var box = document.querySelector("[data-countdown]");
  var closedText = document.querySelector("[data-testid=slots-closed]");
  if (!box) return;
  var closesAt = new Date(box.dataset.closesAt);
  var cutoffMinutes = parseInt(box.dataset.cutoffMinutes, 10);
  var cutoffStops = parseInt(box.dataset.cutoffStops, 10);
  var enRoute = box.dataset.enRoute === "1";
  var timeFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: box.dataset.timezone || undefined });
  var stopsBefore = null;
  // The server's clock, not the browser's (the demo's runs from a working-day morning).
  var serverNow = document.querySelector("meta[name=server-now]");
  var skew = serverNow ? new Date(serverNow.content).getTime() - Date.now() || 0 : 0;

  function closeWith(reason) {
    box.hidden = true;
    if (closedText) { closedText.textContent = reason; closedText.hidden = false; }
    document.querySelectorAll("[data-slots-action]").forEach(function (el) { el.hidden = true; });
  }

  function render() {
    if (enRoute && stopsBefore !== null && stopsBefore < cutoffStops) {
      var near = stopsBefore === 0 ? "the next stop" : (stopsBefore + 1) + " stops away";
      return closeWith("The driver is " + near + ": it is too late to change this delivery.");
    }
    var minutes = Math.ceil((closesAt.getTime() - (Date.now() + skew)) / 60000);
    if (minutes <= 0) {
      return closeWith("The driver is due within " + cutoffMinutes + " minutes: it is too late to change this delivery.");
    }
    box.textContent = minutes <= 120
      ? "Changes possible for " + minutes + " more minute" + (minutes === 1 ? "" : "s") + "."
      : "Changes possible until " + timeFmt.format(closesAt) + ".";
  }

  function onEta(eta, stops) {
    if (!eta || !eta.expected) return;
    closesAt = new Date(new Date(eta.expected).getTime() - cutoffMinutes * 60000);
    if (typeof stops === "number") stopsBefore = stops;
    render();
  }

  if (typeof io !== "undefined" && io.Socket && io.Socket.prototype.emitEvent) {
    var dispatch = io.Socket.prototype.emitEvent;
    io.Socket.prototype.emitEvent = function (args) {
      try {
        if (args[0] === "eta") onEta(args[1], args[1] && args[1].stops_before);
        else if (args[0] === "snapshot" && args[1]) onEta(args[1].eta, args[1].stops_before);
      } catch (e) { /* the countdown must never break the page's own handlers */ }
      return dispatch.apply(this, arguments);
    };
  }
  render();
  setInterval(render, 15000);
})();
