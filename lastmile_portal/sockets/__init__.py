"""Socket.IO namespaces, and the log filter that keeps a client's garbage frames to one line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
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
# The security headers' WSGI wrapper only passes requests through: its frame is in every
# traceback and says nothing about who raised.
_PASS_THROUGH = os.path.join(_OUR_CODE, "web", "security.py")


def _is_ours(filename: str) -> bool:
    return filename.startswith(_OUR_CODE) and filename != _PASS_THROUGH


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
            _is_ours(filename) for filename in _filenames(error.__traceback__)
        ):
            return f"{type(error).__name__}: {error}"[:120]
    if record.name == "werkzeug" and str(record.msg).startswith("Error on request:"):
        # Werkzeug renders the traceback into the message; its last frame says who raised.
        lines = str(record.msg).rstrip().splitlines()
        frames = [line for line in lines if line.lstrip().startswith('File "')]
        ours = any(_is_ours(frame.split('"')[1]) for frame in frames)
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


def _filenames(tb: TracebackType | None) -> Iterator[str]:
    while tb is not None:
        yield tb.tb_frame.f_code.co_filename
        tb = tb.tb_next


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
