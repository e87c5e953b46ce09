"""The engine's error tree.

Every error the engine raises on purpose is a :class:`BackupError` with a stable ``code`` (used in logs, the
``kafka_backup_errors_total{error_type=...}`` metric and the CLI's one-line message), a ``retryable`` flag, and an
``exit_code`` class (1 = the run failed, 2 = bad usage or configuration). Only the CLI maps them to exit codes and
text. Messages name the problem and the fix, and never contain secrets.
"""

from __future__ import annotations

from typing import ClassVar, Self


class BackupError(Exception):
    """Base of every expected engine error."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    retryable: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    @classmethod
    def family(cls) -> list[type[Self]]:
        """This class and every subclass defined so far (those outside this module once their module is imported)."""
        found: list[type[Self]] = []
        pending = [cls]
        while pending:
            current = pending.pop()
            found.append(current)
            pending.extend(current.__subclasses__())
        return found

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        """The stable codes of this class and its subclasses, sorted: e.g. every ``error_type`` a run can count."""
        return tuple(sorted({member.code for member in cls.family()}))


class ConfigError(BackupError):
    """The configuration file or a command-line option is invalid."""

    code = "CONFIG_INVALID"
    exit_code = 2


class KafkaConnectionError(BackupError):
    """No broker could be reached within the connection timeout."""

    code = "KAFKA_CONNECTION_FAILED"
    retryable = True


class KafkaUnavailableError(BackupError):
    """The cluster was reached, then stayed unavailable (down, restarting, stalled, leaders moving) for longer than
    ``outage_tolerance_s`` while the run retried; raised by :mod:`kafka_backup.engine.kafka.outage`."""

    code = "KAFKA_UNAVAILABLE"
    retryable = True


class KafkaAuthError(BackupError):
    """The cluster rejected our credentials: a SASL login, or (mTLS) a missing or untrusted client certificate."""

    code = "KAFKA_AUTH_FAILED"


class KafkaTlsError(BackupError):
    """The TLS handshake failed on our side: the brokers' certificate could not be verified against the configured CA
    (or host name), or the listener does not speak TLS. Not retried: the same trust settings fail the same way."""

    code = "KAFKA_TLS_FAILED"


class KafkaOperationError(BackupError):
    """A Kafka request failed in a way that is not a connection or authentication problem."""

    code = "KAFKA_ERROR"


class NoTopicsMatchedError(BackupError):
    """The include/exclude patterns select no topic on the cluster."""

    code = "NO_TOPICS_MATCHED"
    exit_code = 2


class StorageError(BackupError):
    """A storage operation failed. ``error_type`` is the PRD's storage error category."""

    code = "STORAGE_ERROR"
    error_type: ClassVar[str] = "unknown"

    @classmethod
    def error_types(cls, *, retryable: bool | None = None) -> tuple[str, ...]:
        """The storage error categories of the tree, sorted; ``retryable=True`` only those that are retried."""
        members = cls.family()
        return tuple(sorted({m.error_type for m in members if retryable is None or m.retryable == retryable}))

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class StorageTimeoutError(StorageError):
    code = "STORAGE_TIMEOUT"
    error_type = "timeout"
    retryable = True


class StorageAuthError(StorageError):
    code = "STORAGE_AUTH_FAILED"
    error_type = "auth"


class StorageNotFoundError(StorageError):
    code = "STORAGE_NOT_FOUND"
    error_type = "not_found"


class BucketNotFoundError(StorageNotFoundError):
    """The bucket/container in the storage URL does not exist (``error_type`` ``not_found``, not retried)."""

    def __init__(self, message: str, *, bucket: str, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, key=key, hint=hint)
        self.bucket = bucket


class StorageQuotaError(StorageError):
    code = "STORAGE_QUOTA_EXCEEDED"
    error_type = "quota"
    retryable = True


class StorageUnavailableError(StorageError):
    """A transient failure of unknown kind (connection reset, 5xx): retried."""

    code = "STORAGE_UNAVAILABLE"
    error_type = "unknown"
    retryable = True


