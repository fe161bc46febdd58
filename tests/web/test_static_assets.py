"""Static files: fingerprinted links, a year's cache, gzip, and old names that still work."""

from __future__ import annotations

import gzip
import re

from lastmile_portal.config import PROJECT_ROOT
from tests.builders import make_delivery, make_route, make_world

STATIC = PROJECT_ROOT / "static"


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_the_tracking_page_links_fingerprinted_assets_cached_for_a_year(client, services) -> None:
    world = make_world(services)
    delivery = make_delivery(world)
    make_route(world, [delivery])

    urls = _asset_urls(client.get(f"/t/{delivery.tracking_token}").get_data(as_text=True))

    assert any("/js/track." in u for u in urls) and any("/css/app." in u for u in urls)
    for url in urls:
        assert re.fullmatch(r"/static/.+\.[0-9a-f]{12}\.(js|css)", url), url
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_script_comes_gzipped_to_browsers_that_ask_and_plain_to_others(client, app) -> None:
    with app.test_request_context():
        from flask import url_for

        url = url_for("static", filename="vendor/leaflet-1.9.4/leaflet.js")
    on_disk = (STATIC / "vendor/leaflet-1.9.4/leaflet.js").read_bytes()

    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    plain = client.get(url)

    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == on_disk
    assert len(zipped.data) < len(on_disk) / 3
    assert "Content-Encoding" not in plain.headers and plain.data == on_disk
    assert zipped.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    assert zipped.headers["ETag"] != plain.headers["ETag"]  # two representations
    assert zipped.mimetype == "text/javascript"


def test_a_reload_that_revalidates_gets_304(client) -> None:
    first = client.get("/static/css/app.css")

    again = client.get("/static/css/app.css", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304 and not again.data


def test_old_names_keep_working_but_are_checked_again(client) -> None:
    on_disk = (STATIC / "js/track.js").read_bytes()

    # The plain name (a page cached before fingerprints) and another release's fingerprint
    # (a page rendered by the process a deploy is replacing) both get today's file.
    for url in ("/static/js/track.js", "/static/js/track.0123456789ab.js"):
        response = client.get(url)
        assert response.status_code == 200 and response.data == on_disk, url
        assert response.headers["Cache-Control"] == "public, no-cache", url
        assert response.headers.get("ETag"), url


def test_stylesheet_images_are_fingerprinted_too(client, app) -> None:
    with app.test_request_context():
        from flask import url_for

        url = url_for("static", filename="vendor/leaflet-1.9.4/leaflet.css")
    css = client.get(url).get_data(as_text=True)

    image = re.search(r"url\((images/layers\.[0-9a-f]{12}\.png)\)", css)
    assert image, "layers.png is not fingerprinted in leaflet.css"
    served = client.get(f"/static/vendor/leaflet-1.9.4/{image[1]}")
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data == (STATIC / "vendor/leaflet-1.9.4/images/layers.png").read_bytes()
    assert "Content-Encoding" not in served.headers  # PNG is compressed already
    # Leaflet finds its marker images by this exact name at the end of the URL.
    assert "url(images/marker-icon.png)" in css


def test_unknown_and_escaping_names_are_404(client) -> None:
    for url in ("/static/no-such-file.js", "/static/../lastmile_portal/config.py"):
        assert client.get(url).status_code == 404, url
