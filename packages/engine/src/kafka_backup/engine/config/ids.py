"""Backup and restore ids: they name storage prefixes, so they are checked before anything is read or written.

Kept apart from :mod:`.names` (whose pydantic types validate job files): the catalog commands check an id given on
the command line without loading pydantic.
"""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Backup and restore ids: they name storage prefixes, so no '/', no '..' path segments."""


def id_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot name a backup or restore (it becomes a storage key prefix), or None when it can."""
    if ID_PATTERN.fullmatch(value):
        return None
    return f"{what} {value!r} is not 1-128 letters, digits, '.', '_' or '-' starting with a letter or digit"
