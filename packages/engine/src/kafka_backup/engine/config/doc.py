"""Generates ``docs/config.md``, the configuration reference, from the pydantic models (a test checks drift).

Run ``python -m kafka_backup.engine.config.doc > docs/config.md`` after changing a model.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, BeforeValidator, PlainValidator, WrapValidator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from kafka_backup.engine.config.backup import BackupConfig

HEADER = """# Configuration reference

Generated from the configuration models by `python -m kafka_backup.engine.config.doc`; a test fails when this file
and the code disagree. Every file is YAML. Unknown keys are errors (the message suggests the closest valid key).
Any string value may use `${ENV_VAR}` or `${ENV_VAR:-default}`; secrets (marked *secret*) never appear in logs,
metrics, traces or error messages.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else ""
        )
    if origin is typing.Annotated:
        # a validator that accepts more than the Python type (ISO times for epoch ms) says so in json_schema_input_type
        accepted = [
            m.json_schema_input_type
            for m in args[1:]
            if isinstance(m, BeforeValidator | PlainValidator | WrapValidator)
            and m.json_schema_input_type is not PydanticUndefined
        ]
        return _type_name(accepted[-1] if accepted else args[0])
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    name = getattr(annotation, "__name__", str(annotation))
    return {"SecretStr": "string, *secret*", "str": "string", "int": "integer", "float": "number"}.get(name, name)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{value!r}`" if value not in ({}, []) else "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "none"
    return f"`{field.default!r}`"


def _section_model(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model of a section, with the separator its keys follow (``[].`` for the items of a list of sections)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "."
    if typing.get_origin(annotation) is list:
        item = _section_model(typing.get_args(annotation)[0])
        if item is not None:
            return item[0], "[]."
    return None


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"  # as users write it: `from`, not the attribute `from_`
        yield (key, _type_name(field.annotation), _default(field), (field.description or "").replace("|", "\\|"))
        nested = _section_model(field.annotation)
        if nested is not None:
            yield from _rows(nested[0], f"{key}{nested[1]}")


def render_model(title: str, model: type[BaseModel]) -> str:
    lines = [
        f"## {title}",
        "",
        (model.__doc__ or "").strip(),
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in _rows(model, "")]
    return "\n".join(lines)


def documented_models() -> list[tuple[str, type[BaseModel]]]:
    models: list[tuple[str, type[BaseModel]]] = [("Backup job (`kafka-backup backup --config`)", BackupConfig)]
    try:
        from kafka_backup.engine.config.restore import RestoreConfig  # noqa: PLC0415 - optional until restore lands
    except ImportError:
        return models
    return [*models, ("Restore job (`kafka-backup restore --config`)", RestoreConfig)]


def render() -> str:
    return HEADER + "\n" + "\n\n".join(render_model(t, m) for t, m in documented_models()) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
