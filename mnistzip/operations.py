"""What the commands do, as library operations that return what a front door prints.

``compress``, ``decompress``, ``prepare`` and ``sample`` check everything
before any work, in the order a user would look for a mistake: the options,
then the inputs (read in full: an input that is no image is named before an
output that exists), then the outputs; then they work, and return a
:class:`Written` for each output. The command line (``cli``) only parses, calls one of
these and prints; the Beam pipeline (``pipeline``) calls the same pieces.
What ``info`` and ``models`` show is ``about``'s (no NumPy there).

Outputs follow ``fileio``'s rules (atomic, never over an input or a folder,
``--force`` for one existing file). Without ``-o``, each input gets its own
output beside it, named so that it can be no one's original: ``a.png`` →
``a.mz``, the folder ``scans`` → ``scans.mz``, ``mnist:test:7`` →
``mnist-test-7.mz``; ``a.mz`` → ``a.decoded.png``; ``a.png`` →
``a.prepared.png``. Standard input goes to standard output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import classify, container, inputs, mnist, output, search, zoo
from .choice import ModelChoice
from .errors import UsageError
from .fileio import STDIO, check_writable, is_stdio, stdout_binary
from .refine import refine as refine_latents

Note = Callable[[str], None]  # told each thing a user should know about an input (the CLI prints it at once)
Progress = Callable[[str], contextlib.AbstractContextManager[Callable[[float], None]]]  # description → reporter

DECODED = ".decoded"  # decompress: a.mz → a.decoded.png, never the original's name
PREPARED = ".prepared"  # prepare: a.jpg → a.prepared.png


def _ignore(_: str) -> None:
    pass


@contextlib.contextmanager
def _silent(_: str) -> Iterator[Callable[[float], None]]:
    yield lambda fraction: None


@dataclass(frozen=True)
class Written:
    """One output written: where (``-`` is standard output), how many digits, and what it is."""

    path: str
    digits: int
    kind: str  # "mz", "png" (one digit or a grid), "npy" or "dir" (a folder of PNGs)
    size: int | None = None  # an .mz file's bytes
    overhead: int | None = None  # of which its header and checksum
    model: str | None = None  # the name of the codec that coded them
    sources: tuple[str, ...] = ()  # where each digit came from, in order


# --------------------------------------------------------------------------- compress


def compress(sources: list[str], to: str | None = None, choice: ModelChoice = ModelChoice(), *, data_dir=None,
             invert: bool | None = None, fast: bool = False, refine: bool = False, refine_lmbda: float | None = None,
             keep_class: bool = False, force: bool = False, note: Note = _ignore,
             progress: Progress = _silent) -> list[Written]:
    """Digits from images, folders, MNIST references or ``-`` into ``.mz`` files: all into ``to``, or each input
    into its own. Each digit's code is searched for fewer bits + λ·MSE (``search``), or rounded (``fast``);
    ``refine`` searches every value (``refine``; λ: ``refine_lmbda``, else the level's); ``keep_class`` also keeps
    the class a classifier reads."""
    choice.check()
    refining = refine or keep_class or refine_lmbda is not None
    if fast and refining:
        raise UsageError("--fast and --refine (or --refine-lmbda, --keep-class) pull opposite ways: give one")
    groups = _plan(sources, to, container.SUFFIX)
    codec = None
    written = []
    for target, group in groups:
        digits, read = _read(group, data_dir, invert, note)
        _check_output(target, force, read)
        codec = codec or zoo.chosen(choice)
        if refining:
            guard = classify.load(classify.GUARD) if keep_class else None  # never a classifier eval reports with
            lmbda = codec.level.lmbda if refine_lmbda is None else refine_lmbda
            with progress(f"refining {len(digits.images)} digits") as report:
                mz = codec.compress_latents(refine_latents(codec, digits.images, lmbda, progress=report, guard=guard))
        else:
            with (_silent if fast else progress)(f"searching {len(digits.images)} digits") as report:
                mz = search.compress(codec, digits.images, fast, progress=report)
        size = container.write(target, mz, force=force, inputs=read)
        written.append(Written(target, mz.count, "mz", size, mz.overhead_bytes, codec.name, tuple(digits.sources)))
    return written


def _plan(sources: list[str], to: str | None, suffix: str) -> list[tuple[str, list[str]]]:
    """(output, the inputs it holds) for each output, every input checked to exist first."""
    inputs.check_inputs(sources)
    if to is not None:
        return [(to, list(sources))]
    if sources == [STDIO]:
        return [(STDIO, sources)]
    if STDIO in sources:
        raise UsageError(f"standard input among other inputs needs an output: give -o OUT{suffix}")
    groups: dict[str, list[str]] = {}
    for source in sources:
        target = default_output(source, suffix)
        if target in groups:
            raise UsageError(f"{groups[target][0]} and {source} would both be written to {target}; give -o OUT{suffix}")
        groups[target] = [source]
    return list(groups.items())


def default_output(source: str, suffix: str) -> str:
    """The output of one input without ``-o``: beside it, its name with ``suffix`` (``mnist:test:7``: in the
    working folder, ``mnist-test-7`` + suffix)."""
    if is_stdio(source):
        return STDIO
    if mnist.parse_reference(source) is not None:
        return source.replace(":", "-") + suffix
    path = Path(source)
    if path.is_dir():
        path = path if path.name not in ("", ".", "..") else path.resolve()
        if not path.name:
            raise UsageError(f"{source} has no name to give its output: give -o OUT{suffix}")
        return str(path.with_name(path.name + suffix))
    return str(path.with_suffix(suffix) if suffix == container.SUFFIX else path.with_name(path.stem + suffix))


def _read(group: list[str], data_dir, invert: bool | None, note: Note) -> tuple[inputs.Digits, list]:
    """The digits of a group of inputs (each note told as it comes), and every file read: the inputs, the files
    inside input folders, and the MNIST files a reference reads (none may be an output)."""
    digits = inputs.collect_digits(group, data_dir, invert=invert, limit=container.MAX_DIGITS)
    for line in digits.notes:
        note(line)
    return digits, [*group, *digits.sources, *mnist.referenced_files(group, data_dir)]


def _check_output(target: str, force: bool, read: list) -> None:
    if is_stdio(target):
        stdout_binary()
    else:
        check_writable(target, force, read)


# --------------------------------------------------------------------------- decompress, prepare, sample


def decompress(source: str, to: str | None = None, fmt: str | None = None, model: str | None = None,
               scale: int = 1, force: bool = False, progress: Progress = _silent) -> Written:
    """An ``.mz`` file to a PNG (one digit, or a grid), an ``.npy`` array or a new folder of PNGs."""
    target = to if to is not None else STDIO if is_stdio(source) else default_output(source, DECODED + output.PNG)
    output.kind_of(target, fmt, scale)  # the options first
    mz = container.read(source)
    kind = output.check_output(target, force, count=mz.count, fmt=fmt, inputs=[source])
    codec = zoo.for_file(mz.model_id, model)
    with progress(f"decoding {mz.count} digits") as report:
        output.save_digits(codec.decompress_batches(mz, progress=report), target, force=force, count=mz.count,
                           fmt=fmt, inputs=[source], scale=scale)
    return Written(target, mz.count, kind, model=codec.name)


def prepare(sources: list[str], to: str | None = None, fmt: str | None = None, *, data_dir=None,
            invert: bool | None = None, scale: int = 1, force: bool = False, note: Note = _ignore) -> list[Written]:
    """The 28 x 28 digits mnistzip makes of the inputs (what ``compress`` would code), written as images."""
    written = []
    for target, group in _plan(sources, to, PREPARED + output.PNG):
        output.kind_of(target, fmt, scale)
        digits, read = _read(group, data_dir, invert, note)
        kind = output.check_output(target, force, count=len(digits.images), fmt=fmt, inputs=read)
        output.save_digits(digits.images, target, force=force, fmt=fmt, inputs=read, scale=scale)
        written.append(Written(target, len(digits.images), kind, sources=tuple(digits.sources)))
    return written


def sample(n: int, seed: int | None = None, to: str = "samples.png", fmt: str | None = None,
           choice: ModelChoice = ModelChoice(), scale: int = 1, force: bool = False) -> Written:
    """``n`` new digits: random bytes decoded (no sanity check), written as images."""
    choice.check()
    kind = output.check_output(to, force, count=n, fmt=fmt, scale=scale)
    codec = zoo.chosen(choice)
    output.save_digits(codec.sample(n, seed), to, force=force, fmt=fmt, scale=scale)
    return Written(to, n, kind, model=codec.name)
