"""What every configuration model shares: the strict base model, ``${ENV}`` expansion, bounded YAML loading, and
one-line validation errors with a fix.

Rules every model follows:
- unknown keys are errors; the message names the key and suggests the closest valid one;
- ``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) in any string value is replaced from the environment after parsing,
  so secrets can stay out of the file; a missing variable is an error naming it;
- secrets are ``SecretStr``: they never appear in ``repr``, logs or error messages.

``docs/config.md`` is generated from the models (:func:`kafka_backup.engine.config.doc.render`), and a test fails
when it drifts.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from kafka_backup.engine.errors import ConfigError

_M = TypeVar("_M", bound=BaseModel)
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def invalid(problem: str, hint: str) -> PydanticCustomError:
    """A validation error whose one-line message carries a fix (``hint``), as every config error should."""
    return PydanticCustomError("kafka_backup", "{problem}", {"problem": problem, "hint": hint})


class ConfigModel(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are frozen, aliases or names accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def expand_env(value: Any, environ: Mapping[str, str] | None = None, where: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string inside ``value``."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"environment variable {name} is not set (used at {where or 'top level'})",
                hint=f"export {name}=... or write ${{{name}:-default}}",
            )

        return _ENV_PATTERN.sub(substitute, value)
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``loc`` (for key suggestions)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return current
        annotation = current.model_fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return current


def format_validation_error(
    error: ValidationError, model: type[BaseModel], source: str, flags: Mapping[str, str] | None = None
) -> ConfigError:
    """One clear line for the first problem (a config file usually has one typo at a time), with a fix.

    ``flags``: dotted key path -> the command-line flag that set it; a problem at or under such a path is reported
    as the flag's, not the file's (the user typed the flag)."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    flag = next((f for p, f in (flags or {}).items() if path == p or path.startswith(f"{p}.")), None)
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(valid)}"
        return ConfigError(f"{source}: unknown key '{path}'", hint=hint)
    if first["type"] == "missing":
        return ConfigError(f"{source}: missing required key '{path}'", hint=f"add {path} to the configuration")
    context = first.get("ctx") or {}
    message = str(context.get("problem") or first["msg"]).removeprefix("Value error, ")
    hint = str(context.get("hint") or (f"fix {flag}" if flag else f"fix {path} (docs/config.md lists every key)"))
    if flag:
        return ConfigError(f"{flag}: {message}", hint=hint)
    return ConfigError(f"{source}: invalid value at '{path}': {message}", hint=hint)


def parse_config(
    model: type[_M],
    data: Any,
    source: str = "config",
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> _M:
    """``data`` validated as ``model`` after ``${ENV}`` expansion; ``flags`` as in :func:`format_validation_error`."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}",
            hint="write the job as `key: value` lines (see docs/config.md)",
        )
    expanded = expand_env(data, environ)
    try:
        return model.model_validate(expanded)
    except ValidationError as exc:
        raise format_validation_error(exc, model, source, flags) from None


MAX_CONFIG_BYTES = 1024 * 1024
"""A job file larger than this is refused unread (jobs are a few kilobytes)."""
MAX_CONFIG_VALUES = 100_000
"""Values a job file may hold once YAML aliases are expanded (bounds "billion laughs" documents)."""
MAX_CONFIG_DEPTH = 64
"""How deeply a job file's mappings and lists may nest."""


def _check_size(document: Any, file: Path) -> None:
    """Refuse a document whose expanded form is too large, too deep, or refers to itself.

    ``yaml.safe_load`` shares one object for every alias of an anchor, so loading is bounded by the file size; it is
    everything *after* loading (``${ENV}`` expansion, validation) that would expand each alias. Sizes are counted
    once per shared object, so the check is linear in the file, whatever the aliases multiply to."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_ids:
            raise ConfigError(
                f"config file {file} contains a YAML alias that refers to itself", hint="remove the recursive alias"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"config file {file} nests deeper than {MAX_CONFIG_DEPTH} levels", hint="flatten the document"
            )
        open_ids.add(id(node))
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_ids.discard(id(node))
        if total > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"config file {file} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases multiply it)",
                hint="write the values out instead of nesting aliases of aliases",
            )
        sizes[id(node)] = total
        return total

    size(document, 0)


def load_yaml(path: str | Path) -> Any:
    """The YAML document at ``path``, bounded: size, UTF-8, alias expansion and depth are checked (ConfigError)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file} does not exist", hint="pass --config PATH to an existing YAML file"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config file {file} cannot be read: {exc.strerror}", hint="pass --config PATH to a readable YAML file"
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {file} is larger than {MAX_CONFIG_BYTES // 1024} KiB", hint="a job file is a few kilobytes"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint="save it as UTF-8",
        ) from None
    import yaml  # noqa: PLC0415 - only commands given a YAML file pay for its import (20 ms)

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "see the YAML syntax"
        raise ConfigError(
            f"config file {file} is not valid YAML{where}", hint=f"{problem}; check indentation and quoting there"
        ) from None
    except RecursionError:
        # PyYAML composes nested collections recursively
        raise ConfigError(
            f"config file {file} nests deeper than {MAX_CONFIG_DEPTH} levels", hint="flatten the document"
        ) from None
    _check_size(document, file)
    return document


def load_config(model: type[_M], path: str | Path, environ: Mapping[str, str] | None = None) -> _M:
    return parse_config(model, load_yaml(path), str(path), environ)
