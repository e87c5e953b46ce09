"""Tests of the metrics/health HTTP server, over real sockets."""

from __future__ import annotations

import gzip
import socket
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
