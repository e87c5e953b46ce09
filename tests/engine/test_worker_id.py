"""The default worker id: distinct for workers running at once on one host, the same again after one stops."""

from __future__ import annotations

import socket
import subprocess
import sys

from kafka_backup.engine.kafka.worker_id import WorkerId, claim_worker_id

HOST = socket.gethostname().split(".")[0]


class TestClaimWorkerId:
    def test_running_workers_get_distinct_slots(self) -> None:
        """Two claims held at once get slots 0 and 1; a released slot is the next claim's."""
        first = claim_worker_id("wid-distinct", None)
        second = claim_worker_id("wid-distinct", None)
        try:
            assert (first.value, second.value) == (f"{HOST}-0", f"{HOST}-1")
            first.release()
            again = claim_worker_id("wid-distinct", None)
            assert again.value == f"{HOST}-0"
            again.release()
        finally:
            first.release()
            second.release()

    def test_killed_holder_frees_its_slot(self) -> None:
        """A process killed while holding slot 0 leaves it free: the restarted worker gets the same id."""
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time\n"
                "from kafka_backup.engine.kafka.worker_id import claim_worker_id\n"
                "held = claim_worker_id('wid-killed', None)\n"
                "print(held.value, flush=True)\n"
                "time.sleep(300)\n",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == f"{HOST}-0"
            meanwhile = claim_worker_id("wid-killed", None)
            assert meanwhile.value == f"{HOST}-1"
            meanwhile.release()
        finally:
            holder.kill()
            holder.wait()
            assert holder.stdout is not None
            holder.stdout.close()
        after = claim_worker_id("wid-killed", None)
        assert after.value == f"{HOST}-0"
        after.release()

    def test_configured_id_is_used_as_given(self) -> None:
        """A configured worker_id is the id, whatever the slots."""
        claimed = claim_worker_id("wid-configured", "pod-7")
        assert claimed.value == "pod-7"
        claimed.release()

    def test_other_backups_have_their_own_slots(self) -> None:
        """Slots are per backup: a worker of another backup does not push this one to slot 1."""
        one = claim_worker_id("wid-one", None)
        other = claim_worker_id("wid-other", None)
        try:
            assert one.value == other.value == f"{HOST}-0"
        finally:
            one.release()
            other.release()

    def test_instance_id_follows_the_subscription(self) -> None:
        """The broker-facing id is the worker id plus a fingerprint of topics and partition counts."""
        claimed = claim_worker_id("wid-subscription", "pod-3")
        ids = {
            claimed.instance_id({"a": 3, "b": 1}),
            claimed.instance_id({"b": 1, "a": 3}),  # order does not matter
        }
        assert len(ids) == 1
        (same,) = ids
        assert same is not None and same.startswith("pod-3.")
        assert claimed.instance_id({"a": 3}) != same
        assert claimed.instance_id({"a": 4, "b": 1}) != same
        assert WorkerId(None).instance_id({"a": 1}) is None  # no static membership: no id
        claimed.release()
