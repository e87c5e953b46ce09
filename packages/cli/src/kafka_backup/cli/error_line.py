"""The one form every failure takes: ``error[CODE]: what is wrong (how to fix it)`` on stderr, one line.

With ``--json`` the same error is also printed on stdout as one JSON object, so a script reading stdout always
gets an object: ``{"error": {"code", "message", "hint", "exit_code"}}``. Only ``click`` and the standard library are
imported here: click's usage errors are rendered through it before any command module is loaded.
"""

from __future__ import annotations

import json

import click


def one_line(text: str) -> str:
    """``text`` with line breaks folded, so the error stays one line (librdkafka and click messages may wrap)."""
    return " ".join(text.split())


def emit_error(code: str, message: str, hint: str | None, exit_code: int, *, as_json: bool) -> None:
    """Print the error line (and, with ``as_json``, the JSON object on stdout)."""
    # the same redaction as the logs: an exception's text may quote a URL, a header or a configuration value
    from kafka_backup.telemetry import default_redactor  # noqa: PLC0415 - only when an error is printed

    redact = default_redactor().redact_text
    message = redact(one_line(message))
    hint = redact(one_line(hint)) if hint else None
    click.echo(f"error[{code}]: {message}" + (f" ({hint})" if hint else ""), err=True)
    if as_json:
        error = {"code": code, "message": message, "hint": hint, "exit_code": exit_code}
        click.echo(json.dumps({"error": error}))


def emit_usage_error(exc: click.ClickException, args: list[str], command: str) -> None:
    """A click usage error (unknown option, missing argument, bad value) as ``error[USAGE_ERROR]``; ``command`` is
    named in the hint when click does not say which command failed to parse."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None and ctx.parent is not None else command
    hint = getattr(exc, "hint", None) or f"see `{command} --help`"
    emit_error("USAGE_ERROR", exc.format_message(), hint, exc.exit_code, as_json="--json" in args)


class FlagError(click.BadParameter):
    """A flag's value is wrong in a way the flag's type cannot say; carries the fix for the error line."""

    def __init__(self, message: str, *, flag: str, hint: str) -> None:
        super().__init__(message, param_hint=f"'{flag}'")
        self.hint = hint
