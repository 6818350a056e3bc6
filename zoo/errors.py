"""The zoo's expected failures and how its command-line tools report them.

Every library error a user can cause (a missing dataset, a truncated checkpoint, a missing tool, a
bad archive) derives from :class:`ZooError`. The CLIs are built on :class:`ZooCommand` /
:class:`ZooGroup`, which print such an error (and a missing or unreadable file, and a bad value) as one
``Error: ...`` line with exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import click


class ZooError(RuntimeError):
    """An expected failure whose message says what to do."""


#: What a CLI reports as one line: our own errors, files that are missing or unreadable, bad values.
EXPECTED = (ZooError, OSError, ValueError)


def describe(error: BaseException) -> str:
    """One message for an expected failure."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.strerror}: {error.filename}"
    text = str(error).strip() or type(error).__name__
    return text


class ZooCommand(click.Command):
    """A click command whose expected failures end in one ``Error:`` line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED as e:
            raise click.ClickException(describe(e)) from None


class ZooGroup(click.Group):
    """A click group whose subcommands are :class:`ZooCommand`s."""

    command_class = ZooCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED as e:
            raise click.ClickException(describe(e)) from None


def unknown_name(kind: str, name: str, known: Iterable[str], listing: str) -> ValueError:
    """``ValueError`` for an unknown registry name, with close matches and the command that lists all."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    plural = kind if kind.endswith("s") else f"{kind}s"
    return ValueError(f"Unknown {kind} {name!r}.{hint} Run `{listing}` to see all {plural}.")
