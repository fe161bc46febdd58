"""Live fan-out: driver pings to customers' pages, the portal next to a bare Socket.IO relay.

    python bench/live_fanout.py [--clients 200] [--drivers 10] [--seconds 10] [--stack both]

What it does (everything on 127.0.0.1, bounded in time, stops by itself):

1. Builds a world in a fresh SQLite file (temporary folder, migrated with Alembic): one depot,
   D drivers, each with an IN_PROGRESS route of N/D deliveries (one stop each), through the
   app's own domain model and unit of work (tests/builders.py).
2. For each stack, starts a server as a subprocess:
   - ``lastmile``: the real ``python app.py`` (DEMO=false, JOB_BACKEND=thread,
     SHOW_DRIVER_WITHIN_STOPS=1000 so every watcher is sent positions, LOG_LEVEL=WARNING);
   - ``bare``: bench/bare_socketio_server.py, python-socketio on the same engine (threading,
     simple-websocket, Werkzeug) that only relays ``position`` to the same rooms.
3. Connects N python-socketio clients (websocket transport) to ``/live`` with the delivery
   tokens, N/D per driver, spread over a few worker processes (one sync client is two
   threads plus one per received event; a single process would be GIL-bound). A client is
   ready when its ``snapshot`` arrives.
4. D drivers ping once a second through the HTTP driver API (``POST
   /api/v1/driver/positions``, Bearer token, one keep-alive connection per driver), or with
   ``--driver-transport socket`` as ``positions`` events on the ``/driver`` namespace (one
   websocket per driver, each ping waits for its ack), phases spread evenly over the second.
   Ping ``seq`` of driver ``k`` has a unique latitude (``LAT0 + seq * 1e-5``) and the
   driver's own longitude, so each ``position`` event is matched to the ping that caused
   it. The first ``--warmup`` seconds of pings are sent but not measured (first pings
   compute every stop's ETA and push ``eta`` to every room).
5. Latency = client receive time - driver send time (CLOCK_MONOTONIC, system-wide).
   Lost = (measured pings of a driver x connected watchers of that driver) - events received
   within the ``--drain`` seconds after the last ping.

Prints one JSON line per run, then a small table and the lastmile/bare p99 ratio.
Target (issue 4): 1,000 clients, 50 drivers, p99 <= 1.5x bare, 0 lost.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import math
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LAT0 = 52.47  # drivers start ~5.5 km south of the stops: no "arriving" during the run
LAT_STEP = 1e-5  # ~1.1 m north per ping: a plausible pace, never a "jump"
LNG0 = 13.40
LNG_STEP = 2e-3  # driver k lives on its own meridian, LNG0 + k * LNG_STEP
CLIENTS_PER_PROC = 250


# ---------------------------------------------------------------- world


def build_world(workdir: Path, db_url: str, drivers: int, per_driver: int) -> dict[str, Any]:
    """Create and migrate the database; return drivers with tokens and deliveries."""
    from lastmile_portal import create_app
    from lastmile_portal.adapters.migrations import upgrade
    from lastmile_portal.domain import model as m
    from tests.builders import make_delivery, make_route, make_world

    config = {**server_env_common(workdir, db_url), "JOB_BACKEND": "inline"}
    app = create_app(config)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services, vehicles=drivers)
    out: list[dict[str, Any]] = []
    n = 0
    for k, driver_id in enumerate(world.driver_ids):
        token = f"bench-driver-{k:04d}-" + secrets.token_hex(16)
        with services.uow() as uow:
            uow.repo.get(m.Driver, driver_id).api_token_hash = m.hash_api_token(token)
            uow.commit()
        deliveries = []
        for j in range(per_driver):
            n += 1
            deliveries.append(
                make_delivery(
                    world,
                    n=n,
                    lat=52.52 + 0.001 * j,
                    lng=LNG0 + LNG_STEP * k,
                    window_hours=(0, 8),
                )
            )
        make_route(world, deliveries, driver_index=k)
        out.append(
            {
                "index": k,
                "id": driver_id,
                "token": token,
                "deliveries": [{"id": d.id, "token": d.tracking_token} for d in deliveries],
            }
        )
    services_engine_dispose(services)
    return {"drivers": out}


def services_engine_dispose(services: Any) -> None:
    """Let go of the builder's database connections before the server opens the database."""
    with services.uow() as uow:
        uow.session.get_bind().dispose()


