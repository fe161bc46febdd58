"""Socket.IO namespaces, and the log filter that keeps a client's garbage frames to one line."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

import engineio.packet
from flask_socketio import ConnectionRefusedError, Namespace

from ..web.errors import MESSAGES

log = logging.getLogger("lastmile.sockets")


class ClientNamespace(Namespace):
    """Dispatch a client's events to ``on_<event>``; our own failures are logged, not raised.

    Raised, they would end in a background thread's traceback on stderr (python-socketio
    runs events in threads), outside the logging configuration.
    """

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Run the handler for ``event``; a failing one is logged and answered with a 500."""
        if event == "connect" and not self._connecting(args):
            # A client may name an event "connect": it must not re-run authentication.
            return None
        try:
            return super().trigger_event(event, *args)
        except ConnectionRefusedError:
            raise
        except Exception:
            log.exception("%s handler on %s failed", event, self.namespace)
            if event == "connect":
                return False  # refuse: a check that failed never lets anyone in
            return {"error": MESSAGES[500], "status": 500}

    def _connecting(self, args: tuple[Any, ...]) -> bool:
        # python-socketio passes (sid, environ, auth) for a real connect; the environ is the
        # server's own object, which no client-sent argument can be.
        return len(args) >= 2 and args[1] is self.server.get_environ(args[0], self.namespace)


class RefusingNamespace(Namespace):
    """Refuse every connection (for ``/``: nothing is served there)."""

    def on_connect(self, auth: Any = None) -> None:
        """Refuse the connection."""
        raise ConnectionRefusedError("unknown namespace")


