"""Tests of the metrics/health HTTP server, over real sockets."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.errors import MetricsServerError
from kafka_backup.telemetry.providers import Telemetry, setup
from kafka_backup.telemetry.server import DEFAULT_HOST, DEFAULT_PATH, DEFAULT_PORT, MetricsServer, serve_metrics


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
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            with pytest.raises(MetricsServerError) as caught:
                MetricsServer(CollectorRegistry(), port=port).start()
        assert caught.value.code == "METRICS_SERVER_BIND_FAILED"
        assert f"127.0.0.1:{port}" in str(caught.value)

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