def server_env_common(workdir: Path, db_url: str) -> dict[str, str]:
    """Return the settings both the builder and the portal server use."""
    instance = workdir / "instance"
    return {
        "ENV": "development",
        "SECRET_KEY": "live-fanout-bench-secret-key-not-for-production",
        "INSTANCE_DIR": str(instance),
        "DATABASE_URL": db_url,
        "DEMO": "false",
        "JOB_BACKEND": "thread",
        "SMS_BACKEND": "console",
        "MAP_TILE_URL": "none",
        # One machine plays 1,000 recipients and 50 drivers from one address.
        "TRACKING_RATE_LIMIT": "100000 per minute",
        "LIVE_CONNECT_RATE_LIMIT": "100000 per minute",
        "RESYNC_RATE_LIMIT": "100000 per minute",
        "SHOW_DRIVER_WITHIN_STOPS": "1000",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
    }


# ---------------------------------------------------------------- servers

# Settings inherited from the shell that would change what is measured.
SCRUB = ("SOCKETIO_MESSAGE_QUEUE", "REDIS_URL", "OSRM_URL", "TESTING", "DEMO_SIMULATE")


def free_port() -> int:
    """Return a port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One server subprocess on 127.0.0.1, its log in the work folder."""

    def __init__(
        self, stack: str, workdir: Path, world_file: Path, db_url: str, wrapper: str = ""
    ) -> None:
        self.stack = stack
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in SCRUB}
        if stack == "lastmile":
            env.update(server_env_common(workdir, db_url))
            env["PORT"] = str(self.port)
            self.cmd = [sys.executable, wrapper or "app.py"]
        else:
            script = str(BENCH / "bare_socketio_server.py")
            self.cmd = [
                sys.executable,
                script,
                "--port",
                str(self.port),
                "--world",
                str(world_file),
            ]
        self.env = env
        self.log_path = workdir / f"{stack}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait for /healthz; raise with the log's tail if it does not come up."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.stack} server did not come up:\n{tail}")

    def cpu_seconds(self) -> float:
        """Return the server process's user + system CPU time so far."""
        if self.proc is None:
            return 0.0
        return proc_cpu_seconds(self.proc.pid)

    def threads(self) -> int:
        """Return the server's thread count (one Socket.IO client costs it several)."""
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/task")) if self.proc else 0
        except OSError:
            return 0

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.proc = None


def proc_cpu_seconds(pid: int) -> float:
    """Return utime + stime of a process from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# ---------------------------------------------------------------- clients (worker processes)


def raise_open_files() -> None:
    """Lift the soft open-files limit to the hard one (each client and server socket is a fd)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def client_worker(
    url: str,
    clients: list[tuple[int, str, int]],
    concurrency: int,
    connect_timeout: float,
    reports: Any,
    stop: Any,
    out_file: str,
) -> None:
    """Connect ``clients`` (id, token, driver), record every event, dump records on ``stop``."""
    import socketio

    raise_open_files()
    threading.stack_size(512 * 1024)  # hundreds of client threads; the default is 8 MiB each
    positions: list[tuple[int, float, float, float]] = []  # client, lat, lng, received
    counts: dict[str, int] = {"eta": 0, "status": 0, "snapshot": 0, "disconnects": 0}
    ready: dict[int, float] = {}
    failed: dict[int, str] = {}
    live: list[Any] = []
    lock = threading.Lock()

    def connect(cid: int, token: str) -> None:
        sio = socketio.Client(reconnection=False)
        got_snapshot = threading.Event()

        @sio.on("position", namespace="/live")
        def on_position(data: dict[str, Any]) -> None:
            positions.append((cid, data["lat"], data["lng"], time.monotonic()))

        @sio.on("snapshot", namespace="/live")
        def on_snapshot(_data: Any) -> None:
            counts["snapshot"] += 1
            got_snapshot.set()

        @sio.on("eta", namespace="/live")
        def on_eta(_data: Any) -> None:
            counts["eta"] += 1

        @sio.on("status", namespace="/live")
        def on_status(_data: Any) -> None:
            counts["status"] += 1

        @sio.on("disconnect", namespace="/live")
        def on_disconnect(*_args: Any) -> None:
            counts["disconnects"] += 1

        started = time.monotonic()
        try:
            sio.connect(
                url,
                namespaces=["/live"],
                transports=["websocket"],
                auth={"token": token},
                wait_timeout=connect_timeout,
            )
            if not got_snapshot.wait(connect_timeout):
                raise TimeoutError("no snapshot")
        except Exception as error:  # any failure is reported, not raised
            failed[cid] = f"{type(error).__name__}: {error}"
            with contextlib.suppress(Exception):
                sio.disconnect()
            return
        with lock:
            live.append(sio)
            ready[cid] = time.monotonic() - started

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for cid, token, _driver in clients:
            pool.submit(connect, cid, token)
    reports.put(("ready", os.getpid(), len(ready), dict(failed), list(ready.values())))
    stop.wait(3600)  # the parent sets it; its own deadline bounds this
    cpu = proc_cpu_seconds(os.getpid())
    with open(out_file, "w") as f:
        json.dump(
            {
                "positions": positions,
                "counts": counts,
                "connected": sorted(ready),
                "failed": failed,
                "cpu_s": cpu,
                "threads": threading.active_count(),
            },
            f,
        )
    reports.put(("done", os.getpid(), out_file))
    reports.close()
    reports.join_thread()  # the queue's feeder thread must hand the message over first
    # Closing hundreds of clients one by one takes long; the kernel closes their sockets.
    sys.stdout.flush()
    os._exit(0)


