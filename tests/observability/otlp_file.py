"""Read what the collector's file exporter wrote: OTLP/JSON, one export request per line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def attributes(item: dict[str, Any]) -> dict[str, Any]:
    """An OTLP/JSON attribute list as a dict (string, int, double and bool values)."""
    out: dict[str, Any] = {}
    for attr in item.get("attributes", []):
        value = attr.get("value", {})
        out[attr["key"]] = next(iter(value.values()), None) if value else None
    return out


def requests(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        if line.strip():
            yield json.loads(line)


def metric_points(path: Path, name: str) -> Iterator[dict[str, Any]]:
    """Every data point of the metric ``name`` (the OpenTelemetry instrument name), in export order."""
    for request in requests(path):
        for resource in request.get("resourceMetrics", []):
            for scope in resource.get("scopeMetrics", []):
                for metric in scope.get("metrics", []):
                    if metric["name"] == name:
                        body = next(v for k, v in metric.items() if k in ("sum", "gauge", "histogram"))
                        yield from body.get("dataPoints", [])


def spans(path: Path) -> Iterator[dict[str, Any]]:
    for request in requests(path):
        for resource in request.get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                yield from scope.get("spans", [])


def log_records(path: Path) -> Iterator[dict[str, Any]]:
    for request in requests(path):
        for resource in request.get("resourceLogs", []):
            for scope in resource.get("scopeLogs", []):
                yield from scope.get("logRecords", [])


def cumulative_total(path: Path, name: str, **match: str) -> float:
    """Sum over series of the last exported value of a cumulative counter, for points whose attributes match."""
    last: dict[tuple[tuple[str, Any], ...], float] = {}
    for point in metric_points(path, name):
        attrs = attributes(point)
        if all(attrs.get(k) == v for k, v in match.items()):
            raw = point.get("asInt", point.get("asDouble"))
            last[tuple(sorted(attrs.items()))] = float(raw) if raw is not None else 0.0
    return sum(last.values())


def eventually(probe: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """Call ``probe`` until ``ok(result)`` or the timeout; return the last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.1)
