"""The HTTP endpoint: ``/metrics`` (Prometheus text or OpenMetrics, gzip on request), ``/healthz`` and ``/readyz``.

``/metrics`` negotiates exactly as prometheus_client's own WSGI app does (``Accept: application/openmetrics-text``
gives OpenMetrics with ``# EOF``; ``Accept-Encoding: gzip`` gives gzip), and the probes share the port. Binds
127.0.0.1 by default (the PRD's localhost-only default): expose it wider with ``KAFKA_BACKUP_METRICS_HOST=0.0.0.0``
in a container.

Serving. HTTP is aiohttp's (already installed with s3fs, gcsfs and adlfs): one event loop on one thread
(``metrics-server``) holds every connection, so a thousand idle scrapers cost sockets, not threads. The listening
socket is bound in ``start()`` with a backlog of ``LISTEN_BACKLOG``, so a taken port is a ``MetricsServerError``
at once and connections made before the loop is up wait in the kernel's queue. aiohttp is imported by ``start()``
(about 0.2 s of CPU), so a process that never serves never pays for it; it is not left to the serving thread, so
that once ``start()`` returns the endpoint answers (a short command's whole run and linger are scrapeable).
Invariants:

- threads: the loop, the background render thread, at most ``RENDER_WORKERS`` render workers and one readiness
  worker, whatever the number of connections. Renders are CPU work and readiness checks may do I/O (the CLI's
  storage check stats an object), so neither runs on the loop; a scrape served from the cache and ``/healthz`` are
  answered on the loop itself, so a slow check or render never delays them;
- a connection with no complete request for ``idle_timeout_s`` (default ``IDLE_TIMEOUT_S``) is closed, whether it
  never sent a byte, stalled mid-header or idles between keep-alive requests;
- every request gets an answer and then, unless kept alive, a closed connection: HTTP/0.9 (a request line without
  a version) is answered like any GET, and whatever aiohttp's parser rejects (garbage, oversized headers) gets
  ``400`` (see ``serving``);
- ``stop()`` closes the listening socket and every connection and returns without waiting for a render or check
  in flight (its result is dropped). It takes about a millisecond with a few connections open; closing each one
  costs about 80 µs of CPU (so about 0.1 s with a thousand open).

Cached exposition. Rendering costs about 25-30 µs per series in pure Python (the OTel SDK collects, the Prometheus
reader converts every point into ``prometheus_client`` families, which render the text), so 10,000 series take
250-300 ms per scrape. With ``refresh_interval_ms > 0`` (default 500, the engine's ``metrics.update_interval_ms``
default, the rate its gauges change) a background thread collects once per interval and renders every variant
(format x gzip) a scraper has asked for; scrapes are answered from those bytes. A scrape with no cached render, or
one older than two refresh periods, renders synchronously (on a render worker). The thread only renders while
someone scrapes: it starts after the first scrape and pauses after ``IDLE_AFTER_S`` without one. To keep a large
registry from taking the interpreter, the period stretches so rendering uses at most ``MAX_BUSY`` of the time (at
10,000 series about 1.2 s instead of 0.5 s). ``refresh_interval_ms=0`` renders per scrape. ``stop()`` drops the
cache, so nothing rendered before it is served again.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric

from kafka_backup.telemetry import env as names
from kafka_backup.telemetry.errors import MetricsServerError

if TYPE_CHECKING:
    import asyncio

    from aiohttp import web

    from kafka_backup.telemetry.serving import Answer

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "DEFAULT_REFRESH_INTERVAL_MS",
    "IDLE_AFTER_S",
    "IDLE_TIMEOUT_S",
    "LISTEN_BACKLOG",
    "MAX_BUSY",
    "RENDER_WORKERS",
    "MetricsServer",
    "ReadinessCheck",
    "serve_metrics",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PATH = "/metrics"
DEFAULT_REFRESH_INTERVAL_MS = 500
"""The engine's default ``metrics.update_interval_ms``: its lag gauges change no faster than this."""
IDLE_AFTER_S = 300.0
"""Background rendering pauses after this long without a scrape (the next scrape renders synchronously)."""
MAX_BUSY = 0.25
"""Largest share of wall time the background render may take; beyond it the refresh period stretches."""
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before the loop accepts them (capped by ``net.core.somaxconn``, 4096 on Linux)."""
IDLE_TIMEOUT_S = 75.0
"""A connection without a complete request for this long is closed. Longer than a 60 s scrape interval, so a
scraper's keep-alive connection survives between scrapes (nginx's default keep-alive timeout is the same)."""
RENDER_WORKERS = 2
"""Threads that render (and gzip) expositions; renders are serialized by one lock, so more would only wait."""
SHUTDOWN_GRACE_S = 0.01
"""How long ``stop()`` lets a request in progress finish before cancelling it."""

ReadinessCheck = Callable[[], bool]
"""Returns True when its component is ready; raising counts as not ready. Checks run one at a time on one thread."""

_log = logging.getLogger("kafka_backup.telemetry")
Encoder = Callable[[Any], bytes]
_Key = tuple[str, bool]  # (Content-Type, gzip)


class _Snapshot:
    """The families of one collection, encodable any number of times (an encoder only calls ``collect()``)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


