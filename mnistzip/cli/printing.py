"""What the commands print. A report goes to standard output, unless that carries the data (``-o -``): then to
standard error, with ``-v`` only (a pipe stays quiet, as gzip's). Tables fit the terminal, or 80 columns when
redirected; Rich is imported only to draw a progress bar, on a terminal, once the work has taken ``DELAY`` s."""

from __future__ import annotations

import contextlib
import shutil
import sys
import textwrap
import time

import typer

from ..about import LEGEND as LADDER_LEGEND
from ..about import ladder_table
from ..columns import render
from ..errors import one_line
from ..fileio import is_stdio

DELAY = 2.0  # seconds of work before a progress bar appears
KINDS = {"png": "image", "npy": "array", "dir": "folder"}


def digits(n: int) -> str:
    return f"{n} digit{'' if n == 1 else 's'}"


def shown(path, stream: str = "standard output") -> str:
    """How a path is named in messages: ``-`` is ``stream``."""
    return stream if is_stdio(path) else str(path)


def line(text: str, err: bool = False) -> None:
    typer.echo(one_line(text), err=err)


def wrapped(text: str) -> None:
    typer.echo(textwrap.fill(one_line(text), 80))


def note(text: str) -> None:
    """Something a user should know about an input, said at once, on standard error."""
    typer.echo(f"mnistzip: note: {one_line(text)}", err=True)


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None, keep: int = 1) -> None:
    width = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 80
    for text in render(headers, rows, width, right, keep):
        typer.echo(text)


def written(w, verbose: bool, summary: str) -> None:
    """What a command wrote (``operations.Written``): with -v where each digit came from, then the summary (see
    the module docstring for where they go)."""
    data_out = is_stdio(w.path)
    for i, source in enumerate(w.sources if verbose else ()):
        line(f"{i} → {source}", err=data_out)
    if verbose or not data_out:
        line(summary, err=data_out)


def kind(w) -> str:
    """A written image output in words: image, grid, array or folder."""
    return "grid" if w.kind == "png" and w.digits > 1 else KINDS[w.kind]


def compressed(w, rung=None) -> str:
    """compress's summary: the size (a lone digit's header and checksum said apart), the model, and the rung
    --bits chose, whose bits are an average over many digits in one file."""
    if w.digits == 1:
        size = f"1 digit, {w.size} bytes: {w.size - w.overhead} of code, {w.overhead} of header and checksum"
    else:
        size = f"{digits(w.digits)}, {w.size} bytes, {8 * w.size / w.digits:.1f} bits/digit"
    chosen = "" if rung is None else (f", the quality level for --bits: {rung.level.bits:.1f} bits a digit on average "
                                      "over MNIST's test digits in one file")
    return f"{shown(w.path)}: {size} (model {w.model}{chosen})"


def facts(fields: dict) -> None:
    """``info``: the file's header, the model that made it, where its bytes go."""
    model = fields["model_id"]
    made_by = (f"{model} ({fields['model']})" if fields["model"] else f"{model} ({fields['retired']}, retired before "
               "1.0)" if fields["retired"] else f"{model} (not installed)")
    line(f"{shown(fields['file'], 'standard input')}: mnistzip format version {fields['version']}, model {made_by}")
    line(f"{digits(fields['digits'])}, {fields['bytes']} bytes, {fields['bits_per_digit']:.1f} bits/digit")
    table(["field", "offset", "bytes"], [[f["field"], str(f["offset"]), str(f["size"])] for f in fields["layout"]])


def ladder(rows: list[dict]) -> None:
    """``models``: the quality levels, their figures, and what the columns mean."""
    headers, cells, right = ladder_table(rows)
    table(headers, cells, right, keep=2)
    wrapped(LADDER_LEGEND)


def evaluation(report: dict) -> None:
    """``eval``: the table, then what its columns mean and the BD-rates."""
    from ..evaluate import legend, table as cells  # NumPy is loaded by then: eval has run

    line(f"{report['title']}, {digits(report['digits'])}")
    table(*cells(report), right=set(range(2, len(cells(report)[0]))))
    for paragraph in legend(report):
        wrapped(paragraph)


def trained(result) -> None:
    """``train``: where the model went and its figures, or (another worker's) that its part is done."""
    if not result.chief:
        line(f"this worker's part is done; the chief writes {result.path}")
        return
    level = result.level
    t, f = level.test, level.figure
    line(f"saved {result.path} (id {level.id}): {f('bits_archive'):.1f} bits/digit on disk, {f('bits_entropy'):.1f} "
         f"entropy bits, PSNR {f('psnr_of_mean_mse'):.2f} dB on {t['digits']} test digits "
         f"(--fast: {t['bits_archive']:.1f} bits, {t['psnr_of_mean_mse']:.2f} dB)")


class Bars:
    """Progress bars on standard error: ``task(description, total)`` gives one task's reporter,
    ``report(done, live="...")``; its bar appears once the work has taken ``delay`` seconds, on a terminal only."""

    def __init__(self, delay: float = DELAY):
        self.started, self.delay, self.bar = time.monotonic(), delay, None

    def task(self, description: str, total: float = 1.0):
        ids = []

        def report(done: float, live: str = "") -> None:
            if self.bar is None and (not sys.stderr.isatty() or time.monotonic() - self.started < self.delay):
                return
            if self.bar is None:
                from rich.console import Console
                from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

                self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                    TextColumn("{task.fields[live]}"), TimeRemainingColumn(),
                                    console=Console(stderr=True), transient=True)
                self.bar.start()
            ids[:] = ids or [self.bar.add_task(description, total=total, live="")]
            self.bar.update(ids[0], completed=done, live=live)
        return report

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


@contextlib.contextmanager
def progress(description: str):
    """``with progress(text) as report: work(report)``: one task's bar (``Bars``)."""
    with Bars() as bars:
        yield bars.task(description)


class TrainingReporter:
    """``train.Reporter`` on a terminal: a bar per epoch with live rate and distortion, then the epoch's line."""

    def epoch_start(self, epoch, epochs, steps):
        self.bars, self.epochs, self.steps = Bars(delay=0.0), epochs, 0
        self.report = self.bars.task(f"epoch {epoch}/{epochs}", steps)

    def step(self, rate, distortion):
        self.steps += 1
        self.report(self.steps, live=f"rate {rate:6.1f} bits  dist {distortion:.4f}")

    def epoch_end(self, epoch, metrics):
        from ..train import epoch_line  # NumPy is loaded by then: train runs

        self.bars.__exit__()
        line(epoch_line(epoch, self.epochs, metrics))
