"""How the command line ends: every error as one line on standard error and an exit status (``errors.ending``):
a usage mistake (Typer's, or the library's ``UsageError``) names the option, status 2; Ctrl-C or SIGTERM, 130; a
closed standard output (``| head``), 141 in silence; a bug says so (``--debug``, anywhere, shows the traceback)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import traceback

import typer
from typer.core import TyperGroup

from ..errors import ExitStatus, UsageError, ending, error_line, interruptions
from ..fileio import silence_stdout

DEBUG_FLAG, DEBUG_ENV = "--debug", "MNISTZIP_DEBUG"
_NOT_VALID = re.compile(r"^(.+?) is not a valid (int|integer|float|bool|boolean)\.?$")  # Typer's own value checks
_KINDS = dict(int="a whole number", integer="a whole number", float="a number", bool="true or false", boolean="true or false")


class MnistzipGroup(TyperGroup):
    """Typer's group, ending every command as the module docstring says."""

    debug = False

    def main(self, args=None, standalone_mode: bool = True, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        end = args.index("--") if "--" in args else len(args)
        MnistzipGroup.debug = DEBUG_FLAG in args[:end] or bool(os.environ.get(DEBUG_ENV))
        args = [a for i, a in enumerate(args) if a != DEBUG_FLAG or i > end]
        if not standalone_mode:
            return super().main(args, standalone_mode=False, **kwargs)
        try:
            with interruptions():
                status = super().main(args, standalone_mode=False, **kwargs)
                if sys.stdout is not None:
                    sys.stdout.flush()  # here, not at exit, so that a closed pipe is noticed below
        except typer.exceptions.TyperException as e:
            status = _usage(e)
        except typer.Abort:
            status = _end(KeyboardInterrupt())
        except OSError as e:  # while help or a result printed: standard output full, closed or gone
            status = _end(e)
        sys.exit(status if isinstance(status, int) else ExitStatus.SUCCESS)

    def make_context(self, *args, **kwargs):
        """Parsing the command line: a Ctrl-C, or a closed standard output while --help prints, ends as any."""
        try:
            return super().make_context(*args, **kwargs)
        except (KeyboardInterrupt, OSError) as e:
            raise typer.Exit(_end(e)) from None

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):  # --help; usage errors: see main()
            raise
        except (Exception, KeyboardInterrupt) as e:
            if interruptions.received and getattr(e, "exit_status", None) != ExitStatus.INTERRUPTED:
                e = KeyboardInterrupt()  # a Ctrl-C that surfaced as another error (pybind11 converts it)
            elif MnistzipGroup.debug and not isinstance(e, KeyboardInterrupt):
                traceback.print_exception(e)
            raise typer.Exit(_end(e, " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand))))) from None


def _end(e: BaseException, command: str = "mnistzip") -> int:
    """Say the one line ``e`` ends with (``errors.ending``; a usage mistake's with where help is); the status."""
    status, message = ending(e)
    if isinstance(e, UsageError):
        message = f"{message} (see '{command} --help')"
    if message is not None:
        with contextlib.suppress(OSError):
            typer.echo(error_line(message), err=True)
    if status in (ExitStatus.CLOSED_PIPE, ExitStatus.OUTPUT):
        silence_stdout()  # nothing more to flush at exit, which would fail again
    return int(status)


def _usage(e: typer.exceptions.TyperException) -> int:
    """A usage mistake found by Typer as one line (or the help, when no argument was given at all)."""
    status, message, param = int(getattr(e, "exit_code", ExitStatus.USAGE)), e.format_message(), getattr(e, "param", None)
    if type(e).__name__ == "NoArgsIsHelpError" or not message:  # no argument at all: the help
        typer.echo(message)
        return status
    if isinstance(e, typer.BadParameter) and param is not None and e.message:
        name = max(param.opts, key=len) if param.opts else param.human_readable_name
        found = _NOT_VALID.match(e.message)
        message = (f"{name} {e.message}" if e.message.startswith("must be ") else
                   f"{name} must be {_KINDS[found.group(2)]}, not {found.group(1)}" if found else f"{name}: {e.message}")
    _end(UsageError(message.rstrip(".")), e.ctx.command_path if getattr(e, "ctx", None) else "mnistzip")
    return status
