"""Tests of the metrics/health HTTP server, over real sockets."""

from __future__ import annotations

import gzip
import logging
import resource
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.errors import MetricsServerError
from kafka_backup.telemetry.providers import Telemetry, setup
from kafka_backup.telemetry.server import (
    DEFAULT_HOST,
    DEFAULT_PATH,
    DEFAULT_PORT,
    LISTEN_BACKLOG,
    RENDER_WORKERS,
    MetricsServer,
    serve_metrics,
)
from rig.kafka import taken_port


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """A setup with one recorded series and no OTLP."""
    telemetry = setup(environ={}, set_global=False, configure_logs=False)
    metrics: Metrics = telemetry.metrics
    metrics.backup_records_total.add(7, {"backup_id": "b", "topic": "t", "partition": "0"})
    yield telemetry
    telemetry.shutdown()


@pytest.fixture
def server(telemetry: Telemetry) -> Iterator[MetricsServer]:
    """A running server on a free loopback port."""
    with MetricsServer(telemetry.registry, port=0) as server:
        yield server


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, including error statuses."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback test server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test server
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class TestMetricsServer:
    def test_defaults(self) -> None:
        """The defaults are the PRD's: localhost only, port 8080, /metrics."""
        assert (DEFAULT_HOST, DEFAULT_PORT, DEFAULT_PATH) == ("127.0.0.1", 8080, "/metrics")
        unstarted = MetricsServer(CollectorRegistry())
        assert (unstarted.host, unstarted.port, unstarted.path) == ("127.0.0.1", 8080, "/metrics")

    def test_metrics_prometheus_text(self, server: MetricsServer) -> None:
        """/metrics serves the Prometheus text format by default."""
        status, headers, body = get(f"{server.url}/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        assert b'kafka_backup_records_total{backup_id="b",partition="0",topic="t"} 7.0' in body

    def test_metrics_openmetrics(self, server: MetricsServer) -> None:
        """Asking for OpenMetrics gets OpenMetrics, ending in # EOF."""
        status, headers, body = get(f"{server.url}/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
        assert status == 200
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")

    def test_metrics_gzip(self, server: MetricsServer) -> None:
        """Accept-Encoding: gzip gets a gzipped body."""
        _, headers, body = get(f"{server.url}/metrics", {"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip"
        assert b"kafka_backup_records_total" in gzip.decompress(body)

    def test_healthz(self, server: MetricsServer) -> None:
        """/healthz answers 200 while the process serves."""
        assert get(f"{server.url}/healthz")[0] == 200

    def test_readyz_follows_checks(self, server: MetricsServer) -> None:
        """/readyz is 200 with passing checks and 503 naming each failing or crashing check."""
        assert get(f"{server.url}/readyz")[0] == 200
        state = {"assigned": False}
        server.add_readiness_check("consumer_assigned", lambda: state["assigned"])
        server.add_readiness_check("crashing", lambda: 1 / 0 == 0)
        status, _, body = get(f"{server.url}/readyz")
        assert status == 503
        assert b"consumer_assigned" in body
        assert b"crashing" in body
        state["assigned"] = True
        assert b"consumer_assigned" not in get(f"{server.url}/readyz")[2]

    def test_unknown_path(self, server: MetricsServer) -> None:
        """Other paths are 404."""
        assert get(f"{server.url}/nope")[0] == 404

    def test_custom_path_from_env(self, telemetry: Telemetry) -> None:
        """KAFKA_BACKUP_METRICS_PATH and _PORT configure serve_metrics."""
        server = serve_metrics(
            telemetry.registry, environ={"KAFKA_BACKUP_METRICS_PATH": "/prom", "KAFKA_BACKUP_METRICS_PORT": "0"}
        )
        try:
            assert get(f"{server.url}/prom")[0] == 200
            assert get(f"{server.url}/metrics")[0] == 404
        finally:
            server.stop()

    def test_taken_port_is_a_typed_error(self) -> None:
        """Binding a port another socket listens on raises MetricsServerError naming the address."""
        with taken_port() as port, pytest.raises(MetricsServerError) as caught:
            MetricsServer(CollectorRegistry(), port=port).start()
        assert caught.value.code == "METRICS_SERVER_BIND_FAILED"
        assert f"127.0.0.1:{port}" in str(caught.value)
        assert str(caught.value).endswith("(choose another port; 0 picks a free one)")

    def test_taken_port_hint(self) -> None:
        """The fix named is the caller's bind_hint, or the variable the port came from."""
        with taken_port() as port:
            with pytest.raises(MetricsServerError) as given:
                serve_metrics(CollectorRegistry(), port=port, bind_hint="use --other-flag")
            with pytest.raises(MetricsServerError) as from_env:
                serve_metrics(CollectorRegistry(), environ={"KAFKA_BACKUP_METRICS_PORT": str(port)})
        assert str(given.value).endswith("(use --other-flag)")
        assert "(set KAFKA_BACKUP_METRICS_PORT to another port; 0 picks a free one)" in str(from_env.value)

    def test_slow_readiness_check_delays_only_readyz(self, server: MetricsServer) -> None:
        """While a readiness check blocks (a storage stat, say), /healthz and /metrics are still answered."""
        entered, release = threading.Event(), threading.Event()

        def blocking() -> bool:
            entered.set()
            return release.wait(timeout=60)

        server.add_readiness_check("storage", blocking)
        with ThreadPoolExecutor(1) as client:
            probe = client.submit(get, f"{server.url}/readyz")
            assert entered.wait(timeout=30)
            assert get(f"{server.url}/healthz")[0] == 200
            assert records_line(7.0) in get(f"{server.url}/metrics")[2]
            assert not probe.done()
            release.set()
            assert probe.result()[0] == 200

    def test_bad_port_variable(self) -> None:
        """A non-numeric KAFKA_BACKUP_METRICS_PORT is a typed error, not a crash."""
        with pytest.raises(MetricsServerError):
            serve_metrics(CollectorRegistry(), environ={"KAFKA_BACKUP_METRICS_PORT": "http"})


PART = {"backup_id": "b", "topic": "t", "partition": "0"}
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def records_line(value: float) -> bytes:
    return f'kafka_backup_records_total{{backup_id="b",partition="0",topic="t"}} {value}'.encode()


def render_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name in {"metrics-render", "metrics-server"}]


class TestCachedExposition:
    def test_scrape_is_at_most_one_interval_old(self, telemetry: Telemetry) -> None:
        """A value recorded one interval (plus a render) before a scrape is in it, without a synchronous render."""
        with MetricsServer(telemetry.registry, port=0, refresh_interval_ms=200) as server:
            assert records_line(7.0) in get(f"{server.url}/metrics")[2]  # the first scrape renders and wakes the thread
            telemetry.metrics.backup_records_total.add(5, PART)
            time.sleep(0.2 + 0.15)
            assert records_line(12.0) in get(f"{server.url}/metrics")[2]
            assert server._cache is not None
            assert server._cache.renders >= 2  # the background thread rendered

    def test_cached_scrapes_do_not_collect(self, telemetry: Telemetry) -> None:
        """Within one interval, scrapes are served from the same render."""
        with MetricsServer(telemetry.registry, port=0, refresh_interval_ms=60_000) as server:
            first = get(f"{server.url}/metrics")[2]
            telemetry.metrics.backup_records_total.add(5, PART)
            assert get(f"{server.url}/metrics")[2] == first
            assert server._cache is not None
            assert server._cache.renders == 1

    def test_interval_zero_renders_per_scrape(self, telemetry: Telemetry) -> None:
        """refresh_interval_ms=0: every scrape sees what was recorded just before it; no render thread."""
        with MetricsServer(telemetry.registry, port=0, refresh_interval_ms=0) as server:
            assert server._cache is None
            assert [t.name for t in render_threads()] == ["metrics-server"]
            for total in (7.0, 8.0, 9.0):
                assert records_line(total) in get(f"{server.url}/metrics")[2]
                telemetry.metrics.backup_records_total.add(1, PART)

    def test_negotiation_from_the_cache(self, telemetry: Telemetry) -> None:
        """Text, OpenMetrics (# EOF) and gzip each get their own cached variant of the same collection."""
        with MetricsServer(telemetry.registry, port=0, refresh_interval_ms=60_000) as server:
            url = f"{server.url}/metrics"
            variants: list[dict[str, str]] = [
                {},
                {"Accept": OPENMETRICS},
                {"Accept": OPENMETRICS, "Accept-Encoding": "gzip"},
                {"Accept-Encoding": "gzip"},
            ]
            for headers in variants:
                get(url, headers)  # a variant asked for the first time renders every wanted variant anew
            _, text_headers, text = get(url)
            _, om_headers, om = get(url, {"Accept": OPENMETRICS})
            _, om_gz_headers, om_gz = get(url, {"Accept": OPENMETRICS, "Accept-Encoding": "gzip"})
            _, gz_headers, gz = get(url, {"Accept-Encoding": "gzip"})
        assert text_headers["Content-Type"].startswith("text/plain")
        assert "Content-Encoding" not in text_headers
        assert records_line(7.0) in text
        assert not text.endswith(b"# EOF\n")
        assert om_headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.endswith(b"# EOF\n")
        assert om_gz_headers["Content-Encoding"] == "gzip"
        assert om_gz_headers["Content-Type"] == om_headers["Content-Type"]
        assert gzip.decompress(om_gz) == om
        assert gz_headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(gz) == text

    def test_stale_cache_renders_synchronously(self, telemetry: Telemetry) -> None:
        """A render older than two periods is not served, even when the render thread has not caught up."""
        with MetricsServer(telemetry.registry, port=0, refresh_interval_ms=100) as server:
            get(f"{server.url}/metrics")
            server._stopping.set()  # stop the render thread only: the server keeps answering
            server._wake.set()
            assert server._refresher is not None
            server._refresher.join(timeout=5)
            telemetry.metrics.backup_records_total.add(5, PART)
            time.sleep(0.25)
            assert records_line(12.0) in get(f"{server.url}/metrics")[2]

    def test_stop_leaves_no_thread_and_no_cache(self, telemetry: Telemetry) -> None:
        """stop() joins the server and render threads and drops the cache; a restart renders fresh values."""
        before = render_threads()
        server = MetricsServer(telemetry.registry, port=0, refresh_interval_ms=50).start()
        get(f"{server.url}/metrics")
        time.sleep(0.15)  # let the render thread run a few refreshes
        assert {t.name for t in render_threads()} - {t.name for t in before} == {"metrics-render", "metrics-server"}
        server.stop()
        assert render_threads() == before
        assert server._cache is not None
        assert server._cache.fresh(("text/plain; version=0.0.4; charset=utf-8", False)) is None
        telemetry.metrics.backup_records_total.add(5, PART)
        with server:
            assert records_line(12.0) in get(f"{server.url}/metrics")[2]
        assert render_threads() == before

    def test_idle_server_renders_nothing(self, telemetry: Telemetry) -> None:
        """Before the first scrape the render thread waits: an unscraped process pays nothing."""
        with MetricsServer(telemetry.registry, port=0, refresh_interval_ms=20) as server:
            time.sleep(0.1)
            assert server._cache is not None
            assert server._cache.renders == 0
            assert get(f"{server.url}/healthz")[0] == 200
            assert server._cache.renders == 0

    def test_name_filter_and_other_methods_unchanged(self, telemetry: Telemetry) -> None:
        """name[] filters and non-GET methods still go to prometheus_client's app."""
        with MetricsServer(telemetry.registry, port=0) as server:
            status, _, body = get(f"{server.url}/metrics?name[]=process_cpu_seconds_total")
            assert status == 200
            assert b"process_cpu_seconds_total" in body
            assert b"kafka_backup_records_total" not in body
            request = urllib.request.Request(f"{server.url}/metrics", method="POST", data=b"")  # noqa: S310
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback test server
            caught.value.close()
            assert caught.value.code == 405

    def test_negative_interval_rejected(self) -> None:
        """A negative refresh interval is a caller error."""
        with pytest.raises(ValueError, match="refresh_interval_ms"):
            MetricsServer(CollectorRegistry(), refresh_interval_ms=-1)


def native_threads() -> int:
    """Threads of this process as the kernel counts them (librdkafka's and the SDK's included)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def exchange(server: MetricsServer, raw: bytes) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(raw)
        return read_until_closed(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket timeout: it never did)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.fixture
def many_files() -> Iterator[None]:
    """Room for a few thousand sockets (1,000 idle clients plus the server's side of each)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if wanted < 2500:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} leaves no room for 1,000 idle connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class TestUnderLoad:
    def test_listen_backlog_holds_a_burst(self, server: MetricsServer) -> None:
        """The listening socket queues at least 128 connections (today's kernel caps it at somaxconn)."""
        assert LISTEN_BACKLOG >= 128

    def test_200_concurrent_scrapes_all_succeed(self, server: MetricsServer) -> None:
        """200 scrapes released at once all get the full exposition."""
        start = threading.Barrier(200)

        def scrape(_client: int) -> tuple[int, bytes]:
            start.wait()
            status, _, body = get(f"{server.url}/metrics")
            return status, body

        with ThreadPoolExecutor(200) as clients:
            answers = list(clients.map(scrape, range(200)))
        assert [status for status, _ in answers] == [200] * 200
        assert all(records_line(7.0) in body for _, body in answers)

    def test_1000_idle_connections_cost_no_threads(self, server: MetricsServer, many_files: None) -> None:
        """1,000 connections that never send a byte add no thread, and scrapes and probes are served meanwhile."""
        assert get(f"{server.url}/metrics")[0] == 200  # the render workers exist from here on
        before = native_threads()
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(1000)]
        try:
            # The kernel hands connections over in order, so once this one is answered all 1,000 were accepted.
            status, _, body = get(f"{server.url}/metrics")
            assert status == 200
            assert records_line(7.0) in body
            assert get(f"{server.url}/healthz")[0] == 200
            assert native_threads() <= before + RENDER_WORKERS
            server.stop()
            assert all(read_until_closed(sock) == b"" for sock in idle)  # stop() closed every one of them
        finally:
            for sock in idle:
                sock.close()

    def test_idle_connections_are_closed(self, telemetry: Telemetry) -> None:
        """Silent, half-sent and finished keep-alive connections are all closed after the idle timeout."""
        with MetricsServer(telemetry.registry, port=0, idle_timeout_s=0.3) as server:
            address = ("127.0.0.1", server.port)
            with (
                socket.create_connection(address, timeout=30) as silent,
                socket.create_connection(address, timeout=30) as half_sent,
                socket.create_connection(address, timeout=30) as kept_alive,
            ):
                half_sent.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_until_closed(silent) == b""
                assert read_until_closed(half_sent) == b""
                answer = read_until_closed(kept_alive)
                assert answer.startswith(b"HTTP/1.1 200")
                assert answer.endswith(b"ok\n")

    def test_every_request_is_answered(self, server: MetricsServer, caplog: pytest.LogCaptureFixture) -> None:
        """HTTP/0.9, HTTP/1.0, garbage and oversized requests: each answered, then closed; no error logged."""
        assert exchange(server, b"GET /healthz\r\n").endswith(b"\r\n\r\nok\n")
        assert records_line(7.0) in exchange(server, b"GET /metrics\n")
        assert exchange(server, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
        assert exchange(server, b"garbage\r\n\r\n").startswith(b"HTTP/1.0 400")
        huge = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n"
        assert exchange(server, huge).startswith(b"HTTP/1.0 400")
        assert [record.levelname for record in caplog.records if record.levelno >= logging.WARNING] == []