class _ExpositionCache:
    """The rendered variants of the latest collection, and the variants scrapers asked for.

    One render at a time (``render_lock``, shared with the server's per-request renders): the Prometheus reader's
    collector is not safe under concurrent collections (a second collection in flight can take the first one's
    data), so the server never runs two.
    """

    def __init__(self, registry: CollectorRegistry, interval_s: float, render_lock: threading.Lock) -> None:
        self.registry = registry
        self.interval_s = interval_s
        self._render_lock = render_lock
        self._state = threading.Lock()
        self._wanted: dict[_Key, Encoder] = {}
        self._bodies: dict[_Key, bytes] = {}
        self._rendered_at = -math.inf  # monotonic time the collection behind _bodies started
        self.period_s = interval_s
        self.last_request = -math.inf
        self.renders = 0

    def want(self, key: _Key, encoder: Encoder) -> None:
        with self._state:
            self._wanted.setdefault(key, encoder)
            self.last_request = time.monotonic()

    def fresh(self, key: _Key) -> bytes | None:
        """The cached body, unless missing or older than two refresh periods."""
        with self._state:
            if time.monotonic() - self._rendered_at > 2 * self.period_s:
                return None
            return self._bodies.get(key)

    def rendered_at(self) -> float:
        with self._state:
            return self._rendered_at

    def body(self, key: _Key, encoder: Encoder) -> bytes:
        """The cached body when fresh, else a synchronous render of every wanted variant (``key`` included)."""
        self.want(key, encoder)
        cached = self.fresh(key)
        if cached is not None:
            return cached
        with self._render_lock:
            cached = self.fresh(key)  # another scrape may have rendered while this one waited
            if cached is not None:
                return cached
            return self._render_locked()[key]

    def refresh_if_due(self) -> None:
        """Render unless a render younger than one period exists (a synchronous one may have just finished)."""
        with self._render_lock:
            if time.monotonic() < self.rendered_at() + self.period_s:
                return
            self._render_locked()

    def clear(self) -> None:
        with self._state:
            self._bodies = {}
            self._rendered_at = -math.inf
            self.last_request = -math.inf

    def _render_locked(self) -> dict[_Key, bytes]:
        started = time.monotonic()
        cpu_started = time.thread_time()
        with self._state:
            wanted = dict(self._wanted)
        snapshot = _Snapshot(list(self.registry.collect()))
        texts: dict[str, bytes] = {}
        bodies: dict[_Key, bytes] = {}
        for (content_type, gzipped), encoder in wanted.items():
            if content_type not in texts:
                texts[content_type] = encoder(snapshot)
            bodies[(content_type, gzipped)] = gzip.compress(texts[content_type]) if gzipped else texts[content_type]
        # This thread's CPU time, not wall time: waiting for the interpreter behind a busy backup is not render cost,
        # and stretching the period for it would serve old values exactly when the process is busiest.
        cost = time.thread_time() - cpu_started
        with self._state:
            self._bodies = bodies
            self._rendered_at = started
            self.period_s = max(self.interval_s, cost / MAX_BUSY)
            self.renders += 1
        return bodies


@dataclass(frozen=True)
class _Serving:
    """What one ``start()`` creates and the matching ``stop()`` ends."""

    loop: asyncio.AbstractEventLoop
    stopped: asyncio.Future[None]  # resolved by stop(): the loop closes every connection and ends
    renderers: ThreadPoolExecutor
    checker: ThreadPoolExecutor  # readiness checks, one at a time