class EngineIoGuard:
    """Answer the long-polling requests python-engineio would hang or crash on, with a 4xx.

    Two library faults, both reachable by anyone: a POST carrying an unknown packet type
    or too many bytes makes python-engineio close the session and wait for a poll that
    never comes, so the request's thread hangs for good; and a POST to a session closed
    a moment before raises KeyError, a 500 with a traceback. Bodies are checked here
    first (Engine.IO v4: text packets joined by 0x1E, each starting with a type a client
    may send), and that KeyError becomes a 400.
    """

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        path: str = "/socket.io/",
        max_bytes: int = 1_000_000,  # python-engineio's own max_http_buffer_size
    ) -> None:
        self.wsgi_app = wsgi_app
        self.path = path
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Check a long-polling request, then hand it to Engine.IO."""
        if not str(environ.get("PATH_INFO", "")).startswith(self.path):
            return self.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":
            refusal = self._check_body(environ)
            if refusal is not None:
                return _refuse(start_response, *refusal)
        try:
            return self.wsgi_app(environ, start_response)
        except KeyError as error:  # "Session is disconnected": closed between two look-ups
            log.warning("Socket.IO request for a closed session: %s", error)
            return _refuse(start_response, "400 BAD REQUEST", "Invalid session")

    def _check_body(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        raw_length = str(environ.get("CONTENT_LENGTH") or "0")
        if not raw_length.isascii() or not raw_length.isdecimal():
            return "400 BAD REQUEST", "Bad Content-Length"
        length = int(raw_length)
        if length > self.max_bytes:
            return "413 REQUEST ENTITY TOO LARGE", "Payload too large"
        body = environ["wsgi.input"].read(length)
        # Engine.IO reads the body again: give it the same bytes.
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "400 BAD REQUEST", "Payload is not UTF-8"
        if text and not all(p[:1] in _PACKET_TYPES for p in text.split("\x1e")):
            return "400 BAD REQUEST", "Unknown packet type"
        return None


# What a client may send (close, pong, message, upgrade, binary message); python-engineio
# answers anything else, its own "open", "ping" and "noop" included, by hanging.
_PACKET_TYPES = frozenset("1345b")


def _refuse(start_response: Callable[..., Any], status: str, message: str) -> list[bytes]:
    body = message.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


# Errors python-socketio, python-engineio and json raise while decoding or dispatching a
# client's bytes; anything else (a broken Redis, say) keeps its traceback.
_CLIENT_INPUT_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
)
_OUR_CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_ENGINEIO_PACKET = f'File "{engineio.packet.__file__}"'
# Our WSGI wrappers (security headers, static files, EngineIoGuard) only pass requests
# through: their frames are in every traceback and say nothing about who raised.
_PASS_THROUGH = {
    (os.path.join(_OUR_CODE, "web", "security.py"), "__call__"),
    (os.path.join(_OUR_CODE, "web", "assets.py"), "__call__"),
    (os.path.abspath(__file__), "__call__"),
}


def _is_ours(filename: str, function: str) -> bool:
    return filename.startswith(_OUR_CODE) and (filename, function) not in _PASS_THROUGH


class MalformedFrameFilter(logging.Filter):
    """Turn a library's ERROR about a client's undecodable bytes into one short WARNING line.

    python-engineio logs "message handler error" / "post request handler error" with a
    traceback for every Socket.IO packet it cannot decode, and Werkzeug logs "Error on
    request" with one when an Engine.IO frame cannot be decoded: a cheap log flood. Records
    with a frame of our code in their traceback are left alone. Werkzeug also logs "code
    400, message Bad request syntax (...)" at ERROR for any unparsable request line, which
    includes a websocket's last frames read as the next request once the socket is done.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place when it is about such bytes; never drop it."""
        if record.levelno < logging.ERROR:
            return True
        summary = _malformed_frame(record)
        if summary is not None:
            record.msg, record.args = "ignored a malformed Socket.IO frame: %r", (summary,)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        elif _bad_request_line(record):
            code, message = record.args  # type: ignore[misc]
            record.args = (code, str(message)[:120])
        else:
            return True
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _malformed_frame(record: logging.LogRecord) -> str | None:
    """Return a short description when ``record`` is about a client's garbage, else None."""
    if record.name == "engineio.server" and record.exc_info:
        error = record.exc_info[1]
        if isinstance(error, _CLIENT_INPUT_ERRORS) and not any(
            _is_ours(*frame) for frame in _frames(error.__traceback__)
        ):
            return f"{type(error).__name__}: {error}"[:120]
    if record.name == "werkzeug" and str(record.msg).startswith("Error on request:"):
        # Werkzeug renders the traceback into the message; its last frame says who raised.
        lines = str(record.msg).rstrip().splitlines()
        frames = [line for line in lines if line.lstrip().startswith('File "')]
        ours = any(_is_ours(*_file_and_function(frame)) for frame in frames)
        if frames and _ENGINEIO_PACKET in frames[-1] and not ours:
            return lines[-1][:120]
    return None


def _bad_request_line(record: logging.LogRecord) -> bool:
    """Return whether ``record`` is Werkzeug (http.server) refusing an unparsable request."""
    return (
        record.name == "werkzeug"
        and "code %d, message %s" in str(record.msg)
        and isinstance(record.args, tuple)
        and len(record.args) == 2
    )


def _frames(tb: TracebackType | None) -> Iterator[tuple[str, str]]:
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name
        tb = tb.tb_next


def _file_and_function(line: str) -> tuple[str, str]:
    # '  File "/path/to/x.py", line 12, in __call__'
    _, filename, rest = line.split('"', 2)
    return filename, rest.rsplit(" in ", 1)[-1].strip()


# Installed once, when create_app imports the namespaces: these loggers are process-wide.
_filter = MalformedFrameFilter()
for _name in ("engineio.server", "werkzeug"):
    logging.getLogger(_name).addFilter(_filter)
# python-engineio and python-socketio give their logger a bare StreamHandler of its own
# when no level is set; with create_app's root handler every line came out twice.
for _name in ("engineio.server", "socketio.server"):
    _logger = logging.getLogger(_name)
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.ERROR)  # the libraries' own default, without the handler
    for _handler in list(_logger.handlers):
        if type(_handler) is logging.StreamHandler and _handler.formatter is None:
            _logger.removeHandler(_handler)
