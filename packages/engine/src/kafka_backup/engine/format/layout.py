"""Where every object of a backup lives: the one definition of every storage key and prefix.

Layout under the storage URL (all names deterministic; documented in ``docs/format.md``)::

    <backup_id>/backup.json                                   backup-level metadata (topics, groups, runs)
    <backup_id>/snapshot.json                                 the current snapshot's target end offsets
    <backup_id>/topics/<topic>/<partition>/manifest.json      the partition manifest: segments and gaps
    <backup_id>/topics/<topic>/<partition>/segments/<start:020>-<end:020>.parquet
    <backup_id>/restores/<restore_id>/state.json              a restore's checkpoint
    <backup_id>/restores/<restore_id>/offsets/<topic>/<partition>/<start:020>.json   one offset map per segment

Offsets in names are zero-padded to 20 digits, so keys sort in offset order. Nothing else builds or parses a key:
code that needs one calls a function here (or :class:`kafka_backup.engine.repository.Repository`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

BACKUP_NAME = "backup.json"
SNAPSHOT_NAME = "snapshot.json"
MANIFEST_NAME = "manifest.json"
STATE_NAME = "state.json"

SEGMENT_KEY = re.compile(r"^(?P<b>[^/]+)/topics/(?P<t>.+)/(?P<p>\d+)/segments/[^/]+\.parquet$")
"""A segment object's key: backup id ``b``, topic ``t``, partition ``p`` (the one pattern; names are not checked
further, so a stray object in a segments folder is still seen as a segment there)."""

ObjectKind = Literal["backup", "manifest", "restore", "segment", "other"]


def backup_prefix(backup_id: str) -> str:
    return f"{backup_id}/"


def backup_key(backup_id: str) -> str:
    return f"{backup_id}/{BACKUP_NAME}"


def snapshot_key(backup_id: str) -> str:
    return f"{backup_id}/{SNAPSHOT_NAME}"


def topics_prefix(backup_id: str) -> str:
    return f"{backup_id}/topics/"


def topic_prefix(backup_id: str, topic: str) -> str:
    return f"{topics_prefix(backup_id)}{topic}/"


def partition_prefix(backup_id: str, topic: str, partition: int) -> str:
    return f"{topic_prefix(backup_id, topic)}{partition}/"


def manifest_key(backup_id: str, topic: str, partition: int) -> str:
    return partition_prefix(backup_id, topic, partition) + MANIFEST_NAME


def segment_key(backup_id: str, topic: str, partition: int, start: int, end: int) -> str:
    return partition_prefix(backup_id, topic, partition) + f"segments/{start:020d}-{end:020d}.parquet"


def restores_prefix(backup_id: str) -> str:
    return f"{backup_id}/restores/"


def restore_prefix(backup_id: str, restore_id: str) -> str:
    return f"{restores_prefix(backup_id)}{restore_id}/"


def state_key(backup_id: str, restore_id: str) -> str:
    return restore_prefix(backup_id, restore_id) + STATE_NAME


def offsets_prefix(backup_id: str, restore_id: str) -> str:
    return restore_prefix(backup_id, restore_id) + "offsets/"


def offset_map_key(backup_id: str, restore_id: str, topic: str, partition: int, start: int) -> str:
    return offsets_prefix(backup_id, restore_id) + f"{topic}/{partition}/{start:020d}.json"


@dataclass(frozen=True)
class SegmentLocation:
    """Whose segment a key names (parsed from the key alone)."""

    backup_id: str
    topic: str
    partition: int


def parse_segment_key(key: str) -> SegmentLocation | None:
    """The backup, topic and partition a segment key belongs to; None when ``key`` is no segment key."""
    match = SEGMENT_KEY.match(key)
    return None if match is None else SegmentLocation(match["b"], match["t"], int(match["p"]))


def parse_manifest_key(backup_id: str, key: str) -> tuple[str, str] | None:
    """``(topic, partition text)`` of a key ``<backup_id>/topics/.../manifest.json``; None for any other key. The
    partition is returned as found (it may not be a number in a damaged backup)."""
    prefix, suffix = topics_prefix(backup_id), "/" + MANIFEST_NAME
    if not (key.startswith(prefix) and key.endswith(suffix)):
        return None
    topic, _, partition = key[len(prefix) : -len(suffix)].rpartition("/")
    return topic, partition


def parse_offset_map_key(backup_id: str, restore_id: str, key: str) -> tuple[str, int, int] | None:
    """``(source topic, source partition, segment start)`` of an offset map's key; None for any other key."""
    prefix = offsets_prefix(backup_id, restore_id)
    if not (key.startswith(prefix) and key.endswith(".json")):
        return None
    topic, _, rest = key[len(prefix) : -len(".json")].rpartition("/")
    topic, _, partition = topic.rpartition("/")
    if not (topic and partition.isdigit() and rest.isdigit()):
        return None
    return topic, int(partition), int(rest)


def is_state_key(backup_id: str, key: str) -> bool:
    """True for ``<backup_id>/restores/<restore_id>/state.json`` (not for objects deeper down)."""
    return key.startswith(restores_prefix(backup_id)) and key.endswith("/" + STATE_NAME) and key.count("/") == 3


def object_kind(backup_id: str, key: str) -> ObjectKind:
    """What an object of the backup is: ``backup.json``; a manifest (partition manifest or ``snapshot.json``); an
    object of a restore; a segment; or something else."""
    if key == backup_key(backup_id):
        return "backup"
    in_restores = "/restores/" in key
    if key.endswith(("/" + SNAPSHOT_NAME, "/" + MANIFEST_NAME)) and not in_restores:
        return "manifest"
    if in_restores:
        return "restore"
    return "segment" if SEGMENT_KEY.match(key) else "other"
