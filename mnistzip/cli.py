"""The ``mnistzip`` command: parse arguments, call the library, print, map errors to exit codes.

TensorFlow is imported only by the commands that run a model, so ``--help``,
``info`` and ``models`` answer at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from . import __version__, container
from .errors import ExitStatus, MnistzipError, error_line, one_line
from .fileio import STDIO
from .recipe import DEFAULT_LMBDA, DEFAULT_MINUTES

DEBUG_ENV = "MNISTZIP_DEBUG"
# Typer >= 0.29 carries its own copy of Click: its exceptions are Typer's, not click's.
_FRAMEWORK_EXCEPTIONS = (typer.Exit, typer.Abort, typer.exceptions.TyperException)
console = Console(highlight=False)


def _error(message: str) -> None:
    """Print one error line on stderr."""
    typer.echo(error_line(message), err=True)


def _interrupted() -> typer.Exit:
    """Report a Ctrl-C; the caller raises the exit (status 130) this returns."""
    _error("interrupted")
    return typer.Exit(int(ExitStatus.INTERRUPTED))


class _CtrlC:
    """Remembers a Ctrl-C while a command runs.

    TensorFlow's extension modules can turn the KeyboardInterrupt raised inside
    them (while TensorFlow is imported, say) into another exception: what
    surfaces after a Ctrl-C is then still reported as an interruption.
    """

    received = False

    @classmethod
    def handler(cls, signum, frame):
        cls.received = True
        signal.default_int_handler(signum, frame)

    @classmethod
    @contextlib.contextmanager
    def watched(cls):
        """Watch SIGINT where Python's own handler is (not where it is ignored), and SIGTERM where it would
        kill the process, as Ctrl-C: temporaries are removed either way. Put the handlers back after."""
        cls.received = False
        watched = {}
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            watched[signal.SIGINT] = signal.default_int_handler
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            watched[signal.SIGTERM] = signal.SIG_DFL
        for signum in watched:
            signal.signal(signum, cls.handler)
        try:
            yield
        finally:
            for signum, previous in watched.items():
                signal.signal(signum, previous)


class MnistzipGroup(TyperGroup):
    """The one place where exceptions become a message and an exit status."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Typer's entry point, with its usage errors as one line like every other error."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            with _CtrlC.watched():
                status = super().main(*args, standalone_mode=False, **kwargs)
                if sys.stdout is not None:
                    sys.stdout.flush()  # here, not at exit, so that a closed pipe is noticed below
        except BrokenPipeError:  # `mnistzip ... | head`: the reader has gone; end quietly, as gzip does
            _stdout_closed()
        except OSError as e:  # standard output full (>/dev/full) or gone (>&-) while help or a result printed
            _stdout_failed(e)
        except typer.exceptions.TyperException as e:  # a usage error: unknown option, missing argument, ...
            message = e.format_message()
            if type(e).__name__ == "NoArgsIsHelpError":  # no arguments at all: the help, as --help shows it
                typer.echo(message)
            elif not message:
                e.show()
            else:
                path = e.ctx.command_path if getattr(e, "ctx", None) else "mnistzip"
                _error(f"{message.rstrip('.')} (see '{path} --help')")
            sys.exit(getattr(e, "exit_code", ExitStatus.USAGE))
        except typer.Abort:
            sys.exit(_interrupted().exit_code)
        sys.exit(status if isinstance(status, int) else ExitStatus.SUCCESS)

    def make_context(self, *args, **kwargs):
        """Parsing the command line (Typer imports its converters then): Ctrl-C here is reported too."""
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:  # Typer would turn it into a silent exit 130
            raise _interrupted() from None
        except BrokenPipeError:  # while --help printed (Click would exit with status 1)
            _stdout_closed()
        except OSError as e:
            _stdout_failed(e)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _interrupted() from None
        except BrokenPipeError:
            _stdout_closed()
        except OSError as e:
            if e.filename is not None or e.errno not in STREAM_ERRORS:
                raise _unexpected(ctx, e) from None
            _stdout_failed(e)
        except _FRAMEWORK_EXCEPTIONS:  # --help exits; usage errors become one line in main()
            raise
        except Exception as e:
            raise _unexpected(ctx, e) from None


