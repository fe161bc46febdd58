// Car boot delivery: with JavaScript, the phone's position can pin where the car is parked.
// Without it the words in "Where is it parked?" are enough; nothing else here needs a script.
(function () {
  "use strict";
  var box = document.getElementById("car-pin");
  if (!box || !navigator.geolocation) return;
  var button = document.getElementById("car-pin-button");
  var text = document.getElementById("car-pin-text");
  var lat = document.getElementById("car-lat");
  var lng = document.getElementById("car-lng");
  box.hidden = false;
  button.addEventListener("click", function () {
    text.textContent = "Finding your position…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      lat.value = pos.coords.latitude.toFixed(6);
      lng.value = pos.coords.longitude.toFixed(6);
      text.textContent = "The car's position is set to where you are now (±" +
        Math.round(pos.coords.accuracy) + " m). Save to keep it.";
    }, function () {
      text.textContent = "Your phone did not give a position; the words above are enough.";
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
})();
