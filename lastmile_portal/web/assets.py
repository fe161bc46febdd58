"""Serve static/ under fingerprinted names, gzipped, cached by browsers for a year.

At startup every file under static/ is read once into memory (about 230 KB, 75 KB more
gzipped) and named after its content: ``css/app.css`` is linked as
``css/app.<12 hex digits>.css``. A fingerprinted URL never changes meaning, so it is
served ``immutable`` with a year's lifetime: a reload costs no request at all. A new
release changes the digest, so browsers fetch the new file.

Old names keep working, so no page breaks during a deploy: the plain name (an old
bookmark, a third party's link) and a fingerprint from another release (a page rendered
by the process being replaced) both get today's file, with ``no-cache`` so the browser
asks again next time. CSS ``url(...)`` references are rewritten to fingerprinted names,
and the stylesheet's own digest covers the rewritten text.

Files edited while the process runs are not seen until it restarts (``make run`` never
reloads code either).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Flask
from werkzeug.wrappers import Request, Response

# A year: the longest lifetime HTTP caches honour (RFC 9111 recommends no more).
IMMUTABLE = "public, max-age=31536000, immutable"
# An unfingerprinted or stale name: usable, but checked again on the next view.
REVALIDATE = "public, no-cache"
DIGEST_LENGTH = 12
FINGERPRINTED = re.compile(
    rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<suffix>\.[A-Za-z0-9]+)$"
)
# Text compresses by 3-5x; PNG and friends are compressed already.
COMPRESSIBLE = {".css", ".js", ".json", ".map", ".svg", ".txt", ".md", ".html", ".xml"}
# Smaller than this, gzip's header and a second cached variant cost more than they save.
MIN_GZIP_BYTES = 512
CSS_URL = re.compile(r"""url\(\s*(?P<quote>['"]?)(?P<target>[^'")]+)(?P=quote)\s*\)""")
# Leaflet finds its default marker's folder by matching ``marker-icon.png`` at the end of
# this CSS rule's URL; a fingerprinted name would make it load "nullmarker-icon.png".
KEEP_CSS_NAMES = {"marker-icon.png"}


@dataclass(frozen=True)
class Asset:
    """One static file as served: its bytes (and gzipped bytes), type and fingerprint."""

    name: str
    body: bytes
    gzipped: bytes | None
    digest: str
    mimetype: str

    @property
    def url_name(self) -> str:
        """Return the fingerprinted name (``js/track.<digest>.js``)."""
        path = PurePosixPath(self.name)
        return str(path.with_name(f"{path.stem}.{self.digest}{path.suffix}"))


class Assets:
    """The static files of one app, fingerprinted once at startup."""

    def __init__(self, root: Path) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_url_name: dict[str, Asset] = {}
        files = sorted(p for p in root.rglob("*") if p.is_file())
        # Stylesheets last: their digests cover the fingerprinted names they refer to.
        for path in sorted(files, key=lambda p: p.suffix == ".css"):
            name = path.relative_to(root).as_posix()
            body = path.read_bytes()
            if path.suffix == ".css":
                body = self._rewrite_css(name, body)
            self._add(name, body)

    def url_name(self, name: str) -> str:
        """Return the name to link ``name`` by: fingerprinted when it is a known file."""
        asset = self.by_name.get(name)
        return asset.url_name if asset else name

    def find(self, filename: str) -> tuple[Asset, bool] | None:
        """Return the asset a URL names and whether that URL is this release's fingerprint."""
        if asset := self.by_url_name.get(filename):
            return asset, True
        if asset := self.by_name.get(filename):
            return asset, False
        match = FINGERPRINTED.match(filename)
        if match and (asset := self.by_name.get(match["stem"] + match["suffix"])):
            return asset, False  # another release's fingerprint: today's file, not for keeps
        return None

    def _add(self, name: str, body: bytes) -> None:
        suffix = PurePosixPath(name).suffix.lower()
        gzipped = None
        if suffix in COMPRESSIBLE and len(body) >= MIN_GZIP_BYTES:
            # mtime=0: the same bytes on every start and in every process behind the balancer.
            gzipped = gzip.compress(body, compresslevel=9, mtime=0)
        asset = Asset(
            name=name,
            body=body,
            gzipped=gzipped,
            digest=hashlib.sha256(body).hexdigest()[:DIGEST_LENGTH],
            mimetype=mimetypes.guess_type(name)[0] or "application/octet-stream",
        )
        self.by_name[name] = asset
        self.by_url_name[asset.url_name] = asset

    def _rewrite_css(self, name: str, body: bytes) -> bytes:
        folder = PurePosixPath(name).parent

        def fingerprint(match: re.Match[str]) -> str:
            target = match["target"].strip()
            if ":" in target or target.startswith(("/", "#")) or "?" in target:
                return match[0]  # data: URIs, other origins, absolute paths, fragments
            if PurePosixPath(target).name in KEEP_CSS_NAMES:
                return match[0]
            resolved = _normalise(folder / target)
            asset = self.by_name.get(resolved) if resolved else None
            if asset is None:
                return match[0]
            # Keep the reference relative: only its last part gains the fingerprint.
            head, _, _ = target.rpartition("/")
            new = PurePosixPath(asset.url_name).name
            quote = match["quote"]
            return f"url({quote}{head + '/' if head else ''}{new}{quote})"

        return CSS_URL.sub(fingerprint, body.decode("utf-8")).encode("utf-8")


def _normalise(path: PurePosixPath) -> str | None:
    """Resolve ``..`` in a path under static/; None when it climbs out."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def register(app: Flask) -> Assets:
    """Fingerprint ``app``'s static folder: link by fingerprint, serve in front of Flask."""
    assert app.static_folder is not None and app.static_url_path is not None
    assets = Assets(Path(app.static_folder))
    app.extensions["lastmile_assets"] = assets

    @app.url_defaults
    def link_fingerprinted(endpoint: str, values: dict[str, object]) -> None:
        filename = values.get("filename")
        if endpoint == "static" and isinstance(filename, str):
            values["filename"] = assets.url_name(filename)

    app.wsgi_app = AssetsMiddleware(app.wsgi_app, assets, app.static_url_path)  # type: ignore[method-assign]
    return assets


class AssetsMiddleware:
    """Answer requests for known static files before Flask sees them.

    Outside Flask, no after-request hook touches the session (Flask-Login's does on every
    response, which adds ``Vary: Cookie`` and would keep shared caches from storing the
    files) and no rate limit or database work is spent on them. Unknown names go on to
    Flask, whose static view answers 404 as usual. The security headers still come from the
    WSGI wrapper security.register puts around this one.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], assets: Assets, prefix: str):
        self.wsgi_app = wsgi_app
        self.assets = assets
        self.prefix = prefix.rstrip("/") + "/"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve a known static file, or pass the request on to the app."""
        path: str = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and path.startswith(self.prefix):
            found = self.assets.find(path[len(self.prefix) :])
            if found is not None:
                return _response(Request(environ), *found)(environ, start_response)
        return self.wsgi_app(environ, start_response)


def _response(request: Request, asset: Asset, current: bool) -> Response:
    body, etag = asset.body, asset.digest
    use_gzip = asset.gzipped is not None and request.accept_encodings["gzip"] > 0
    if use_gzip:
        assert asset.gzipped is not None
        body, etag = asset.gzipped, f"{asset.digest}-gz"
    response = Response(body, mimetype=asset.mimetype)
    if use_gzip:
        response.headers["Content-Encoding"] = "gzip"
    if asset.gzipped is not None:
        response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
    response.set_etag(etag)
    return response.make_conditional(request)
