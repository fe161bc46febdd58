"""Addresses to coordinates with a Nominatim server (the only module that calls one)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections import OrderedDict

from ..domain.errors import ServiceUnavailable
from ..domain.routing import Point

log = logging.getLogger("lastmile.geocoder")

USER_AGENT = "lastmile-portal/1 (self-hosted parcel tracking)"
CACHE_SIZE = 20_000


class NominatimGeocoder:
    """Look addresses up with Nominatim's structured search; remember the answers.

    The public nominatim.openstreetmap.org asks for at most one request a second and an
    identifying User-Agent: ``min_interval_s`` spaces requests out. A carrier importing
    thousands of parcels a day runs its own Nominatim (then 0). Answers, found or not,
    are kept in a bounded in-process cache: the same street comes back all day.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        min_interval_s: float = 1.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.user_agent = user_agent
        self._cache: OrderedDict[tuple[str, ...], Point | None] = OrderedDict()
        self._lock = threading.Lock()
        self._last_request = 0.0

    def locate(self, line: str, postcode: str, city: str, country: str | None) -> Point | None:
        """Return where the address is, None if Nominatim knows no such place.

        Raise ServiceUnavailable when the server cannot be asked (down, slow, garbled).
        """
        key = (line.casefold(), postcode.casefold(), city.casefold(), (country or "").casefold())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        found = self._ask(line, postcode, city, country)
        with self._lock:
            self._cache[key] = found
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return found

    def _ask(self, line: str, postcode: str, city: str, country: str | None) -> Point | None:
        query = {
            "street": line,
            "postalcode": postcode,
            "city": city,
            "format": "jsonv2",
            "limit": "1",
            "addressdetails": "0",
        }
        if country:
            query["countrycodes"] = country.lower()
        url = f"{self.base_url}/search?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        self._wait_turn()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.load(response)
        except (OSError, ValueError) as error:
            log.warning("geocoder request failed: %s", error)
            raise ServiceUnavailable("geocoder", str(error)) from None
        if not isinstance(body, list):
            raise ServiceUnavailable("geocoder", "answered something other than a list")
        if not body:
            return None
        try:
            lat, lng = float(body[0]["lat"]), float(body[0]["lon"])
        except (KeyError, TypeError, ValueError):
            raise ServiceUnavailable("geocoder", "answered a place without lat/lon") from None
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ServiceUnavailable("geocoder", "answered coordinates out of range")
        return Point(lat, lng)

    def _wait_turn(self) -> None:
        if self.min_interval_s <= 0:
            return
        with self._lock:
            wait = self._last_request + self.min_interval_s - time.monotonic()
            self._last_request = max(time.monotonic(), self._last_request + self.min_interval_s)
        if wait > 0:
            time.sleep(wait)
