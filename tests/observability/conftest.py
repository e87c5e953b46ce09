"""Session fixtures: a real Prometheus and a real OpenTelemetry Collector, each on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rig import otelcol
from rig.kafka import REPO_ROOT, tail
from rig.prometheus import Prometheus

RULES = REPO_ROOT / "dashboards" / "prometheus"


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus 2.x from Debian, scraping every second, with our recording and alert rules evaluated every second."""
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        rule_files=[RULES / "recording-rules.yaml", RULES / "alert-rules.yaml"],
        interval_s=1.0,
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[otelcol.Collector]:
    """The collector built from collector/builder-config.yaml, running a test copy of collector/config.yaml."""
    workdir = tmp_path_factory.mktemp("otelcol")
    shipped = yaml.safe_load(otelcol.SHIPPED_CONFIG.read_text())
    config = otelcol.test_config(shipped, otelcol.Ports.free(), workdir / "export.jsonl")
    running = otelcol.Collector(workdir, config).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing test that used Prometheus or the collector, attach the tail of its log."""
    report: pytest.TestReport = yield  # type: ignore[assignment]  # pluggy's wrapper protocol sends the result
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    if report.failed:
        for value in funcargs.values():
            if isinstance(value, Prometheus | otelcol.Collector):
                path: Path = value.log_path
                report.sections.append((f"{type(value).__name__} log {path}", tail(path, 60)))
    return report  # type: ignore[return-value]
