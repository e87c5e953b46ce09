"""The HTTP endpoint: ``/metrics`` (Prometheus text or OpenMetrics, gzip on request), ``/healthz`` and ``/readyz``.

``/metrics`` is prometheus_client's own WSGI app, so content negotiation (``Accept: application/openmetrics-text``
gives OpenMetrics with ``# EOF``) and ``Accept-Encoding: gzip`` behave exactly as Prometheus expects; a tiny router
adds the probes on the same port. Binds 127.0.0.1 by default (the PRD's localhost-only default): expose it wider
with ``KAFKA_BACKUP_METRICS_HOST=0.0.0.0`` in a container.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from kafka_backup.telemetry import env as names
from kafka_backup.telemetry.errors import MetricsServerError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DEFAULT_HOST", "DEFAULT_PATH", "DEFAULT_PORT", "MetricsServer", "ReadinessCheck", "serve_metrics"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PATH = "/metrics"

ReadinessCheck = Callable[[], bool]
"""Returns True when its component is ready; raising counts as not ready."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scrape must not block a probe, and no request may keep the process alive at exit.
    daemon_threads = True


class _ThreadingServerV6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would drown the logs; access logging is the proxy's job."""


class MetricsServer:
    """Serves a registry and the health probes from a background thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        path: str = DEFAULT_PATH,
        checks: Mapping[str, ReadinessCheck] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.path = path if path.startswith("/") else f"/{path}"
        self._metrics_app = make_wsgi_app(registry)
        self._checks: dict[str, ReadinessCheck] = dict(checks or {})
        self._lock = threading.Lock()
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

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
        self._thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start() if self._server is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

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

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.path:
            app: WSGIApplication = self._metrics_app
            return app(environ, start_response)
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
    return MetricsServer(registry, host=host, port=port, path=path, checks=checks).start()