class MetricsServer:
    """Serves a registry and the health probes from a background thread; ``port=0`` picks a free port.

    ``refresh_interval_ms`` (default ``DEFAULT_REFRESH_INTERVAL_MS``): how often the exposition is rendered in the
    background while scraped; ``0`` renders on every scrape. ``idle_timeout_s``: see ``IDLE_TIMEOUT_S``.
    ``bind_hint``: the fix a ``MetricsServerError`` suggests when the address is taken (see its docstring).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        path: str = DEFAULT_PATH,
        checks: Mapping[str, ReadinessCheck] | None = None,
        refresh_interval_ms: int = DEFAULT_REFRESH_INTERVAL_MS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        bind_hint: str | None = None,
    ) -> None:
        if refresh_interval_ms < 0:
            raise ValueError(f"refresh_interval_ms must be >= 0, not {refresh_interval_ms}")
        if idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be > 0, not {idle_timeout_s}")
        self.host = host
        self.port = port
        self.path = path if path.startswith("/") else f"/{path}"
        self.refresh_interval_ms = refresh_interval_ms
        self.idle_timeout_s = idle_timeout_s
        self.bind_hint = bind_hint
        self._metrics_app = make_wsgi_app(registry)
        self._render_lock = threading.Lock()
        interval_s = refresh_interval_ms / 1000
        self._cache = _ExpositionCache(registry, interval_s, self._render_lock) if refresh_interval_ms > 0 else None
        self._checks: dict[str, ReadinessCheck] = dict(checks or {})
        self._lock = threading.Lock()
        self._serving: _Serving | None = None
        self._thread: threading.Thread | None = None
        self._refresher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Make ``/readyz`` answer 503 while ``check()`` is false (e.g. before the consumer has its assignment)."""
        with self._lock:
            self._checks[name] = check

    @property
    def url(self) -> str:
        """Base URL of the server (after ``start()``, with the real port)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> MetricsServer:
        """Bind and serve; raises ``MetricsServerError`` when the address is taken or unusable."""
        import asyncio  # noqa: PLC0415 - only a serving process pays for the event loop and aiohttp

        import kafka_backup.telemetry.serving  # noqa: F401, PLC0415 - imported here, not on the thread (see above)

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family, backlog=LISTEN_BACKLOG)
        except OSError as error:
            raise MetricsServerError(self.host, self.port, error.strerror or str(error), hint=self.bind_hint) from error
        self.port = sock.getsockname()[1]
        self._stopping.clear()
        self._wake.clear()
        loop = asyncio.new_event_loop()
        serving = _Serving(
            loop=loop,
            stopped=loop.create_future(),
            renderers=ThreadPoolExecutor(RENDER_WORKERS, thread_name_prefix="metrics-worker"),
            checker=ThreadPoolExecutor(1, thread_name_prefix="metrics-check"),
        )
        self._serving = serving
        if self._cache is not None:
            self._refresher = threading.Thread(target=self._refresh_loop, name="metrics-render", daemon=True)
            self._refresher.start()
        self._thread = threading.Thread(target=self._serve, args=(serving, sock), name="metrics-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and rendering, release the port and drop the cached exposition."""
        self._stopping.set()
        self._wake.set()
        if self._cache is not None:
            self._cache.clear()  # a scrape still in flight renders fresh values
        serving = self._serving
        if serving is not None:
            # RuntimeError: the loop is closed, serving already ended (its failure was logged)
            with contextlib.suppress(RuntimeError):
                serving.loop.call_soon_threadsafe(_resolve, serving.stopped)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._serving = None
        if serving is not None:
            for pool in (serving.renderers, serving.checker):
                # A render or check in flight finishes on its own and is dropped; stop() does not wait for it.
                pool.shutdown(wait=False, cancel_futures=True)
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None
        if self._cache is not None:
            self._cache.clear()

    def __enter__(self) -> MetricsServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _serve(self, serving: _Serving, sock: socket.socket) -> None:
        """The serving thread: the event loop runs until ``stop()``; the socket is closed however this ends."""
        try:
            from kafka_backup.telemetry.serving import serve  # noqa: PLC0415 - imported by start()

            serving.loop.run_until_complete(
                serve(
                    sock,
                    self._handle,
                    backlog=LISTEN_BACKLOG,
                    idle_timeout_s=self.idle_timeout_s,
                    shutdown_grace_s=SHUTDOWN_GRACE_S,
                    stopped=serving.stopped,
                )
            )
        except Exception:
            _log.exception("metrics_server_failed")
        finally:
            sock.close()
            serving.loop.close()

    async def _handle(self, request: web.BaseRequest) -> Answer:
        path = request.path
        if path == self.path:
            return await self._metrics(request)
        if path == "/healthz":
            return _text(200, "ok\n")
        if path == "/readyz":
            serving = self._running()
            failing = await serving.loop.run_in_executor(serving.checker, self._ready)
            if failing:
                return _text(503, "not ready: " + ", ".join(failing) + "\n")
            return _text(200, "ok\n")
        return _text(404, f"not found; try {self.path}, /healthz or /readyz\n")

    def _running(self) -> _Serving:
        serving = self._serving
        assert serving is not None  # set by start(); stop() clears it only after the loop has ended
        return serving

    def _refresh_loop(self) -> None:
        cache = self._cache
        assert cache is not None  # only started with a cache
        warned = False
        while not self._stopping.is_set():
            now = time.monotonic()
            if now - cache.last_request > IDLE_AFTER_S:
                # Nobody scrapes: render nothing until a scrape (or stop) wakes us. Clear, then check again, so
                # a scrape between the check and the wait is not missed.
                self._wake.clear()
                if time.monotonic() - cache.last_request > IDLE_AFTER_S and not self._stopping.is_set():
                    self._wake.wait()
                continue
            due = cache.rendered_at() + cache.period_s
            if now < due:
                self._stopping.wait(due - now)
                continue
            try:
                cache.refresh_if_due()
            except Exception:
                # The synchronous path renders (and fails) on the scrape itself; say it once here, then back off.
                if not warned:
                    _log.warning("metrics_render_failed", exc_info=True)
                    warned = True
                self._stopping.wait(cache.period_s)

    def _ready(self) -> list[str]:
        with self._lock:
            checks = list(self._checks.items())
        failing = []
        for name, check in checks:
            try:
                ok = check()
            except Exception:
                ok = False
            if not ok:
                failing.append(name)
        return failing

    async def _metrics(self, request: web.BaseRequest) -> Answer:
        serving = self._running()
        accept = ",".join(request.headers.getall("Accept", []))
        accept_encoding = ",".join(request.headers.getall("Accept-Encoding", []))
        cache = self._cache
        if cache is None or request.method != "GET" or "name[]" in request.query:
            # Per-scrape rendering, other methods and name[] filters: prometheus_client's app, as it is.
            environ = {
                "REQUEST_METHOD": request.method,
                "PATH_INFO": request.path,
                "QUERY_STRING": request.query_string,
                "HTTP_ACCEPT": accept,
                "HTTP_ACCEPT_ENCODING": accept_encoding,
            }
            return await serving.loop.run_in_executor(serving.renderers, self._prometheus_app, environ)
        encoder, content_type = choose_encoder(accept)
        gzipped = gzip_accepted(accept_encoding)
        key = (content_type, gzipped)
        cache.want(key, encoder)
        self._wake.set()
        body = cache.fresh(key)
        if body is None:
            body = await serving.loop.run_in_executor(serving.renderers, cache.body, key, encoder)
        headers = [("Content-Type", content_type)]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        return 200, headers, body

    def _prometheus_app(self, environ: dict[str, str]) -> Answer:
        """prometheus_client's WSGI app called directly (one render at a time, like the cache's)."""
        answer: list[tuple[int, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], _exc_info: object = None) -> None:
            answer.append((int(status.split(" ", 1)[0]), headers))

        with self._render_lock:
            body = b"".join(self._metrics_app(environ, start_response))
        status, headers = answer[0]
        return status, headers, body


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _text(status: int, body: str) -> Answer:
    return status, [("Content-Type", "text/plain; charset=utf-8")], body.encode()


