"""Typer commands built from the library's declarations of their options (``options``): each option declared once,
with the same help, range check and wording of a mistake in every command (and in the Beam pipeline's argparse)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import List, Optional

import typer

from ..options import Option


def command(app: typer.Typer, specs: tuple[Option, ...], short_help: str, name: str | None = None):
    """Register ``body(values)`` as a command of ``app`` taking the options ``specs`` declare."""
    def register(body):
        def run(**values):
            return body(SimpleNamespace(**values))

        run.__signature__ = inspect.Signature([_parameter(o) for o in specs])
        run.__doc__, run.__name__ = body.__doc__, body.__name__
        app.command(name, short_help=short_help)(run)
        return body
    return register


def _parameter(o: Option) -> inspect.Parameter:
    if o.many:
        annotation = List[o.type]
    elif o.type is bool and o.default is not None:
        annotation = bool
    else:
        annotation = Optional[o.type]
    declare = typer.Argument if o.argument else typer.Option
    info = declare(list(o.default) if o.many and o.default is not ... else o.default, *o.flags, metavar=o.metavar,
                   help=o.described(), show_default=False, callback=None if o.low is None else _checked(o))
    return inspect.Parameter(o.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=info, annotation=annotation)


def _checked(o: Option):
    def check(value):
        try:
            return o.check(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return check
