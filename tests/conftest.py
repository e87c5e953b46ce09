"""Session fixtures: real components, started once per test session and cleaned up after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from rig.kafka import KafkaCluster, KafkaEndpoint, tail

pytest_plugins = ["rig.storage_fixtures"]


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaEndpoint]:
    """A real Kafka broker: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a local KRaft node from Maven Central jars."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield KafkaEndpoint(bootstrap=external)
        return
    cluster = KafkaCluster().start()
    try:
        yield cluster.endpoint()
    finally:
        cluster.stop()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test, so tests never see each other's data."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing test that used the broker, attach the broker log's tail to the report."""
    report: pytest.TestReport = yield  # type: ignore[assignment]  # pluggy's wrapper protocol sends the result
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    endpoint = funcargs.get("kafka")
    if report.failed and isinstance(endpoint, KafkaEndpoint):
        for path in endpoint.log_paths:
            report.sections.append((f"broker log {path}", tail(path, 80)))
    return report  # type: ignore[return-value]
