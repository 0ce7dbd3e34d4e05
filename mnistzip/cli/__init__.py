"""The ``mnistzip`` command: each command parses (``options``), calls one library function, imported as it runs
so that ``--help``, ``info`` and ``models`` never load NumPy, and prints (``printing``); errors end in ``status``."""

from __future__ import annotations

import json
import sys

import typer

from .. import __version__
from .. import options as opt
from ..choice import ModelChoice
from . import printing as say
from .parsing import command
from .status import MnistzipGroup

ABOUT = "Compress handwritten digits with a learned codec: a 28 x 28 digit in tens of bits."


def _version(value: bool):
    if value:
        typer.echo(f"mnistzip {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=MnistzipGroup, rich_markup_mode=None, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]}, help=ABOUT)


@app.callback()
def main(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                      help="Show the version and exit."),
         debug: bool = typer.Option(False, "--debug", help="On an error, show its traceback too (anywhere on the "
                                    "line).")):
    """The options every command shares; --debug is read wherever it is on the line (``status``)."""


@command(app, opt.COMPRESS, "Compress digit images or MNIST digits into .mz files.")
def compress(o):
    """Compress digits into .mz files: each input into its own, or all into the one -o names."""
    from ..operations import compress as run

    choice = ModelChoice(o.model, o.quality, o.bits, o.level)
    for w in run(o.inputs, o.output, choice, data_dir=o.data_dir, invert=False if o.no_invert else None,
                 fast=o.fast, refine=o.refine, refine_lmbda=o.refine_lmbda, keep_class=o.keep_class, force=o.force,
                 note=say.note, progress=say.progress):
        say.written(w, o.verbose, say.compressed(w, choice.rung()))


@command(app, opt.DECOMPRESS, "Decompress an .mz file into PNG images or an array.")
def decompress(o):
    """Decompress an .mz file: one PNG, a grid of all its digits, an .npy array or a folder of PNGs."""
    from ..operations import decompress as run

    w = run(o.source, o.output, o.fmt, o.model, o.scale, o.force, progress=say.progress)
    say.written(w, o.verbose, f"{say.shown(w.path)}: {say.digits(w.digits)} ({say.kind(w)})")


@command(app, opt.PREPARE, "Show the 28 x 28 digits mnistzip makes of images.")
def prepare(o):
    """Show the 28 x 28 digits mnistzip makes of images (what compress would code), without coding them."""
    from ..operations import prepare as run

    for w in run(o.inputs, o.output, o.fmt, data_dir=o.data_dir, invert=False if o.no_invert else None,
                 scale=o.scale, force=o.force, note=say.note):
        say.written(w, o.verbose, f"{say.shown(w.path)}: {say.digits(w.digits)} prepared ({say.kind(w)})")


@command(app, opt.SAMPLE, "Generate new digits from random bits.")
def sample(o):
    """Generate new digits: random bits decoded as if they were a file's."""
    from ..operations import sample as run

    w = run(o.n, o.seed, o.output, o.fmt, ModelChoice(o.model, o.quality, o.bits, o.level), o.scale, o.force)
    say.written(w, False, f"{say.shown(w.path)}: {say.digits(w.digits)} generated")


@command(app, opt.INFO, "Show what an .mz file holds and where its bytes go.")
def info(o):
    """Show an .mz file's header, the model that made it, and where its bytes go."""
    from ..about import info as facts

    _show(facts(o.source), o.as_json, say.facts)


@command(app, opt.MODELS, "List the quality levels: bits a digit, and fidelity.")
def models(o):
    """List the quality levels (-q) with the bits a digit takes and how close it comes back, on MNIST's test
    digits."""
    from ..about import models as rows

    _show(rows(), o.as_json, say.ladder)


@command(app, opt.EVAL, "Measure size, fidelity and speed, against PNG, JPEG, WebP.", name="eval")
def evaluate(o):
    """Measure bits, distortion, class kept and speed on MNIST or printed digits, and against classical codecs."""
    from ..evaluate import Request, run

    with say.Bars() as bars:
        result = run(Request(**vars(o)), bars.task)
    _show(result, o.json == "-", say.evaluation)


@command(app, opt.TRAIN, "Train a codec on MNIST (needs mnistzip[train]).")
def train(o):
    """Train a codec on MNIST and export it: its SavedModel, and the weights the NumPy runtime runs."""
    from dataclasses import fields

    from ..presets import config
    from ..recipe import TrainConfig
    from ..train import command

    recipe = {f.name: getattr(o, f.name) for f in fields(TrainConfig) if f.name != "lmbda"}
    say.trained(command(config(o.lmbda, o.preset, **recipe), o.output, o.data_dir, o.resume, o.force, o.strategy,
                        o.cpu_devices, say.TrainingReporter()))


def _show(facts, as_json: bool, printer) -> None:
    """A command's facts: as JSON, or as ``printer`` prints them."""
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
    else:
        printer(facts)


def run() -> None:
    """Console-script entry point."""
    sys.exit(app())
