"""What the native clients (:mod:`kafka_backup.engine._native`) hand Python, in the terms the engine already speaks:
error codes by librdkafka's name as confluent-kafka's :class:`KafkaError` (so ``admin.translate``, ``ErrorTrap`` and
``OutageGuard`` map them exactly as before), log levels as the ``logging`` levels confluent-kafka used, and
configuration values as the strings librdkafka takes."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError

_PY_LEVELS = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL, 3: logging.ERROR, 4: logging.WARNING}
"""syslog levels of librdkafka's log lines as the logging levels confluent-kafka used (5, 6: INFO; 7: DEBUG)."""


def py_level(level: int) -> int:
    """The ``logging`` level of a librdkafka (syslog) log level."""
    return _PY_LEVELS.get(level, logging.INFO if level < 7 else logging.DEBUG)


def kafka_error(code: str, message: str, fatal: bool = False) -> KafkaError:
    """librdkafka's error by its code name as confluent-kafka's KafkaError, so errors map exactly as they did."""
    return KafkaError(getattr(KafkaError, code, KafkaError.UNKNOWN), message, fatal=fatal)


def conf_value(value: str | int | float | bool) -> str:
    """A configuration value as librdkafka's string (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["conf_value", "kafka_error", "py_level"]
