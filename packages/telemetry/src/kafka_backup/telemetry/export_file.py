"""Writing the metrics to a file, for air-gapped runs and CI: ``.prom`` (Prometheus text) or ``.json``.

``.prom`` files are written atomically (temporary file in the same directory, fsync, rename), so node_exporter's
textfile collector never reads half a file; the temporary name does not end in ``.prom``, so it is never collected.
Write before ``Telemetry.shutdown()``: shutting down detaches the Prometheus reader from the registry.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from kafka_backup.telemetry.errors import MetricsFileError

__all__ = ["metrics_json", "write_metrics_file"]


def metrics_json(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """One object per sample: ``name``, ``family``, ``type``, ``help``, ``unit``, ``labels``, ``value``.

    Non-finite values (NaN, ±Inf) become the strings Prometheus prints, since JSON has no such numbers.
    """
    result: list[dict[str, Any]] = []
    for family in registry.collect():
        for sample in family.samples:
            value: float | str = sample.value
            if not math.isfinite(sample.value):
                value = "NaN" if math.isnan(sample.value) else ("+Inf" if sample.value > 0 else "-Inf")
            result.append(
                {
                    "name": sample.name,
                    "family": family.name,
                    "type": family.type,
                    "help": family.documentation,
                    "unit": family.unit,
                    "labels": dict(sample.labels),
                    "value": value,
                }
            )
    return result


def write_metrics_file(registry: CollectorRegistry, path: str | os.PathLike[str]) -> Path:
    """Write the registry to ``path``; the suffix picks the format (``.prom`` or ``.json``). Atomic either way."""
    target = Path(path)
    if target.suffix == ".prom":
        payload = generate_latest(registry)
    elif target.suffix == ".json":
        payload = (json.dumps(metrics_json(registry), indent=1, allow_nan=False) + "\n").encode()
    else:
        raise MetricsFileError(f"{target}: metrics files end in .prom (Prometheus text) or .json")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            # mkstemp creates 0600; collectors often run as another user.
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise MetricsFileError(f"{target}: {error.strerror or error}") from error
    return target
