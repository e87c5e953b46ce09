"""The outage guard's rules, with the exceptions librdkafka raises (the broker faults themselves are in
test_kafka_outage.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, KafkaException
from structlog.testing import capture_logs

from kafka_backup.engine.errors import KafkaUnavailableError
from kafka_backup.engine.kafka.outage import OutageGuard, OutagePolicy, transient_reason

FAST = OutagePolicy(tolerance_s=30.0, initial_delay_s=0.001, max_delay_s=0.004)


def failing(times: int, code: int = KafkaError._TRANSPORT) -> tuple[list[int], Callable[[], str]]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if calls[0] <= times:
            raise KafkaException(KafkaError(code))
        return "ok"

    return calls, fn


def reached_guard(policy: OutagePolicy = FAST) -> tuple[OutageGuard, list[tuple[str, str]]]:
    counted: list[tuple[str, str]] = []
    guard = OutageGuard(policy, key="source.outage_tolerance_s", on_retry=lambda op, why: counted.append((op, why)))
    guard.succeeded()
    return guard, counted


class TestTransientReason:
    @pytest.mark.parametrize(
        "code",
        [KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError.FENCED_LEADER_EPOCH, KafkaError._TIMED_OUT],
    )
    def test_restart_and_stall_errors_are_transient(self, code: int) -> None:
        """What a broker restart or stall produces is retried, named by librdkafka's error name."""
        assert transient_reason(KafkaException(KafkaError(code))) == KafkaError(code).name()

    @pytest.mark.parametrize(
        "code",
        [KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.INVALID_CONFIG],
    )
    def test_auth_and_request_errors_are_not(self, code: int) -> None:
        """Credentials and bad requests fail at once: retrying cannot fix them."""
        assert transient_reason(KafkaException(KafkaError(code))) is None

    def test_fatal_is_never_transient(self) -> None:
        """A fatal client error ends the client, whatever its code."""
        assert transient_reason(KafkaError(KafkaError._TRANSPORT, fatal=True)) is None


class TestCall:
    def test_retries_through_an_outage_and_logs_it_once(self) -> None:
        """Five failed attempts: the call succeeds, five retries counted, one warning and one info logged."""
        guard, counted = reached_guard()
        calls, fn = failing(5)
        with capture_logs() as logs:
            assert guard.call("list_offsets", fn) == "ok"
        assert calls[0] == 6
        assert counted == [("list_offsets", "_TRANSPORT")] * 5
        assert [e["event"] for e in logs] == ["kafka_outage_started", "kafka_outage_ended"]
        assert logs[1]["attempts"] == 5 and logs[1]["operations"] == ["list_offsets"]
        assert not guard.in_outage

    def test_before_retry_runs_before_each_new_attempt(self) -> None:
        """The metadata refresh hook runs once per retry, never before the first attempt."""
        guard, _ = reached_guard()
        refreshed: list[int] = []
        calls, fn = failing(3, KafkaError.FENCED_LEADER_EPOCH)
        guard.call("list_offsets", fn, before_retry=lambda: refreshed.append(calls[0]))
        assert refreshed == [1, 2, 3]

    def test_not_retried_before_the_cluster_was_reached(self) -> None:
        """A wrong address fails at the first attempt (within connect_timeout_s), not after the tolerance."""
        guard = OutageGuard(FAST)
        calls, fn = failing(1)
        with pytest.raises(KafkaException):
            guard.call("metadata", fn)
        assert calls[0] == 1

    def test_non_transient_raised_at_once(self) -> None:
        guard, counted = reached_guard()
        calls, fn = failing(1, KafkaError.TOPIC_AUTHORIZATION_FAILED)
        with pytest.raises(KafkaException):
            guard.call("describe_topics", fn)
        assert calls[0] == 1 and counted == []

    def test_extra_codes_of_the_caller(self) -> None:
        """``also`` adds codes the caller knows to settle (a fresh topic's unknown partitions)."""
        guard, counted = reached_guard()
        _, fn = failing(2, KafkaError.UNKNOWN_TOPIC_OR_PART)
        assert guard.call("list_offsets", fn, also={KafkaError.UNKNOWN_TOPIC_OR_PART}) == "ok"
        assert len(counted) == 2

    def test_past_the_tolerance_fails_with_the_key_to_raise(self) -> None:
        """An outage longer than the tolerance: KAFKA_UNAVAILABLE naming the operation, the error and the key."""
        guard, _ = reached_guard(OutagePolicy(tolerance_s=0.05, initial_delay_s=0.01, max_delay_s=0.01))
        _, fn = failing(10**9)
        with pytest.raises(KafkaUnavailableError) as raised:
            guard.call("list_offsets", fn)
        text = str(raised.value)
        assert raised.value.code == "KAFKA_UNAVAILABLE"
        assert "list offsets" in text and "_TRANSPORT" in text and "raise source.outage_tolerance_s" in text

    def test_stop_ends_the_wait(self) -> None:
        """A stop request (SIGTERM) during an outage ends the wait with the last error, long before the bound."""
        stop = threading.Event()
        guard = OutageGuard(OutagePolicy(tolerance_s=600.0, initial_delay_s=0.05, max_delay_s=0.05), stop=stop)
        guard.succeeded()
        calls, fn = failing(10**9)

        def fn_then_stop() -> str:
            if calls[0] == 3:
                stop.set()
            return fn()

        with pytest.raises(KafkaException):
            guard.call("metadata", fn_then_stop)
        assert calls[0] == 4


class TestObserved:
    def test_client_errors_join_the_outage_until_a_success(self) -> None:
        """Errors from a client callback are counted into one outage; the bound is enforced by check()."""
        guard, counted = reached_guard(OutagePolicy(tolerance_s=0.05))
        with capture_logs() as logs:
            assert guard.observe("fetch", KafkaError(KafkaError._ALL_BROKERS_DOWN))
            assert guard.observe("fetch", KafkaError(KafkaError._TRANSPORT))
            assert not guard.observe("fetch", KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
        assert len(counted) == 2 and [e["event"] for e in logs] == ["kafka_outage_started"]
        threading.Event().wait(0.06)
        with pytest.raises(KafkaUnavailableError):
            guard.check()
        guard.succeeded()
        guard.check()  # over: nothing to raise

    def test_probe_ends_the_outage_when_the_cluster_answers(self) -> None:
        guard, counted = reached_guard()
        guard.observe("fetch", KafkaError(KafkaError._TRANSPORT))
        _, fn = failing(1)
        guard.probe("metadata", fn)
        assert guard.in_outage and counted[-1] == ("metadata", "_TRANSPORT")
        threading.Event().wait(0.01)  # the next attempt is due after the backoff
        guard.probe("metadata", fn)
        assert not guard.in_outage

    def test_an_outage_open_at_the_end_is_logged_ended_unresolved(self) -> None:
        """A run that finishes during an outage still logs its end, marked unresolved; a second close is silent."""
        guard, _ = reached_guard()
        guard.observe("fetch", KafkaError(KafkaError._TRANSPORT))
        with capture_logs() as logs:
            guard.close()
            guard.close()
        assert [(e["event"], e["resolved"]) for e in logs] == [("kafka_outage_ended", False)]