def _unexpected(ctx, e: Exception) -> typer.Exit:
    """Report an exception in one line; the caller raises the exit this returns."""
    if _CtrlC.received and getattr(e, "exit_status", None) != ExitStatus.INTERRUPTED:
        return _interrupted()  # a Ctrl-C that surfaced as another error (pybind11 converts it)
    if _debug(ctx):
        traceback.print_exception(e)
    if isinstance(e, MnistzipError):
        _error(str(e))
        return typer.Exit(int(e.exit_status))
    # a bug: say so in one line, keep the traceback for --debug
    _error(f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)")
    return typer.Exit(int(ExitStatus.ERROR))


STREAM_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF}  # a write to a full or closed stream


def _stdout_failed(e: OSError):
    """Standard output cannot be written (a full device, a closed descriptor): one line, status 6."""
    try:
        _error(f"standard output: cannot write ({e.strerror or e})")
    except OSError:
        pass
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing more to flush at exit
    except OSError:
        pass
    sys.exit(ExitStatus.OUTPUT)


def _stdout_closed():
    """Exit quietly (status 141, as a process killed by SIGPIPE) when standard output's reader has gone."""
    from .fileio import silence_stdout

    silence_stdout()
    sys.exit(ExitStatus.CLOSED_PIPE)


def _digits(n: int) -> str:
    """'1 digit', '10 digits'."""
    return f"{n} digit{'' if n == 1 else 's'}"