def serve_metrics(
    registry: CollectorRegistry,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str | None = None,
    checks: Mapping[str, ReadinessCheck] | None = None,
    environ: Mapping[str, str] | None = None,
    refresh_interval_ms: int = DEFAULT_REFRESH_INTERVAL_MS,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    bind_hint: str | None = None,
) -> MetricsServer:
    """Start a ``MetricsServer``; unset arguments come from ``KAFKA_BACKUP_METRICS_HOST/PORT/PATH``, then defaults.

    Raises ``MetricsServerError`` for a taken port or a non-numeric ``KAFKA_BACKUP_METRICS_PORT``; its hint is
    ``bind_hint`` (how the caller's user picks another port), else names the variable when the port came from it.
    """
    env = os.environ if environ is None else environ
    host = host or env.get(names.KAFKA_BACKUP_METRICS_HOST, "").strip() or DEFAULT_HOST
    if port is None:
        raw = env.get(names.KAFKA_BACKUP_METRICS_PORT, "").strip()
        bind_hint = bind_hint or f"set {names.KAFKA_BACKUP_METRICS_PORT} to another port; 0 picks a free one"
        try:
            port = int(raw) if raw else DEFAULT_PORT
        except ValueError as error:
            reason = f"{names.KAFKA_BACKUP_METRICS_PORT}={raw!r} is not a port"
            raise MetricsServerError(host, -1, reason, hint=bind_hint) from error
    path = path or env.get(names.KAFKA_BACKUP_METRICS_PATH, "").strip() or DEFAULT_PATH
    return MetricsServer(
        registry,
        host=host,
        port=port,
        path=path,
        checks=checks,
        refresh_interval_ms=refresh_interval_ms,
        idle_timeout_s=idle_timeout_s,
        bind_hint=bind_hint,
    ).start()
