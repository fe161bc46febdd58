"""Gunicorn's settings: one process, many threads (Flask-SocketIO's ``threading`` mode).

``gunicorn --config python:lastmile_portal.gunicorn_conf`` (``make serve``, ``make run``).
Flask-SocketIO's deployment notes give ``gunicorn -w 1 --threads N`` for this mode, with
simple-websocket carrying WebSocket connections on gunicorn's gthread worker. One worker,
because gunicorn spreads a client's requests over its workers at random, and a Socket.IO
session (its long-polling requests) must always reach the process that holds it. More
processes: more gunicorn servers, each on its own port behind a sticky load balancer, with
the Redis message queue (docs/deployment.md).

Command-line options and ``GUNICORN_CMD_ARGS`` override these, e.g.
``GUNICORN_CMD_ARGS="--threads 400 --bind 0.0.0.0:8000"``.
"""

from __future__ import annotations

from typing import Any

from lastmile_portal.config import load_settings

_settings = load_settings()

wsgi_app = "lastmile_portal.wsgi:app"
bind = [f"{_settings.host}:{_settings.port}"]
workers = 1
worker_class = "gthread"
# Each open WebSocket holds one thread for its lifetime; page views and API calls share the
# rest: once every thread holds a socket, the process answers nothing else (measured with
# 30 threads and 40 sockets: no page view got through). Threads start on demand
# (measured: 600 open /live sockets, 225 MB resident). Past ~1,000 live pages, add a process.
threads = 1000
# Connections held open, including idle keep-alive ones: the threads plus some headroom.
worker_connections = 1200
# The app is built in the worker, never in the master: its job queue and sweeps are threads,
# and threads do not survive the fork that --preload would do after building it.
preload_app = False
# A deploy's restart waits this long for requests in flight; live pages then reconnect
# on their own (and ask for a fresh snapshot), so open sockets need not hold it up.
graceful_timeout = 10
# gthread's heartbeat comes from the worker's main loop, not from requests: long-lived
# sockets never trip it; a worker stuck this long is restarted.
timeout = 30
keepalive = 5
# The scheme and client address come from ProxyFix, as TRUSTED_PROXIES says, never from
# headers gunicorn would trust on its own.
secure_scheme_headers: dict[str, str] = {}
accesslog = "-" if _settings.access_log or _settings.log_level == "DEBUG" else None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "lastmile-web"
# Gunicorn's control socket lives at one path per user: a second server on this machine (a
# second port behind the balancer, a test) would take it over. Nothing here uses it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Refuse settings that would split Socket.IO sessions over several processes."""
    cfg = server.cfg
    if cfg.workers != 1:
        raise SystemExit(
            f"lastmile: run gunicorn with one worker (not {cfg.workers}): its workers are not "
            "sticky, so Socket.IO sessions would break. For more processes start more "
            "gunicorn servers behind a sticky load balancer (docs/deployment.md)."
        )
    if cfg.worker_class_str != "gthread":
        raise SystemExit(
            f"lastmile: run gunicorn's gthread worker (not {cfg.worker_class_str}): the app "
            "runs Socket.IO in threading mode, one thread per open WebSocket."
        )


def post_worker_init(worker: Any) -> None:
    """Start what the serving process runs beside requests (demo drivers, queue listener)."""
    from lastmile_portal.server import start_serving

    address = worker.sockets[0].getsockname()
    base_url = None  # a unix socket: the demo's drivers ping in-process instead
    if isinstance(address, tuple):
        host = "127.0.0.1" if address[0] in ("0.0.0.0", "::", "") else address[0]
        base_url = f"http://{'[' + host + ']' if ':' in host else host}:{address[1]}"
    start_serving(worker.wsgi, base_url)
