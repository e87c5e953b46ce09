"""The engine's error tree.

Every error the engine raises on purpose is a :class:`BackupError` with a stable ``code`` (used in logs, the
``kafka_backup_errors_total{error_type=...}`` metric and the CLI's one-line message), a ``retryable`` flag, and an
``exit_code`` class (1 = the run failed, 2 = bad usage or configuration). Only the CLI maps them to exit codes and
text. Messages name the problem and the fix, and never contain secrets.
"""

from __future__ import annotations

from typing import ClassVar


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


class ConfigError(BackupError):
    """The configuration file or a command-line option is invalid."""

    code = "CONFIG_INVALID"
    exit_code = 2


class KafkaConnectionError(BackupError):
    """No broker could be reached within the connection timeout."""

    code = "KAFKA_CONNECTION_FAILED"
    retryable = True


class KafkaAuthError(BackupError):
    """The cluster rejected our credentials (SASL/SSL)."""

    code = "KAFKA_AUTH_FAILED"


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


class BackupIncompleteError(BackupError):
    """The backup does not hold everything it must for the selection (a partition manifest is missing, the backup
    never completed, a snapshot fell short of its targets): a restore refuses it unless a partial restore is accepted
    (``--allow-partial`` / ``allow_partial``)."""

    code = "BACKUP_INCOMPLETE"


class ConcurrentWriterError(BackupError):
    """Another worker changed a partition manifest underneath us; this worker gives the partition up."""

    code = "CONCURRENT_WRITER"


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
