"""A worker's stable identity in the backup's consumer group: its static membership (``group.instance.id``).

With static membership a worker that crashed and is started again rejoins under the same id, and the group
coordinator hands it its partitions back at once; without it the new process waits for the dead one's session to
time out (``session_timeout_ms``) before any partition is assigned.

Invariants:
- two workers of one backup running at once on one host never get the same default id: the default is
  ``<hostname>-<n>`` where ``n`` is the lowest slot whose lock file nobody holds (``flock``; the kernel releases the
  lock when its holder dies, also on ``kill -9``), so the restarted worker takes the slot it had;
- a configured ``worker_id`` is used as it is (a StatefulSet's pod name, say); then keeping ids distinct is the
  operator's part, and the broker fences the older of two workers sharing one.

The id given to the broker (:meth:`WorkerId.instance_id`) carries a fingerprint of what the worker subscribes to
(topics and their partition counts): a static member that rejoins a stable group gets its previous assignment back
without a rebalance, so a worker restarted under the same id with a different topic set would be handed the old
topics' partitions and never its new ones. With the fingerprint a changed subscription joins as a new member, and the
group rebalances (once the old member's session has timed out).

The price: a worker that stops cleanly stays a member for ``session_timeout_ms`` (static members do not leave the
group on close), so its partitions move to the other workers after that time, not at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

MAX_SLOTS = 256
"""More workers of one backup on one host than this is a mistake, not a deployment."""


class WorkerId:
    """The id this worker uses, holding its slot lock (when defaulted) until :meth:`release`; ``value`` None: no
    static membership (no slot could be locked), the worker joins as a dynamic member as before."""

    def __init__(self, value: str | None, lock: IO[bytes] | None = None) -> None:
        self.value = value
        self._lock = lock

    def instance_id(self, subscription: Mapping[str, int]) -> str | None:
        """``group.instance.id`` for a worker subscribing to ``subscription`` (topic → partition count)."""
        if self.value is None:
            return None
        listed = ",".join(f"{topic}:{count}" for topic, count in sorted(subscription.items()))
        return f"{self.value}.{hashlib.sha256(listed.encode()).hexdigest()[:8]}"

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None


def lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / "kafka-backup-workers"


def claim_worker_id(backup_id: str, configured: str | None) -> WorkerId:
    """The configured id, or the first free default slot on this host (see the module docstring)."""
    if configured:
        return WorkerId(configured)
    host = socket.gethostname().split(".")[0] or "worker"
    # one lock file per backup and slot; the name is a digest so any backup_id makes a valid file name
    digest = hashlib.sha256(backup_id.encode()).hexdigest()[:16]
    directory = lock_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            handle = (directory / f"{digest}.{slot}.lock").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return WorkerId(f"{host}-{slot}", handle)
    except OSError:
        pass  # no writable lock directory (another user's /tmp entry, a read-only file system)
    # a guessed id could fence a running worker: join as a dynamic member instead
    return WorkerId(None)
