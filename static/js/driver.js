// Driver page: post a sign-in link's #token=… (so it never travels in an address or a
// Referer), fill the delivered forms' position when the phone allows it, and keep a
// double tap from sending a form twice. Every form works without this script.
(function () {
  "use strict";

  var linkForm = document.getElementById("link-sign-in");
  var signInFromLink = function () {
    var match = /^#token=([^&]+)/.exec(window.location.hash);
    if (!linkForm || !match) return;
    // Out of the address bar (and the history) before anything else can read it.
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    linkForm.elements.token.value = decodeURIComponent(match[1]);
    linkForm.hidden = false;
    document.getElementById("paste-sign-in").hidden = true;
    linkForm.submit();
  };
  signInFromLink();
  // The link opened in a tab already showing this page changes only the fragment.
  window.addEventListener("hashchange", signInFromLink);

  var positioned = document.querySelectorAll("form[data-position]");
  if (positioned.length && navigator.geolocation) {
    var fill = function (pos) {
      Array.prototype.forEach.call(positioned, function (form) {
        form.elements.lat.value = pos.coords.latitude.toFixed(6);
        form.elements.lng.value = pos.coords.longitude.toFixed(6);
      });
    };
    var watching = false;
    var watch = function () {
      if (watching) return;
      watching = true;
      // No answer, a refusal or a timeout leaves the fields empty: the form still sends.
      navigator.geolocation.watchPosition(fill, function () {}, {
        enableHighAccuracy: true, maximumAge: 30000, timeout: 20000
      });
    };
    if (navigator.permissions && navigator.permissions.query) {
      navigator.permissions.query({ name: "geolocation" }).then(function (status) {
        if (status.state === "granted") watch();
      }, function () {});
    }
    // Asked only when the driver starts a delivery, not on opening the page.
    Array.prototype.forEach.call(positioned, function (form) {
      form.addEventListener("focusin", watch);
      form.addEventListener("click", watch);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (!button) return;
      // After this tick, so the submission itself is not cancelled by the disabled button.
      window.setTimeout(function () {
        button.disabled = true;
        button.classList.add("busy");
      }, 0);
    });
  });
})();
