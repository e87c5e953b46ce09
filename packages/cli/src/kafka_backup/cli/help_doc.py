"""Generates ``docs/cli.md`` from the click commands' own help (a test fails on drift).

Run ``python -m kafka_backup.cli.help_doc > docs/cli.md`` after changing a command or flag.
"""

from __future__ import annotations

import sys

import click

from kafka_backup.cli.main import cli

WIDTH = 100
"""Fixed, so the reference does not depend on the terminal (or COLUMNS) of whoever generates it."""

HEADER = """# CLI reference

Generated from the commands' help by `python -m kafka_backup.cli.help_doc`; a test fails when it drifts.
Exit codes: `0` success, `1` the run failed, `2` bad usage or configuration. Errors are one line:
`error[CODE]: what is wrong (how to fix it)`; a mistake on the command line itself (unknown option, missing
argument, bad value) is `USAGE_ERROR`. Bad input is refused before any connection is made. With `--json`, a failed
command also prints `{"error": {"code": ..., "message": ..., "hint": ..., "exit_code": ...}}` on stdout.
"""


def _walk(command: click.Command, ctx: click.Context, path: str) -> list[str]:
    sections = [f"## `{path}`", "", "```text", command.get_help(ctx).replace("\x08", ""), "```", ""]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                sections += _walk(
                    sub, click.Context(sub, info_name=name, parent=ctx, terminal_width=100), f"{path} {name}"
                )
    return sections


def render() -> str:
    # the group's own context settings (-h/--help), as when invoked: click caches each command's help option on
    # first use, so a reference built without them would depend on what ran before in the same process
    settings = {**cli.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(cli, info_name="kafka-backup", **settings)
    return HEADER + "\n" + "\n".join(_walk(cli, ctx, "kafka-backup"))


if __name__ == "__main__":
    sys.stdout.write(render())
