"""The HTTP endpoint: ``/metrics`` (Prometheus text or OpenMetrics, gzip on request), ``/healthz`` and ``/readyz``.

``/metrics`` negotiates exactly as prometheus_client's own WSGI app does (``Accept: application/openmetrics-text``
gives OpenMetrics with ``# EOF``; ``Accept-Encoding: gzip`` gives gzip), and a tiny router adds the probes on the
same port. Binds 127.0.0.1 by default (the PRD's localhost-only default): expose it wider with
``KAFKA_BACKUP_METRICS_HOST=0.0.0.0`` in a container.

Cached exposition. Rendering costs about 25-30 µs per series in pure Python (the OTel SDK collects, the Prometheus
reader converts every point into ``prometheus_client`` families, which render the text), so 10,000 series take
250-300 ms per scrape. With ``refresh_interval_ms > 0`` (default 500, the engine's ``metrics.update_interval_ms``
default, the rate its gauges change) a background thread collects once per interval and renders every variant
(format x gzip) a scraper has asked for; scrapes are answered from those bytes. A scrape with no cached render, or
one older than two refresh periods, renders synchronously. The thread only renders while someone scrapes: it
starts after the first scrape and pauses after ``IDLE_AFTER_S`` without one. To keep a large registry from taking
the interpreter, the period stretches so rendering uses at most ``MAX_BUSY`` of the time (at 10,000 series about
1.2 s instead of 0.5 s). ``refresh_interval_ms=0`` renders per scrape. ``stop()`` drops the cache, so nothing
rendered before it is served again.
"""

from __future__ import annotations

import functools
import gzip
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric

from kafka_backup.telemetry import env as names
from kafka_backup.telemetry.errors import MetricsServerError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "DEFAULT_REFRESH_INTERVAL_MS",
    "IDLE_AFTER_S",
    "MAX_BUSY",
    "MetricsServer",
    "ReadinessCheck",
    "serve_metrics",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SHUTDOWN_POLL_S = 0.05
"""How often the serving thread checks for ``stop()`` (``serve_forever``'s poll interval)."""
DEFAULT_PATH = "/metrics"
DEFAULT_REFRESH_INTERVAL_MS = 500
"""The engine's default ``metrics.update_interval_ms``: its lag gauges change no faster than this."""
IDLE_AFTER_S = 300.0
"""Background rendering pauses after this long without a scrape (the next scrape renders synchronously)."""
MAX_BUSY = 0.25
"""Largest share of wall time the background render may take; beyond it the refresh period stretches."""

ReadinessCheck = Callable[[], bool]
"""Returns True when its component is ready; raising counts as not ready."""

_log = logging.getLogger("kafka_backup.telemetry")
Encoder = Callable[[Any], bytes]
_Key = tuple[str, bool]  # (Content-Type, gzip)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scrape must not block a probe, and no request may keep the process alive at exit.
    daemon_threads = True


class _ThreadingServerV6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would drown the logs; access logging is the proxy's job."""