def _debug(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or bool(os.environ.get(DEBUG_ENV))


app = typer.Typer(
    cls=MnistzipGroup,
    rich_markup_mode=None,  # help text as written: Rich markup would turn "mnist:train:0-99" into an emoji
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compress handwritten digits with a learned codec.",
)


def _version(value: bool):
    if value:
        typer.echo(f"mnistzip {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
):
    """Compress handwritten digits with a learned codec."""
    ctx.obj = {"debug": debug}


def _finite(value):
    """A float option's check: NaN and infinity are no values for λ or a learning rate."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if v is not None and not math.isfinite(v):
            raise typer.BadParameter(f"must be a finite number, not {v}")
    return value


ModelOpt = typer.Option(None, "--model", "-m", help="Shipped model name or model directory.")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Say more: where each digit came from (index → path).")
QualityOpt = typer.Option(
    None, "--quality", "-q", min=1, help="Rung of the shipped quality ladder (1 = smallest files; see 'mnistzip models')."
)
BitsOpt = typer.Option(
    None, "--bits", min=0.0, callback=lambda v: _finite(v),
    help="Pick the rung nearest this many bits per digit without exceeding it (on the MNIST test split).",
)
LevelOpt = typer.Option(None, "--level", min=1, help="Level of the model given with --model (default: its own).")
ForceOpt = typer.Option(False, "--force", "-f", help="Overwrite an existing output.")
DataDirOpt = typer.Option(
    None, "--data-dir", help="Folder of the MNIST IDX files (default: $MNISTZIP_DATA_DIR, else TFDS download)."
)


# --------------------------------------------------------------------------- train


@app.command()
def train(
    lmbda: List[float] = typer.Option(
        [DEFAULT_LMBDA], "--lmbda", callback=_finite, help="Rate-distortion trade-off: loss = rate + lmbda * distortion. Repeat it (ascending) "
        "for one model with a level per lambda."
    ),
    preset: Optional[str] = typer.Option(
        None, "--preset", help="Recipe for every option not given: 'ladder' (that of the shipped model trained nearest "
        f"these lambdas, in full), 'seed' (the seed reports'). Default: the ladder's, about {DEFAULT_MINUTES} minutes long."
    ),
    latent_dims: Optional[int] = typer.Option(None, "--latent-dims", min=1, max=1024, help="Size of the latent vector."),
    width: Optional[int] = typer.Option(
        None, "--width", min=1, max=4096, help="Hidden units of the transforms' fully connected layers (model size grows with it)."
    ),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Passes over the training split."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Digits per training step."),
    lr: Optional[float] = typer.Option(None, "--lr", min=0.0, callback=_finite, help="Adam learning rate."),
    lr_schedule: Optional[str] = typer.Option(None, "--lr-schedule", help="constant or cosine (decay to 0)."),
    distortion: Optional[str] = typer.Option(None, "--distortion", help="mae or mse (pixels in [0, 1])."),
    prior: Optional[str] = typer.Option(
        None, "--prior",
        help="logistic, normal, deep (NoisyDeepFactorized) or conditional (each latent dimension given the ones before).",
    ),
    quantization: Optional[str] = typer.Option(
        None, "--quantization",
        help="What the decoder trains on: noise (noisy latents) or mixed (latents rounded as the codec rounds them).",
    ),
    decoder_epochs: Optional[int] = typer.Option(
        None, "--decoder-epochs", min=0,
        help="Then train the decoder alone this many epochs on the latents the codec decodes (same bits, better digits).",
    ),
    synthesis: Optional[str] = typer.Option(
        None, "--synthesis",
        help="Decoder architecture: seed, or conv3 (more channels and a third convolution at full resolution).",
    ),
    half: Optional[bool] = typer.Option(
        None, "--half/--no-half", help="Save the transforms' weights in float16 (half the size) or float32."
    ),
    code_class: Optional[bool] = typer.Option(
        None, "--code-class/--no-code-class",
        help="Send each digit's class first (3.3 bits) and decode given it: digits keep their class at low rates. "
        "Needs --prior deep.",
    ),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Random seed."),
    strategy: str = typer.Option(
        "none", "--strategy", help="Spread each batch over devices: none; mirrored (tf.distribute.MirroredStrategy "
        "over the visible GPUs, else over the CPU's devices: see --cpu-devices); multiworker (over the processes "
        "$TF_CONFIG lists, each running this command; the chief writes the model)."
    ),
    cpu_devices: Optional[int] = typer.Option(
        None, "--cpu-devices", min=1, max=64, help="Split the CPU into this many devices for --strategy mirrored."
    ),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Model directory (default runs/lmbda-L)."),
    data_dir: Optional[Path] = DataDirOpt,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint."),
    force: bool = ForceOpt,
    train_limit: Optional[int] = typer.Option(None, "--train-limit", min=1, help="Train on the first N digits only."),
    test_limit: Optional[int] = typer.Option(None, "--test-limit", min=1, help="Validate on the first N test digits."),
    steps_per_epoch: Optional[int] = typer.Option(None, "--steps-per-epoch", min=1, help="Cap steps per epoch."),
):
    """Train a codec on MNIST and export it (a SavedModel and the runtime's weights); needs mnistzip[train]."""
    from .errors import require
    from .recipe import config as recipe_config

    config = recipe_config(
        list(lmbda), preset, latent_dims=latent_dims, width=width, epochs=epochs, batch_size=batch_size, lr=lr,
        lr_schedule=lr_schedule, distortion=distortion, prior=prior, quantization=quantization,
        decoder_epochs=decoder_epochs, synthesis=synthesis, half=half, code_class=code_class, seed=seed, train_limit=train_limit,
        test_limit=test_limit, steps_per_epoch=steps_per_epoch,
    )
    from .train import check_strategy

    check_strategy(strategy, cpu_devices)
    for module in ("tensorflow", "tensorflow_compression"):
        require(module, "train", "train")
    from .card import Card
    from .train import command_line, default_output
    from .train import train as run

    output = output or default_output(config.lmbdas)
    try:
        result = run(config, output, data_dir, resume=resume, force=force, reporter=_RichReporter(), command=command_line(),
                     strategy=strategy, cpu_devices=cpu_devices)
    except KeyboardInterrupt:
        from .errors import Interrupted
        from .train import is_chief

        if not is_chief(strategy):  # its checkpoints were temporary; the chief's are what --resume continues
            raise Interrupted("interrupted; rerun the same command with --resume, as the chief does") from None
        raise Interrupted("interrupted; the last finished epoch is saved: rerun the same command with --resume") from None
    if not result.chief:
        console.print(one_line(f"this worker's part is done; the chief writes {result.path}"), markup=False)
        return
    level = Card.read(result.path).level()
    t = level.test
    console.print(one_line(
        f"saved {result.path} (id {level.id}): {t['bits_archive']:.1f} bits/digit on disk, "
        f"{t['bits_entropy']:.1f} entropy bits, PSNR {t['psnr_of_mean_mse']:.2f} dB on {t['digits']} test digits"
    ), markup=False, soft_wrap=True)


class _RichReporter:
    """Draws training progress: one bar per epoch with live rate and distortion."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[live]}"),
            TimeRemainingColumn(), console=console, transient=True,
        )
        self.task = None

    def epoch_start(self, epoch, epochs, steps):
        self.progress.start()
        self.task = self.progress.add_task(f"epoch {epoch}/{epochs}", total=steps, live="")
        self.epochs = epochs

    def step(self, rate, distortion):
        self.progress.update(self.task, advance=1, live=f"rate {rate:6.1f} bits  dist {distortion:.4f}")

    def epoch_end(self, epoch, metrics):
        self.progress.stop()
        self.progress.remove_task(self.task)
        speed = (f"; {metrics['steps_per_s']:.1f} steps/s, {metrics['digits_per_s_per_device']:,.0f} digits/s "
                 f"on each of {metrics['devices']} devices" if metrics.get("devices", 1) > 1 else "")
        if isinstance(metrics["rate"], list):  # several levels: bits → dB per level
            points = "  ".join(f"{r:.1f}→{p:.2f}" for r, p in zip(metrics["rate"], metrics["psnr"]))
            console.print(f"epoch {epoch}/{self.epochs}: test bits/digit → PSNR dB per level: {points}{speed}")
            return
        console.print(
            f"epoch {epoch}/{self.epochs}: test rate {metrics['rate']:.1f} bits/digit, "
            f"distortion {metrics['distortion']:.4f}, PSNR {metrics['psnr']:.2f} dB{speed}"
        )


# --------------------------------------------------------------------------- compress / decompress


KeepClassOpt = typer.Option(
    False, "--keep-class", help="Refine (--refine) without changing the class a shipped classifier reads in each "
    "digit: more digits come back as the same digit, for a few more bits."
)


@app.command()
def compress(
    inputs: List[str] = typer.Argument(
        ..., help="PNG, JPEG, WebP, BMP, GIF or TIFF files; folders of them (read recursively, in sorted order of "
        "their paths); - for standard input; or MNIST references: mnist:test:7, mnist:train:0-99, mnist:test."
    ),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="The .mz file to write, - for standard output (default: INPUT.mz for one file, "
        "standard output for -)."
    ),
    model: Optional[str] = ModelOpt,
    quality: Optional[int] = QualityOpt,
    bits: Optional[float] = BitsOpt,
    level: Optional[int] = LevelOpt,
    data_dir: Optional[Path] = DataDirOpt,
    no_invert: bool = typer.Option(False, "--no-invert", help="Keep dark-on-light images as they are."),
    refine: bool = typer.Option(False, "--refine", help="Search each digit's latents for fewer bits and less error (slower)."),
    refine_lmbda: Optional[float] = typer.Option(
        None, "--refine-lmbda", min=0.0, callback=_finite, help="λ of --refine's bits + λ·MSE (default: the model's λ)."
    ),
    keep_class: bool = KeepClassOpt,
    verbose: bool = VerboseOpt,
    force: bool = ForceOpt,
):
    """Compress digits into one .mz file."""
    from . import data, mnist, zoo
    from .errors import InputError
    from .fileio import check_writable, is_stdio, stdout_binary

    data.check_inputs(inputs)
    if output is None:
        if len(inputs) == 1 and is_stdio(inputs[0]):
            output = STDIO
        elif len(inputs) == 1 and Path(inputs[0]).is_file():
            output = str(Path(inputs[0]).with_suffix(container.SUFFIX))
        else:
            raise InputError("give the output file with -o OUT.mz (or -o - for standard output)")
    say = _Say(data_out=is_stdio(output), verbose=verbose)
    read = [*inputs, *mnist.referenced_files(inputs, data_dir)]  # an MNIST reference reads a file too
    if is_stdio(output):
        stdout_binary()
    else:
        check_writable(output, force, read)
    digits = data.collect_digits(inputs, data_dir, invert=False if no_invert else None, limit=container.MAX_DIGITS)
    for note in digits.notes:
        typer.echo(f"mnistzip: note: {one_line(note)}", err=True)
    if not is_stdio(output):
        check_writable(output, force, [*digits.sources, *read])  # a file found inside an input folder counts too
    say.detail(*(f"{i} → {source}" for i, source in enumerate(digits.sources)))
    codec = zoo.load(model, rung=quality, bits=bits, level=level)
    lmbda = _refine_lmbda(codec, refine or keep_class, refine_lmbda)
    if lmbda is None:
        mz = codec.compress(digits.images)
    else:
        guard = _guard(keep_class)
        with _progress() as progress:
            task = progress.add_task(f"refining {_digits(len(digits.images))}", total=1.0)
            mz = codec.compress(digits.images, refine=lmbda, guard=guard,
                                progress=lambda done: progress.update(task, completed=done))
    size = container.write(output, mz, force=force, inputs=[*digits.sources, *read])
    chosen = "" if bits is None else f", the rung for --bits {bits:g}: {codec.level.bits:.1f} bits/digit on MNIST test"
    say.result(f"{_shown(output)}: {_digits(mz.count)}, {size} bytes, {8 * size / mz.count:.1f} bits/digit "
               f"(model {codec.name}{chosen})")


def _guard(keep_class: bool):
    """The classifier --keep-class consults (never one that eval reports with), or None."""
    if not keep_class:
        return None
    from . import classify

    return classify.load(classify.GUARD)


def _refine_lmbda(codec, refine: bool, lmbda: float | None) -> float | None:
    """The λ for encode-time refinement, or None when it is off."""
    if not refine and lmbda is None:
        return None
    return lmbda if lmbda is not None else codec.level.lmbda


FormatOpt = typer.Option(
    None, "--format", help="With -o - (standard output): png (one digit, or a grid) or npy. Default: png."
)


@app.command()
def decompress(
    source: str = typer.Argument(..., help="The .mz file, or - for standard input."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="OUT.png (one digit, or a grid), OUT.npy (N x 28 x 28 uint8), a new folder, or - "
        "for standard output (default: SOURCE.png; standard output for -)."
    ),
    fmt: Optional[str] = FormatOpt,
    model: Optional[str] = ModelOpt,
    verbose: bool = VerboseOpt,
    force: bool = ForceOpt,
):
    """Decompress an .mz file to PNG(s) or a NumPy array."""
    from . import output as out
    from . import zoo
    from .fileio import is_stdio

    mz = container.read(source)
    if output is None:
        output = STDIO if is_stdio(source) else str(Path(source).with_suffix(out.PNG))
    say = _Say(data_out=is_stdio(output), verbose=verbose)
    kind = out.check_output(output, force, count=mz.count, fmt=fmt, inputs=[source])
    codec = zoo.for_file(mz.model_id, model)
    with _DelayedProgress(f"decoding {_digits(mz.count)}") as progress:
        out.save_digits(codec.decompress_batches(mz, progress=progress), output, force=force, count=mz.count,
                        fmt=fmt, inputs=[source])
    what = {"png": "grid" if mz.count > 1 else "image", "npy": "array", "dir": "folder"}[kind]
    say.result(f"{_shown(output)}: {_digits(mz.count)} ({what})")


@app.command()
def sample(
    n: int = typer.Option(16, "-n", min=1, max=4096, help="Number of digits to generate."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Random seed (0 or more), for reproducible samples."),
    output: str = typer.Option(
        "samples.png", "--output", "-o", help="Grid PNG, .npy, a new folder, or - for standard output."
    ),
    fmt: Optional[str] = FormatOpt,
    model: Optional[str] = ModelOpt,
    quality: Optional[int] = QualityOpt,
    bits: Optional[float] = BitsOpt,
    level: Optional[int] = LevelOpt,
    force: bool = ForceOpt,
):
    """Generate digits: random bytes through the decoder (no sanity check)."""
    from . import output as out
    from . import zoo
    from .fileio import is_stdio

    out.check_output(output, force, count=n, fmt=fmt)
    images = zoo.load(model, rung=quality, bits=bits, level=level).sample(n, seed)
    out.save_digits(images, output, force=force, fmt=fmt)
    _Say(data_out=is_stdio(output)).result(f"{_shown(output)}: {_digits(n)} generated")


# --------------------------------------------------------------------------- eval / info / models


@app.command("eval")
def evaluate(
    model: Optional[List[str]] = typer.Option(None, "--model", "-m", help="Model(s) to evaluate (default: the default rung)."),
    quality: Optional[List[int]] = typer.Option(None, "--quality", "-q", min=1, help="Rung(s) of the quality ladder to evaluate."),
    ladder: bool = typer.Option(False, "--ladder", help="Evaluate every rung of the shipped quality ladder."),
    level: Optional[int] = LevelOpt,
    split: str = typer.Option("test", "--split", help="Digits: MNIST's test or train split, or fonts (printed digits, shipped)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N digits."),
    codecs: str = typer.Option("", "--codecs", help="Classical codecs too: png,webp-lossless,jpeg,webp,avif."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Family that BD-rates are measured against."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the rate-distortion plot (PNG)."),
    plot_kept: Optional[Path] = typer.Option(None, "--plot-kept", help="Write the plot of class kept against bits (PNG)."),
    grid: Optional[Path] = typer.Option(None, "--grid", help="Write 16 originals beside their reconstructions (PNG)."),
    skip: int = typer.Option(0, "--skip", min=0, help="First digit of the --grid batch."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write every figure as JSON to this file ('-': stdout)."),
    refine: bool = typer.Option(False, "--refine", help="Measure with encode-time refinement too."),
    keep_class: bool = typer.Option(False, "--keep-class", help="Measure refinement that keeps the class too."),
    data_dir: Optional[Path] = DataDirOpt,
    force: bool = ForceOpt,
):
    """Measure rate, distortion, class kept and speed on MNIST or printed digits, against classical codecs too."""
    from . import baselines, classify
    from . import evaluate as ev
    from .fileio import check_writable, write_atomic

    chosen = baselines.parse_codecs(codecs)
    split_images, labels, read = ev.eval_digits(split, data_dir)
    for path in (plot, plot_kept, grid, None if json_out in (None, "-") else Path(json_out)):
        if path is not None:
            check_writable(path, force, read)
    images = split_images[:limit]
    picked = ev.codecs_to_measure(model, quality, ladder, level)
    ev.check_extras(picked, chosen, refine or keep_class, plot is not None or plot_kept is not None)
    judge = classify.Judge(labels[:limit])
    with _progress() as progress:
        def track(description, total):
            task = progress.add_task(description, total=total)
            return lambda done: progress.update(task, completed=done)

        rows = ev.evaluate(picked, images, refine=refine, classical=chosen, track=track, judge=judge,
                           keep_class=keep_class)
    ceilings = judge.ceilings(images)
    reference, bd = ev.bd_report(rows, reference)
    if grid is not None:
        from .report import plot_grid

        plot_grid(picked[0][0], split_images[skip : skip + 16], grid, force, first=skip)
    if plot is not None:
        from .report import plot_rd

        plot_rd(rows, plot, force, title=f"{_split_title(split)}, {len(images)} digits")
    if plot_kept is not None:
        from .report import plot_class_kept

        plot_class_kept(rows, ceilings, plot_kept, force, title=f"{_split_title(split)}, {len(images)} digits")
    report = dict(split=split, digits=len(images), classifiers=ceilings, results=rows,
                  bd_rate=dict(reference=reference, percent=bd))
    if json_out == "-":
        typer.echo(json.dumps(report, indent=2))
        return
    if json_out:
        write_atomic(json_out, (json.dumps(report, indent=2) + "\n").encode(), force=force, inputs=read)
    _print_eval(rows, bd, reference, split, len(images), ceilings)


def _split_title(split: str) -> str:
    return f"MNIST {split}" if split in ("test", "train") else f"{split} (printed digits, not MNIST)"


EVAL_COLUMNS = [
    ("model", "model"), ("id", "model_id"), ("bits archive", "bits_archive"), ("bits 1-file", "bits_single_file"),
    ("entropy", "bits_entropy"), ("PSNR avg", "psnr_mean"), ("PSNR mse", "psnr_of_mean_mse"),
    ("class kept", "class_kept"), ("2nd", "class_kept_second"), ("MAE", "mae"),
    ("SSIM", "ssim"), ("enc/s", "compress_digits_per_s"), ("dec/s", "decompress_digits_per_s"),
]


def _print_eval(rows: list[dict], bd: dict, reference: str, split: str, n: int, ceilings: dict) -> None:
    """The eval table, with what each column means underneath."""
    table = Table(title=f"{_split_title(split)}, {_digits(n)}")
    for title, _ in EVAL_COLUMNS:
        table.add_column(title, justify="left" if title in ("model", "id") else "right")
    for r in rows:
        cells = ["" if r.get(k) is None else str(r[k]) for _, k in EVAL_COLUMNS]
        if r.get("lossless"):
            cells[5] = cells[6] = "lossless"
        table.add_row(*cells)
    console.print(table)
    console.print(
        "bits per digit on disk: 'archive' = all digits in one .mz file, '1-file' = each digit in its own file; "
        "entropy = the ideal code length under the model's range-coding tables (the trained prior's estimate on "
        "MNISTZIP_ENGINE=tf). PSNR (255 peak): 'avg' = mean of per-digit PSNR, "
        "'mse' = PSNR of the mean MSE over all digits. MAE on 0-255. enc/s, dec/s = digits per second."
    )
    ref, second = ceilings["reference"], ceilings["second"]
    console.print(
        f"class kept (%): digits whose reconstruction the reference classifier ({ref['name']}, a {ref['kind']}) "
        f"reads as the original's label; it reads {ref['ceiling']:.2f}% of these originals correctly (the ceiling). "
        f"2nd: the same by another kind of classifier ({second['name']}, a {second['kind']}; "
        f"ceiling {second['ceiling']:.2f}%).", soft_wrap=False)
    for fam, value in bd.items():
        text = "n/a (no PSNR range in common)" if value is None else f"{value:+.1f}%"
        console.print(f"BD-rate of {fam} against {reference}: {text}")


def _shown(path, stream: str = "standard output") -> str:
    """How a path is named in messages: ``-`` is ``stream`` (standard output, or input)."""
    return stream if str(path) == STDIO else str(path)


class _Say:
    """Where a command's report goes: standard output, unless that carries the data (-o -); then standard error,
    and only with -v (a pipe stays quiet, as gzip's does)."""

    def __init__(self, data_out: bool, verbose: bool = False):
        self.data_out, self.verbose = data_out, verbose
        self.console = Console(stderr=True, highlight=False) if data_out else console

    def result(self, line: str) -> None:
        """The command's one-line summary."""
        if self.verbose or not self.data_out:
            self.console.print(one_line(line), markup=False, soft_wrap=True)

    def detail(self, *lines: str) -> None:
        """Lines shown with -v only."""
        if self.verbose:
            for line in lines:
                self.console.print(one_line(line), markup=False, soft_wrap=True)


class _DelayedProgress:
    """A progress bar on standard error that appears once a task has taken more than DELAY seconds
    (and only on a terminal); used as ``with _DelayedProgress(text) as progress: work(progress=progress)``."""

    DELAY = 2.0

    def __init__(self, description: str):
        self.description, self.bar, self.started = description, None, time.monotonic()

    def __enter__(self):
        return self.update

    def update(self, fraction: float) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < self.DELAY:
                return
            self.bar = _progress()
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=1.0)
        self.bar.update(self.task, completed=fraction)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _progress():
    """A progress display for steps that take more than a moment (hidden when not a terminal)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


@app.command()
def info(
    source: str = typer.Argument(..., help="The .mz file, or - for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print the fields as JSON."),
):
    """Show an .mz file's header and where its bytes go."""
    from . import zoo

    mz = container.read(source)
    source = _shown(source, "standard input")
    installed, retired = zoo.named(mz.model_id)
    fields = dict(
        file=str(source), version=mz.version, model_id=mz.model_id, model=installed, retired=retired,
        digits=mz.count, bytes=mz.size, payload_bytes=len(mz.payload), overhead_bytes=mz.overhead_bytes,
        bits_per_digit=round(8 * mz.size / mz.count, 3),
        layout=[dict(field=f, offset=o, size=s) for f, o, s in container.layout(mz)],
    )
    if as_json:
        typer.echo(json.dumps(fields, indent=2))
        return
    model_text = (f"{mz.model_id} ({installed})" if installed else f"{mz.model_id} ({retired}, retired before 1.0)"
                  if retired else f"{mz.model_id} (not installed)")
    console.print(one_line(f"{source}: mnistzip format version {mz.version}, model {model_text}"), markup=False)
    console.print(f"{_digits(mz.count)}, {mz.size} bytes, {fields['bits_per_digit']:.1f} bits/digit")
    table = Table("field", "offset", "bytes")
    for f, o, s in container.layout(mz):
        table.add_row(f, str(o), str(s))
    console.print(table)


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")):
    """List the rungs of the shipped quality ladder with their test-split figures."""
    from . import zoo

    rows = [dict(
        quality=r.number, name=r.name, id=r.id, default=r.default, model=r.card.name, level=r.level.number,
        lmbda=r.level.lmbda, codes_class=r.card.codes_class, **{k: r.level.test.get(k) for k in MODEL_FIGURES},
    ) for r in zoo.ladder()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None)  # 80 columns fit
    table.add_column("q", justify="right", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("id", no_wrap=True)
    for header in ("bits", "PSNR", "avg", "kept"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("λ", justify="right", no_wrap=True)
    for r in rows:
        table.add_row(str(r["quality"]), r["name"] + ("*" if r["default"] else ""), r["id"],
                      _fmt(r["bits_archive"], 1), _fmt(r["psnr_of_mean_mse"], 2), _fmt(r["psnr_mean"], 2),
                      _fmt(r["class_kept"], 1), r["model"], f"{r['lmbda']:g}")
    console.print(table)
    console.print("*: the default. q: --quality. bits: per digit on disk, the whole MNIST test split in one archive. "
                  "PSNR: of the mean MSE, dB; avg: mean of each digit's PSNR. kept: class kept, % of digits whose "
                  "reconstruction the reference classifier reads as the original's label (eval explains). model: the rung's model (mnistzip "
                  "models --json gives its level), trained for λ.")


MODEL_FIGURES = ("bits_archive", "bits_entropy", "psnr_of_mean_mse", "psnr_mean", "class_kept", "class_kept_second",
                 "compress_digits_per_s", "decompress_digits_per_s")


def _fmt(value, digits: int) -> str:
    """A figure for a table cell ('?' when unknown)."""
    return "?" if value is None else f"{value:.{digits}f}"


def run() -> None:
    """Console-script entry point."""
    sys.exit(app())
