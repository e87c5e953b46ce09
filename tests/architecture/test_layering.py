"""The package layering the issue tracker and docs promise, checked on the source and in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from architecture.imports import graph, imports_of, modules

SDK_SIDE = ("opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client", "kafka_backup.telemetry.providers")
"""What only the CLI wires: the engine records through the OpenTelemetry API alone."""


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    """The check below can fail: a two-module loop and a three-module loop are both reported."""
    edges = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(edges) == [["a", "b"], ["c", "d", "e"]]


def test_no_import_cycles() -> None:
    """No two of our modules import each other, directly or round a loop, deferred imports included."""
    assert _cycles(graph()) == []


def test_engine_imports_no_telemetry_sdk() -> None:
    """Importing every engine module loads neither the OpenTelemetry SDK, an exporter nor the Prometheus client."""
    engine = sorted(name for name in modules() if name.startswith("kafka_backup.engine"))
    probe = "import importlib, json, sys\n" + f"for name in {engine!r}: importlib.import_module(name)\n"
    probe += "print(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(done.stdout)
    assert "kafka_backup.engine.backup.run" in loaded  # the probe really imported the engine
    assert [m for m in loaded if m.startswith(SDK_SIDE)] == []


KAFKA_CLIENT_FREE = (
    "kafka_backup.engine.drill",
    "kafka_backup.engine.config",
    "kafka_backup.engine.backup",
    "kafka_backup.engine.restore",
)
"""Packages that reach Kafka only through ``kafka_backup.engine.kafka`` (the adapter that wraps confluent_kafka)."""


def _imports_kafka_client(name: str) -> bool:
    return name == "confluent_kafka" or name.startswith("confluent_kafka.")


def test_kafka_client_stays_in_the_adapter() -> None:
    """No drill, config, backup or restore module imports confluent_kafka itself (deferred imports included); the
    check sees such an import where there is one: the adapter's own modules do."""
    ours = modules()
    offenders = {
        name: sorted(m for m in imports_of(path) if _imports_kafka_client(m))
        for name, path in ours.items()
        if name.startswith(KAFKA_CLIENT_FREE)
    }
    assert {"kafka_backup.engine.backup.run", "kafka_backup.engine.restore.run"} <= set(
        ours
    )  # the check really looks at the stages
    assert {name: found for name, found in offenders.items() if found} == {}
    assert any(_imports_kafka_client(m) for m in imports_of(ours["kafka_backup.engine.kafka.reader"]))
    assert any(_imports_kafka_client(m) for m in imports_of(ours["kafka_backup.engine.kafka.topics"]))
    assert any(_imports_kafka_client(m) for m in imports_of(ours["kafka_backup.engine.kafka.admin"]))


def test_confluent_kafka_import_is_detected(tmp_path: Path) -> None:
    """The check above can fail: an import of confluent_kafka, even deferred inside a function, is found."""
    module = tmp_path / "stage.py"
    module.write_text("def f():\n    from confluent_kafka import Consumer\n    return Consumer\n")
    assert "confluent_kafka" in imports_of(module)