# ---------------------------------------------------------------- drivers


class Ping(NamedTuple):
    """One driver ping: when it was due, sent and answered (monotonic seconds), HTTP status."""

    driver: int
    seq: int
    due: float
    sent: float
    answered: float
    status: int  # 0: no answer (connection error or 10 s timeout)


def _ping_body(k: int, seq: int) -> dict[str, Any]:
    """Return ping ``seq`` of driver ``k``: its latitude says which ping it is."""
    return {
        "positions": [
            {
                "lat": round(LAT0 + seq * LAT_STEP, 7),
                "lng": round(LNG0 + k * LNG_STEP, 7),
                "recorded_at": datetime.now(UTC).isoformat(),
                "accuracy": 5,
            }
        ]
    }


def drive(
    url: str,
    driver: dict[str, Any],
    drivers: int,
    t0: float,
    total: int,
    sent: list[Ping],
    transport: str = "http",
) -> None:
    """Ping once a second from t0 + phase, one request at a time, as a phone's app does.

    A ping waits for the previous one's answer: when the server is slower than a second the
    driver falls behind (``duration_s`` grows past ``--seconds``), and the delay before the
    send shows in ``p99_from_due_ms``, not in ``p99_ms``. ``transport`` "socket" sends the
    pings as ``positions`` events on the ``/driver`` namespace and waits for each ack.
    """
    if transport == "socket":
        drive_socket(url, driver, drivers, t0, total, sent)
        return
    k = driver["index"]
    phase = k / drivers  # spread the drivers over the second, as real phones are
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Authorization": f"Bearer {driver['token']}", "Content-Type": "application/json"}
    for seq in range(total):
        due = t0 + phase + seq
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = json.dumps(_ping_body(k, seq))
        t_send = time.monotonic()
        status = 0
        try:
            conn.request("POST", "/api/v1/driver/positions", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
        sent.append(Ping(k, seq, due, t_send, time.monotonic(), status))
    conn.close()


def drive_socket(
    url: str, driver: dict[str, Any], drivers: int, t0: float, total: int, sent: list[Ping]
) -> None:
    """Ping like ``drive``, over one ``/driver`` Socket.IO connection (websocket transport).

    An acknowledged ping counts as status 200 (429 or the error's status when the ack says
    so); no ack within 10 s, or no connection, as 0.
    """
    import socketio

    k = driver["index"]
    phase = k / drivers
    sio = socketio.Client(reconnection=False)
    try:
        sio.connect(
            url,
            namespaces=["/driver"],
            transports=["websocket"],
            auth={"token": driver["token"]},
            wait_timeout=10,
        )
    except Exception as error:  # reported as unanswered pings, not raised
        log(f"driver {k}: /driver connect failed: {type(error).__name__}: {error}")
    for seq in range(total):
        due = t0 + phase + seq
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t_send = time.monotonic()
        status = 0
        if sio.connected:
            try:
                ack = sio.call("positions", _ping_body(k, seq), namespace="/driver", timeout=10)
                ok = isinstance(ack, dict) and "accepted" in ack
                status = 200 if ok else int(ack.get("status", 0)) if isinstance(ack, dict) else 0
            except Exception:  # a timeout or a dropped connection: no answer
                status = 0
        sent.append(Ping(k, seq, due, t_send, time.monotonic(), status))
    with contextlib.suppress(Exception):
        sio.disconnect()


# ---------------------------------------------------------------- one run


def pct(values: list[float], q: float) -> float | None:
    """Return the q-th percentile (nearest rank) of ``values``, or None if empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def ms(value: float | None) -> float | None:
    """Seconds to milliseconds, rounded for the report."""
    return None if value is None else round(value * 1000, 1)


def run_stack(stack: str, world: dict[str, Any], workdir: Path, args: argparse.Namespace) -> dict:
    """Start one stack's server, connect the clients, drive, measure; return the JSON row."""
    drivers = world["drivers"]
    world_file = workdir / "world.json"
    server = Server(stack, workdir, world_file, args.db_url, args.server_wrapper)
    log(f"[{stack}] starting server on {server.url}")
    server.start()
    ctx = mp.get_context("spawn")
    reports = ctx.Queue()
    stop = ctx.Event()
    procs: list[Any] = []
    try:
        # One client per delivery: N/D clients watch each driver.
        clients: list[tuple[int, str, int]] = []
        cid = 0
        for d in drivers:
            for dl in d["deliveries"]:
                clients.append((cid, dl["token"], d["index"]))
                cid += 1
        nprocs = args.client_procs or max(1, math.ceil(len(clients) / CLIENTS_PER_PROC))
        chunks = [clients[i::nprocs] for i in range(nprocs)]
        per_proc_conc = max(1, args.connect_concurrency // nprocs)
        t_connect = time.monotonic()
        for i, chunk in enumerate(chunks):
            p = ctx.Process(
                target=client_worker,
                args=(
                    server.url,
                    chunk,
                    per_proc_conc,
                    args.connect_timeout,
                    reports,
                    stop,
                    str(workdir / f"{stack}-clients-{i}.json"),
                ),
                daemon=True,
            )
            p.start()
            procs.append(p)
        failed: dict[int, str] = {}
        connect_times: list[float] = []
        connected = 0
        deadline = time.monotonic() + args.connect_timeout + len(clients) * 0.5 + 30
        for _ in procs:
            kind, _pid, n_ready, n_failed, times = reports.get(
                timeout=max(1.0, deadline - time.monotonic())
            )
            assert kind == "ready"
            connected += n_ready
            failed.update(n_failed)
            connect_times += times
        connect_s = time.monotonic() - t_connect
        log(
            f"[{stack}] {connected}/{len(clients)} clients ready in {connect_s:.1f} s "
            f"(server threads: {server.threads()})"
        )
        if failed:
            log(f"[{stack}] {len(failed)} clients failed, e.g. {next(iter(failed.values()))}")
        time.sleep(1.0)  # let the last snapshots settle

        # Drive.
        warmup = args.warmup
        total = warmup + args.seconds
        sent: list[Ping] = []
        cpu0 = server.cpu_seconds()
        t0 = time.monotonic() + 0.5
        spy = None
        if args.py_spy and server.proc is not None:
            # Sample the server while the drivers ping (collapsed stacks, one line per stack).
            spy_out = workdir / f"{stack}-py-spy.txt"
            spy = subprocess.Popen(
                [
                    args.py_spy,
                    "record",
                    "--pid",
                    str(server.proc.pid),
                    "--format",
                    "raw",
                    "--rate",
                    str(args.py_spy_rate),
                    "--duration",
                    str(total),
                    "--nonblocking",
                    "--output",
                    str(spy_out),
                ]
                + (["--gil"] if args.py_spy_gil else [])
                + (["--idle"] if args.py_spy_idle else []),
                stdout=subprocess.DEVNULL,
                stderr=open(workdir / f"{stack}-py-spy.log", "wb"),  # noqa: SIM115
            )
        threads = [
            threading.Thread(
                target=drive,
                args=(server.url, d, len(drivers), t0, total, sent, args.driver_transport),
                daemon=True,
            )
            for d in drivers
        ]
        for t in threads:
            t.start()
        # The first stores (every stop's ETA, "approaching" texts) fall in the warm-up: the
        # server's CPU from here on is what the measured pings cost.
        time.sleep(max(0.0, t0 + warmup - time.monotonic()))
        cpu_measured0 = server.cpu_seconds()
        drive_deadline = t0 + total + 60  # a ping times out after 10 s
        for t in threads:
            t.join(timeout=max(0.0, drive_deadline - time.monotonic()))
        # The last answer, not the threads' end: a socket driver's disconnect takes a while.
        t_last = max((p.answered for p in sent), default=time.monotonic())
        time.sleep(args.drain)
        cpu1 = server.cpu_seconds()
        if spy is not None:
            try:
                spy.wait(timeout=120)
            except subprocess.TimeoutExpired:
                spy.kill()
            log(f"[{stack}] py-spy samples: {spy_out}")
        wall = time.monotonic() - t0
        server_threads = server.threads()
        stop.set()
        results = []
        for _ in procs:
            kind, _pid, path = reports.get(timeout=60)
            assert kind == "done"
            with open(path) as f:
                results.append(json.load(f))
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        server.stop()
        log(f"[{stack}] server stopped (log: {server.log_path})")

    if args.keep:  # raw material for a closer look
        (workdir / f"{stack}-pings.json").write_text(json.dumps([p._asdict() for p in sent]))
    # Match events to pings.
    driver_of_client = {c: d for c, _t, d in clients}
    connected_clients = [c for r in results for c in r["connected"]]
    watchers: dict[int, int] = {}
    for c in connected_clients:
        watchers[driver_of_client[c]] = watchers.get(driver_of_client[c], 0) + 1
    pings = {(p.driver, p.seq): p for p in sent}
    measured = {(p.driver, p.seq) for p in sent if p.seq >= warmup}
    latencies: list[float] = []
    from_due: list[float] = []
    seen: set[tuple[int, int, int]] = set()
    duplicates = foreign = unknown = 0
    for r in results:
        for c, lat, lng, t_recv in r["positions"]:
            k = driver_of_client[c]
            if abs(lng - (LNG0 + k * LNG_STEP)) > 1e-7:
                foreign += 1  # another driver's position in this client's room: a privacy bug
                continue
            seq = round((lat - LAT0) / LAT_STEP)
            if (k, seq) not in pings:
                unknown += 1
                continue
            if (c, k, seq) in seen:
                duplicates += 1
                continue
            seen.add((c, k, seq))
            if (k, seq) in measured:
                latencies.append(t_recv - pings[(k, seq)].sent)
                from_due.append(t_recv - pings[(k, seq)].due)
    expected = sum(watchers.get(k, 0) for k, _seq in measured)
    lost = expected - len(latencies)
    ping_rtt = [p.answered - p.sent for p in sent if p.seq >= warmup and p.status == 200]
    ping_errors = sum(1 for p in sent if p.seq >= warmup and p.status != 200)
    cpu_server = cpu1 - cpu0
    row = {
        "stack": stack,
        "clients": len(clients),
        "drivers": len(drivers),
        "pings": len(measured),
        "p50_ms": ms(pct(latencies, 50)),
        "p99_ms": ms(pct(latencies, 99)),
        "lost": lost,
        "duration_s": round(t_last - t0 - warmup, 1),
        # The rest explains the four numbers above.
        "max_ms": ms(max(latencies) if latencies else None),
        "p99_from_due_ms": ms(pct(from_due, 99)),
        "events_expected": expected,
        "events_received": len(latencies),
        "connected": len(connected_clients),
        "connect_failed": len(failed),
        "connect_s": round(connect_s, 1),
        "connect_p99_ms": ms(pct(connect_times, 99)),
        "ping_http_p50_ms": ms(pct(ping_rtt, 50)),
        "ping_http_p99_ms": ms(pct(ping_rtt, 99)),
        "ping_errors": ping_errors,
        "ping_status": {
            str(st): n
            for st, n in sorted(
                collections.Counter(p.status for p in sent if p.seq >= warmup).items()
            )
        },
        "warmup_pings": len(sent) - len(measured),
        "eta_events": sum(r["counts"]["eta"] for r in results),
        "status_events": sum(r["counts"]["status"] for r in results),
        "disconnects": sum(r["counts"]["disconnects"] for r in results),
        "duplicates": duplicates,
        "foreign": foreign,
        "unknown": unknown,
        "server_cpu_pct": round(100 * cpu_server / wall, 1) if wall > 0 else None,
        "server_cpu_ms_per_ping": round(1000 * cpu_server / len(sent), 2) if sent else None,
        "server_cpu_ms_per_measured_ping": round(1000 * (cpu1 - cpu_measured0) / len(measured), 2)
        if measured
        else None,
        "server_threads": server_threads,
        "client_procs": len(procs),
        "client_cpu_pct": round(100 * sum(r["cpu_s"] for r in results) / wall, 1),
        "database": args.database if stack == "lastmile" else None,
        "driver_transport": args.driver_transport,
    }
    return row


def pg_schema(url: str, statement: str) -> None:
    """Create or drop the run's private PostgreSQL schema."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def log(message: str) -> None:
    """Progress on stderr, so stdout is only the JSON lines and the table."""
    print(message, file=sys.stderr, flush=True)


def table(rows: list[dict[str, Any]]) -> str:
    """Return a small fixed-width table of the main figures."""
    cols = ["stack", "database", "clients", "drivers", "pings", "p50_ms", "p99_ms", "max_ms"]
    cols += ["lost"]
    cols += ["ping_http_p99_ms", "server_cpu_pct", "duration_s"]
    widths = [max(len(c), *(len(str(r.get(c))) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    for r in rows:
        lines.append("  ".join(str(r.get(c)).rjust(w) for c, w in zip(cols, widths, strict=True)))
    return "\n".join(lines)


def main() -> int:
    """Parse arguments, build the world once, run each stack, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200, help="socket clients (N)")
    parser.add_argument("--drivers", type=int, default=10, help="pinging drivers (D)")
    parser.add_argument("--seconds", type=int, default=10, help="measured pings per driver")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured pings first")
    parser.add_argument("--drain", type=float, default=5.0, help="wait after the last ping")
    parser.add_argument(
        "--stack", choices=["both", "lastmile", "bare"], default="both", help="what to run"
    )
    parser.add_argument(
        "--client-procs", type=int, default=0, help=f"0: one per {CLIENTS_PER_PROC} clients"
    )
    parser.add_argument(
        "--driver-transport",
        choices=["http", "socket"],
        default="http",
        help="drivers ping over the HTTP driver API (default) or the /driver socket namespace",
    )
    parser.add_argument("--connect-concurrency", type=int, default=16)
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the portal's database: a fresh SQLite file, or a private schema in PostgreSQL",
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, DB)")
    parser.add_argument(
        "--server-wrapper",
        default="",
        help="run this script instead of app.py for the portal (e.g. an instrumented launcher)",
    )
    parser.add_argument(
        "--py-spy", default="", help="path to py-spy: sample the servers during the pings"
    )
    parser.add_argument("--py-spy-gil", action="store_true", help="only GIL-holding samples")
    parser.add_argument("--py-spy-idle", action="store_true", help="waiting threads too")
    parser.add_argument("--py-spy-rate", type=int, default=20, help="samples per second")
    args = parser.parse_args()
    if args.clients < args.drivers or args.clients % args.drivers:
        parser.error("--clients must be a multiple of --drivers (N/D watchers per driver)")
    if not (1 <= args.seconds <= 600 and 0 <= args.warmup <= 60 and args.clients <= 5000):
        parser.error("keep it bounded: 1..600 s, warmup <= 60, clients <= 5000")
    args.keep = args.keep or bool(args.py_spy)  # the samples live in the work folder
    raise_open_files()

    workdir = Path(tempfile.mkdtemp(prefix="live-fanout-"))
    rows: list[dict[str, Any]] = []
    schema = None
    if args.database == "postgres":
        schema = "live_fanout_" + secrets.token_hex(4)
        pg_schema(args.postgres_url, f"CREATE SCHEMA {schema}")
        args.db_url = f"{args.postgres_url}?options=-csearch_path%3D{schema}"
    else:
        args.db_url = f"sqlite:///{workdir / 'instance' / 'bench.db'}"
    try:
        t = time.monotonic()
        world = build_world(workdir, args.db_url, args.drivers, args.clients // args.drivers)
        (workdir / "world.json").write_text(json.dumps(world))
        log(
            f"world: {args.drivers} drivers x {args.clients // args.drivers} deliveries "
            f"built in {time.monotonic() - t:.1f} s ({workdir})"
        )
        stacks = ["bare", "lastmile"] if args.stack == "both" else [args.stack]
        for stack in stacks:
            row = run_stack(stack, world, workdir, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if schema:
            pg_schema(args.postgres_url, f"DROP SCHEMA {schema} CASCADE")
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(rows))
    by = {r["stack"]: r for r in rows}
    if "bare" in by and "lastmile" in by and by["bare"]["p99_ms"] and by["lastmile"]["p99_ms"]:
        ratio = by["lastmile"]["p99_ms"] / by["bare"]["p99_ms"]
        ok = ratio <= 1.5 and by["lastmile"]["lost"] == 0
        print(
            f"p99 lastmile/bare = {ratio:.2f} (target <= 1.5), lost = {by['lastmile']['lost']} "
            f"(target 0): {'on target' if ok else 'OFF TARGET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
