"""Names a job gives Kafka: topic names (Kafka's own rules) and topic/group selection patterns.

Both are checked when the configuration is parsed, so a bad name or pattern is a ``CONFIG_INVALID`` before any
connection is made, never an error (or a silent miss) after connecting:

- a topic name is 1-249 characters of ``[a-zA-Z0-9._-]`` and neither ``.`` nor ``..`` (``kafka.common.Topic``);
- a pattern is a glob (``orders.*``, ``logs-?``) or a regex prefixed with ``re:``; both match the whole name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from kafka_backup.engine.config.ids import ID_PATTERN, id_problem
from kafka_backup.engine.errors import ConfigError

TOPIC_MAX_LENGTH = 249
"""Kafka's limit on a topic name's length."""
_TOPIC_CHARS = re.compile(r"[a-zA-Z0-9._-]+")
_PATTERN_HINT = "fix the regex after 're:', or write a glob such as 'orders.*'"


def topic_name_problem(name: str) -> str | None:
    """Why ``name`` is not a legal Kafka topic name, or None when it is."""
    if not name:
        return "a topic name cannot be empty"
    if name in (".", ".."):
        return f"'{name}' is not allowed as a topic name"
    if len(name) > TOPIC_MAX_LENGTH:
        return f"topic name '{name[:40]}...' is {len(name)} characters, Kafka allows {TOPIC_MAX_LENGTH}"
    if not _TOPIC_CHARS.fullmatch(name):
        bad = "".join(sorted({c for c in name if not _TOPIC_CHARS.fullmatch(c)}))
        return f"topic name {name!r} contains {bad!r}: Kafka allows only letters, digits, '.', '_' and '-'"
    return None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A glob, or a regex after ``re:``, compiled to match whole names; a ConfigError naming the pattern if invalid."""
    if not pattern.startswith("re:"):
        return re.compile(fnmatch.translate(pattern))
    try:
        return re.compile(pattern[3:])
    except re.error as exc:
        raise ConfigError(f"invalid regex in pattern {pattern!r}: {exc}", hint=_PATTERN_HINT) from None


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [compile_pattern(p) for p in patterns]


def _topic_name(name: str) -> str:
    problem = topic_name_problem(name)
    if problem:
        raise PydanticCustomError(
            "topic_name", "{problem}", {"problem": problem, "hint": "rename it within Kafka's rules"}
        )
    return name


def _patterns(patterns: list[str]) -> list[str]:
    for p in patterns:
        try:
            compile_pattern(p)
        except ConfigError as exc:
            raise PydanticCustomError("pattern", "{problem}", {"problem": exc.message, "hint": exc.hint}) from None
    return patterns


def _id(value: str) -> str:
    problem = id_problem(value, "id")
    if problem:
        raise PydanticCustomError("id", "{problem}", {"problem": problem, "hint": "e.g. orders-2026-01-01"})
    return value


Id = Annotated[str, AfterValidator(_id)]
"""A backup or restore id (validated when parsed): it names a storage prefix."""
TopicName = Annotated[str, AfterValidator(_topic_name)]
"""A legal Kafka topic name (validated when parsed)."""
Patterns = Annotated[list[str], AfterValidator(_patterns)]
"""Globs or ``re:`` regexes, each compiled when parsed."""

__all__ = [
    "ID_PATTERN",
    "TOPIC_MAX_LENGTH",
    "Id",
    "Patterns",
    "TopicName",
    "compile_pattern",
    "compile_patterns",
    "id_problem",
    "topic_name_problem",
]