class StorageNotWritableError(StorageError):
    code = "STORAGE_NOT_WRITABLE"
    error_type = "auth"


class IntegrityError(BackupError):
    """Stored data does not match what its manifest says (checksum, size, offsets)."""

    code = "BACKUP_CORRUPT"


class CorruptObjectError(IntegrityError):
    """A stored JSON object (``backup.json``, ``snapshot.json``, a partition manifest, a restore checkpoint or offset
    map) is not valid JSON, carries another object's format marker, or lacks a field its format requires. ``key``
    names it. Raised by :mod:`kafka_backup.engine.format.envelope`; same code as every integrity failure."""

    def __init__(self, message: str, *, key: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class UnsupportedFormatError(IntegrityError):
    """A stored object carries a format major version this kafka-backup does not read (written by a newer one).
    ``key`` names the object, ``found`` the version it carries, ``understood`` the versions this one reads."""

    code = "FORMAT_UNSUPPORTED"

    def __init__(self, message: str, *, key: str, found: str, understood: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key
        self.found = found
        self.understood = understood


class SegmentMissingError(IntegrityError):
    """A segment the restore selected is not in storage (found by the pre-flight check, before anything is written).
    ``key`` names the first missing one."""

    code = "SEGMENT_MISSING"

    def __init__(self, message: str, *, key: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class SegmentSizeMismatchError(IntegrityError):
    """A selected segment's stored size differs from its manifest entry (truncated or replaced), found by the
    pre-flight check before anything is written. ``key`` names the first such segment."""

    code = "SEGMENT_SIZE_MISMATCH"

    def __init__(self, message: str, *, key: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class RestoreTargetNotEmptyError(BackupError):
    """A new restore would write into target partitions that already hold records, and ``existing_data`` is
    ``refuse`` (the default): the user must choose ``append`` or ``truncate``. Nothing was written."""

    code = "RESTORE_TARGET_NOT_EMPTY"
    exit_code = 2


class BackupIncompleteError(BackupError):
    """The backup does not hold everything it must for the selection (a partition manifest is missing, the backup
    never completed, a snapshot fell short of its targets): a restore refuses it unless a partial restore is accepted
    (``--allow-partial`` / ``allow_partial``)."""

    code = "BACKUP_INCOMPLETE"


class ConcurrentWriterError(BackupError):
    """Another worker changed a partition manifest underneath us; this worker gives the partition up."""

    code = "CONCURRENT_WRITER"


class PreconditionFailedError(ConcurrentWriterError):
    """A conditional write (:meth:`Store.put_if <kafka_backup.engine.store.Store.put_if>`) lost: the object was no
    longer at the version the writer read (or, for a create, already existed). Nothing was written. Same code as its
    parent: to an operator it is the same event, another writer got there first."""

    def __init__(self, message: str, *, key: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class BackupNotFoundError(BackupError):
    code = "BACKUP_NOT_FOUND"
    exit_code = 2


class RestoreStateError(BackupError):
    """A restore's checkpoint does not fit the target any more (different job, or the target was truncated)."""

    code = "RESTORE_STATE_CONFLICT"
    exit_code = 2


class ConsumerGroupActiveError(BackupError):
    """Offsets of a consumer group with active members cannot be changed (the members would overwrite them)."""

    code = "CONSUMER_GROUP_ACTIVE"


class WorkerIdInUseError(BackupError):
    """Another worker of the backup joined the group with this worker's ``worker_id`` (static membership): the
    broker fenced this one. Two workers running at once need distinct ids."""

    code = "WORKER_ID_IN_USE"
    exit_code = 2


class NothingToVerifyError(BackupError):
    """The drilled selection holds no records: a drill that verified nothing must not pass. (Declared here with
    every other code, so every run zeroes its series: ``BackupError.codes()`` sees only imported classes.)"""

    code = "DRILL_NOTHING_TO_VERIFY"
