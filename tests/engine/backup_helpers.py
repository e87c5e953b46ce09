"""Helpers for backup tests: configs, and reading a backup back with plain pyarrow and json (no project code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from rig.tricky import Row


def backup_config(bootstrap: str, backup_id: str, root: Path, topics: list[str], **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backup_id": backup_id,
        "source": {"bootstrap_servers": bootstrap, "connect_timeout_s": 10},
        "topics": {"include": topics},
        "storage": {"url": f"file://{root}"},
        "segment": {"max_records": 500},
        "session_timeout_ms": 6000,
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def segment_rows(path: Path) -> list[Row]:
    table = pq.read_table(path)
    out: list[Row] = []
    for r in table.to_pylist():
        headers = None if r["headers"] is None else [(h["key"], h["value"]) for h in r["headers"]]
        row = (r["topic"], r["partition"], r["offset"], r["timestamp"], r["timestamp_type"], r["key"], r["value"])
        out.append((*row, headers))
    return out


def referenced_segments(root: Path, backup_id: str, topic: str) -> list[Path]:
    """Segment files listed by the partition manifests (what a reader trusts)."""
    paths = []
    for manifest in sorted((root / backup_id / "topics" / topic).glob("*/manifest.json")):
        body = json.loads(manifest.read_text())
        paths += [root / s["key"] for s in body["segments"]]
    return paths


def backup_rows(root: Path, backup_id: str, topic: str) -> list[Row]:
    rows = [row for path in referenced_segments(root, backup_id, topic) for row in segment_rows(path)]
    rows.sort(key=lambda r: (r[1], r[2]))
    return rows


def all_segment_files(root: Path, backup_id: str, topic: str) -> list[Path]:
    return sorted((root / backup_id / "topics" / topic).glob("*/segments/*.parquet"))
