"""A :class:`Store` layer that retries transient failures with exponential backoff and jitter (tenacity).

Only errors marked ``retryable`` (timeouts, throttling, connection failures, 5xx) are retried; authentication and
not-found errors surface at once. When the attempts run out, the last error is raised as it is: it already names
the object and the cause. ``on_retry`` lets telemetry count retries without this layer knowing about metrics.

A retried conditional write needs care: an attempt may have been applied by the service although its answer was
lost (a timeout, a reset connection), and the next attempt then fails its own precondition. So when an attempt after
the first is refused, :meth:`RetryingStore.put_if` reads the object: if it holds exactly the bytes being written,
the earlier attempt won and the write succeeded (with the version read); otherwise another writer won and the
:class:`~kafka_backup.engine.errors.PreconditionFailedError` stands. (Another writer storing byte-identical content
in between would also count as ours; for the manifests, whose content is the writer's next state, that state is
then exactly the one this writer meant to store.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from kafka_backup.engine.errors import BackupError, PreconditionFailedError
from kafka_backup.engine.store.base import ObjectInfo, Operation, Store, StoreLayer, Version

T = TypeVar("T")
ACTIONS = ("put", "get", "stat", "list", "delete")
"""The ``action`` names ``on_retry`` receives: a conditional write is a ``put``, a versioned read a ``get``."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_delay: float = 0.2
    max_delay: float = 10.0
    deadline: float = 120.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, BackupError) and exc.retryable


class RetryingStore(StoreLayer):
    def __init__(
        self,
        inner: Store,
        policy: RetryPolicy | None = None,
        on_retry: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.inner = inner
        self._policy = policy or RetryPolicy()
        self._on_retry = on_retry

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        def before_sleep(state: RetryCallState) -> None:
            if self._on_retry and state.outcome is not None:
                exc = state.outcome.exception()
                if exc is not None:
                    self._on_retry(action, exc)

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._policy.attempts) | stop_after_delay(self._policy.deadline),
            wait=wait_exponential_jitter(multiplier=self._policy.initial_delay, max=self._policy.max_delay),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)

    def put(self, key: str, data: bytes, *, operation: Operation) -> None:
        self._call("put", lambda: self.inner.put(key, data, operation=operation))

    def get(self, key: str, *, operation: Operation, start: int | None = None, end: int | None = None) -> bytes:
        return self._call("get", lambda: self.inner.get(key, operation=operation, start=start, end=end))

    def get_versioned(self, key: str, *, operation: Operation) -> tuple[bytes, Version] | None:
        return self._call("get", lambda: self.inner.get_versioned(key, operation=operation))

    def put_if(self, key: str, data: bytes, *, operation: Operation, expect: Version | None) -> Version:
        attempts = 0

        def attempt() -> Version:
            nonlocal attempts
            attempts += 1
            try:
                return self.inner.put_if(key, data, operation=operation, expect=expect)
            except PreconditionFailedError:
                if attempts == 1:
                    raise
                current = self.inner.get_versioned(key, operation=operation)
                if current is not None and current[0] == data:
                    return current[1]  # an earlier attempt was applied; only its answer was lost
                raise

        return self._call("put", attempt)

    def stat(self, key: str) -> ObjectInfo | None:
        return self._call("stat", lambda: self.inner.stat(key))

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._call("list", lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        self._call("delete", lambda: self.inner.delete(key))