class _Snapshot:
    """The families of one collection, encodable any number of times (an encoder only calls ``collect()``)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


class _ExpositionCache:
    """The rendered variants of the latest collection, and the variants scrapers asked for.

    One render at a time (``_render_lock``): the Prometheus reader's collector is not safe under concurrent
    collections (a second collection in flight can take the first one's data), so the server never runs two.
    """

    def __init__(self, registry: CollectorRegistry, interval_s: float) -> None:
        self.registry = registry
        self.interval_s = interval_s
        self._render_lock = threading.Lock()
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


class MetricsServer:
    """Serves a registry and the health probes from a background thread; ``port=0`` picks a free port.

    ``refresh_interval_ms`` (default ``DEFAULT_REFRESH_INTERVAL_MS``): how often the exposition is rendered in the
    background while scraped; ``0`` renders on every scrape.
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
    ) -> None:
        if refresh_interval_ms < 0:
            raise ValueError(f"refresh_interval_ms must be >= 0, not {refresh_interval_ms}")
        self.host = host
        self.port = port
        self.path = path if path.startswith("/") else f"/{path}"
        self.refresh_interval_ms = refresh_interval_ms
        self._metrics_app = make_wsgi_app(registry)
        self._cache = _ExpositionCache(registry, refresh_interval_ms / 1000) if refresh_interval_ms > 0 else None
        self._checks: dict[str, ReadinessCheck] = dict(checks or {})
        self._lock = threading.Lock()
        self._server: _ThreadingServer | None = None
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
        server_class = _ThreadingServerV6 if ":" in self.host else _ThreadingServer
        try:
            server = make_server(
                self.host, self.port, self._app, server_class=server_class, handler_class=_QuietHandler
            )
        except OSError as error:
            raise MetricsServerError(self.host, self.port, error.strerror or str(error)) from error
        self._server = server
        self.port = server.server_address[1]
        self._stopping.clear()
        self._wake.clear()
        if self._cache is not None:
            self._refresher = threading.Thread(target=self._refresh_loop, name="metrics-render", daemon=True)
            self._refresher.start()
        # serve_forever checks for shutdown every poll interval (0.5 s by default), and stop() waits for that: a
        # one-shot command with --expose-metrics would end half a second late
        serve = functools.partial(server.serve_forever, poll_interval=SHUTDOWN_POLL_S)
        self._thread = threading.Thread(target=serve, name="metrics-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and rendering, release the port and drop the cached exposition."""
        self._stopping.set()
        self._wake.set()
        if self._cache is not None:
            self._cache.clear()  # a scrape still in flight renders fresh values
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None
        if self._cache is not None:
            self._cache.clear()

    def __enter__(self) -> MetricsServer:
        return self.start() if self._server is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

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

    def _metrics(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cache = self._cache
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if cache is None or environ.get("REQUEST_METHOD") != "GET" or "name[]" in query:
            # Per-scrape rendering, other methods and name[] filters: prometheus_client's app, as it is.
            app: WSGIApplication = self._metrics_app
            return app(environ, start_response)
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        gzipped = gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", ""))
        key = (content_type, gzipped)
        cache.want(key, encoder)
        self._wake.set()
        body = cache.body(key, encoder)
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.path:
            return self._metrics(environ, start_response)
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            failing = self._ready()
            if failing:
                return _text(start_response, "503 Service Unavailable", "not ready: " + ", ".join(failing) + "\n")
            return _text(start_response, "200 OK", "ok\n")
        return _text(start_response, "404 Not Found", f"not found; try {self.path}, /healthz or /readyz\n")


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    payload = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(payload)))])
    return [payload]


def serve_metrics(
    registry: CollectorRegistry,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str | None = None,
    checks: Mapping[str, ReadinessCheck] | None = None,
    environ: Mapping[str, str] | None = None,
    refresh_interval_ms: int = DEFAULT_REFRESH_INTERVAL_MS,
) -> MetricsServer:
    """Start a ``MetricsServer``; unset arguments come from ``KAFKA_BACKUP_METRICS_HOST/PORT/PATH``, then defaults.

    Raises ``MetricsServerError`` for a taken port or a non-numeric ``KAFKA_BACKUP_METRICS_PORT``.
    """
    env = os.environ if environ is None else environ
    host = host or env.get(names.KAFKA_BACKUP_METRICS_HOST, "").strip() or DEFAULT_HOST
    if port is None:
        raw = env.get(names.KAFKA_BACKUP_METRICS_PORT, "").strip()
        try:
            port = int(raw) if raw else DEFAULT_PORT
        except ValueError as error:
            raise MetricsServerError(host, -1, f"{names.KAFKA_BACKUP_METRICS_PORT}={raw!r} is not a port") from error
    path = path or env.get(names.KAFKA_BACKUP_METRICS_PATH, "").strip() or DEFAULT_PATH
    return MetricsServer(
        registry, host=host, port=port, path=path, checks=checks, refresh_interval_ms=refresh_interval_ms
    ).start()
