"""Batch compression on Apache Beam: millions of digits into sharded .mz files, and back.

    python -m mnistzip.pipeline compress --input 'scans/**/*.png' --output out/digits [--quality 3] [Beam options]
    python -m mnistzip.pipeline decompress --input 'out/digits-*.mz' --output decoded [--format png]

``compress`` reads images (decoded as ``mnistzip compress`` decodes them),
``.npy`` arrays of uint8 digits, folders and MNIST references, and writes
shards beside a manifest, the dead letters and a summary (``mnistzip.shards``
says what each file holds and why a rerun writes the same bytes).
``decompress`` writes each ``.mz`` file it matches as ``OUT/NAME.npy`` (or a
folder of PNGs ``OUT/NAME/``), beside ``OUT/errors.jsonl`` and
``OUT/summary.json``.

The transforms, for a pipeline of your own: :class:`CompressDigits` and
:class:`DecompressDigits`. Each is applied to the pipeline itself and returns
``{"written": ..., "dead_letter": ..., "summary": ...}``. Workers run the NumPy runtime: they
need ``mnistzip[beam]``, not TensorFlow, and load the model once each, in
``DoFn.setup``. How to run on Flink, Spark or Dataflow: docs/scale.md.
"""

from __future__ import annotations

import argparse
import contextlib
import glob as pyglob
import io
import itertools
import json
import logging
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from . import blas, container, errors, inputs, mnist, options, output, shards, zoo
from .choice import ModelChoice
from .fileio import replace_atomic, silence_stdout
from .errors import (EXTRAS, ExitStatus, InputError, MissingExtra, MnistzipError, ModelError, OutputError,
                     ending, install_hint, interruptions,
                     UsageError, error_line, one_line)

_root_logger, _level = logging.getLogger(), logging.getLogger().level
_root_logger.setLevel(logging.ERROR)  # Beam warns, at import, of Google Cloud clients it may lack
try:
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
except ImportError:  # the entry point says so in one line; an import from code gets the same message
    _missing = MissingExtra(f"mnistzip.pipeline needs {EXTRAS['beam']}: {install_hint('beam')}")
    if __name__ == "__main__":
        print(error_line(str(_missing)), file=sys.stderr)
        sys.exit(_missing.exit_status)
    raise _missing from None
finally:
    _root_logger.setLevel(_level)

DEAD_LETTER = "dead_letter"
DECOMPRESS_FORMATS = ("npy", "png")
DECOMPRESS_INDEX = {"errors": "errors.jsonl", "summary": "summary.json"}  # beside a decompression job's outputs


# --------------------------------------------------------------------------- file systems


def open_file(path: str):
    """A file for reading, local or on any file system Beam knows (gs://, s3://, hdfs://), as stored."""
    if shards.is_local(path):
        return open(path, "rb")
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def glob(pattern: str, limit: int | None = None) -> list[str]:
    """The files a pattern matches, sorted, as a shell matches them: ``*`` stays inside a folder, ``**/`` is any
    number of folders (none included), and hidden names (a leading ``.``, at any depth) are left out unless the
    pattern spells the dot. At most ``limit`` are looked for. Folders are not files: they are left out too.

    Local patterns go to Python's ``glob``, which reads only the folders the
    pattern needs; URLs to Beam's file systems, which list everything under
    the pattern's fixed start.
    """
    if shards.is_local(pattern):
        try:
            found = (p for p in pyglob.iglob(pattern, recursive=True) if not os.path.isdir(p))
            return sorted(itertools.islice(found, limit))
        except OSError as e:
            raise InputError(f"{pattern}: cannot list ({e.strerror or e})") from None
    try:
        listed = FileSystems.match([pattern])[0].metadata_list
    except Exception as e:  # BeamIOError, or a scheme no installed file system serves
        raise InputError(f"{pattern}: cannot list ({one_line(str(e).splitlines()[0])})") from None
    fixed = re.match(r"[^[*?]*", pattern).group(0).rsplit("/", 1)[0]
    spelt = {part for part in pattern.split("/") if part.startswith(".")}
    visible = (m.path for m in listed
               if not any(p.startswith(".") and p not in spelt for p in m.path[len(fixed):].split("/")))
    return sorted(itertools.islice(visible, limit))


def write_file(path: str, blob: bytes) -> None:
    """Write a whole output atomically: a temporary file beside it, then a rename over what is there. The entry
    point refused existing outputs (without --force) before the job started; a retried worker replaces its own."""
    if shards.is_local(path):
        replace_atomic(path, blob)
        return
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.write(blob)
        if FileSystems.exists(path):  # HDFS renames onto nothing only
            FileSystems.delete([path])
        FileSystems.rename([tmp], [path])
    except Exception as e:
        with contextlib.suppress(Exception):  # it may never have been created
            FileSystems.delete([tmp])
        raise OutputError(f"{path}: cannot write ({one_line(str(e).splitlines()[0])})") from None


def decompress_index_files(folder: str) -> dict[str, str]:
    """The two files a decompression job writes beside its outputs (as ``shards.index_files`` for compression)."""
    return {key: f"{folder.rstrip('/')}/{name}" for key, name in DECOMPRESS_INDEX.items()}


def index_files(args: argparse.Namespace) -> dict[str, str]:
    """The index files of the job the command line runs: at least ``errors`` and ``summary``."""
    return shards.index_files(args.output) if args.command == "compress" else decompress_index_files(args.output)


def matched_files(text: str, folders: bool = False) -> list[str]:
    """The files an input names: a pattern's matches or, with ``folders``, a local folder's images (as ``compress``
    reads a folder); an ``InputError`` when there are none."""
    if folders and shards.is_local(text) and os.path.isdir(text):
        paths = [os.path.join(text, *parts) for parts in inputs.folder_images(text)]
    else:
        paths = glob(text)
    if not paths:
        raise InputError(f"{text}: matches no file")
    return paths


def _dead_letter(source: str, error: Exception | str) -> beam.pvalue.TaggedOutput:
    """A dead letter, on its way to the output of that name."""
    return beam.pvalue.TaggedOutput(DEAD_LETTER, shards.DeadLetter(source, one_line(str(error))))


def base_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- compress


class _ListInput(beam.DoFn):
    """One input (an MNIST reference, a folder or a pattern) → its entries, and dead letters.

    Entries travel as plain tuples, which Beam encodes without pickle: a job moves one per digit."""

    def process(self, element):
        position, text = element
        try:
            if text.startswith("mnist:"):
                yield from map(tuple, shards.mnist_entries(position, text))
                return
            paths = matched_files(text, folders=True)
        except MnistzipError as e:
            yield _dead_letter(text, e)
            return
        for path in paths:
            for item in shards.file_entries(position, path, open_file):
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, item) if isinstance(item, shards.DeadLetter) else tuple(item)


class _CodeShard(beam.DoFn):
    """(shard, its ranked entries) → the shard's .mz file written, and dead letters. The model loads once per worker."""

    def __init__(self, prefix: str, choice: ModelChoice, model_id: str, data_dir: str | None, invert: bool | None,
                 fast: bool = False):
        self.prefix = prefix
        self.fast = fast
        self.choice = choice
        self.model_id = model_id
        self.data_dir = data_dir
        self.invert = invert
        self.codec = None

    def setup(self):
        self.codec = zoo.chosen(self.choice)
        if self.codec.id != self.model_id:  # another mnistzip on this worker than on the machine that started the job
            raise ModelError(f"this worker's model is {self.codec.id}, the job's is {self.model_id}: install the same "
                              f"mnistzip on every worker")

    def process(self, element):
        shard, ranked = element
        ranked = [shards.Ranked(shard, count, rank, shards.Entry._make(entry)) for count, rank, entry in ranked]
        name = shards.shard_name(self.prefix, shard, ranked[0].shards)
        images, sources, dead = shards.read_shard(ranked, shards.Reader(open_file, self.data_dir, self.invert))
        for letter in dead:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
        if len(images):
            blob, coded = shards.code_shard(self.codec, shard, base_name(name), images, sources, self.fast)
            write_file(name, blob)
            yield coded


def _ranked(entries: list[tuple], shard_size: int):
    """Every entry → (its shard, (the number of shards, its rank, the entry)), as tuples (see ``_ListInput``)."""
    for r in shards.rank(map(shards.Entry._make, entries), shard_size):
        yield r.shard, (r.shards, r.rank, tuple(r.entry))


def _write_index(_, prefix: str, model_id: str, model_name: str, coded, dead, shard_size: int) -> dict:
    contents = shards.index_contents(model_id, model_name, coded, dead, shard_size)
    for key, path in shards.index_files(prefix).items():
        write_file(path, contents[key])
    return json.loads(contents["summary"])


class CompressDigits(beam.PTransform):
    """Compress every digit the inputs give into shards of at most ``shard_size`` digits under ``prefix``.

    ``inputs``: MNIST references, folders, or patterns of images and ``.npy``
    files, in the order their digits go (see ``mnistzip.shards``). The model is
    resolved here, so a bad choice fails before the job starts. Returns
    ``{"written": Coded per shard, "dead_letter": DeadLetter per input not read,
    "summary": the summary's dict}``.
    """

    def __init__(self, inputs: Sequence[str], prefix: str, choice: ModelChoice = ModelChoice(),
                 shard_size: int = shards.DEFAULT_SHARD_SIZE, data_dir: str | None = None, invert: bool | None = None,
                 fast: bool = False):
        super().__init__()
        self.fast = fast
        codec = zoo.chosen(choice)
        self.inputs = list(inputs)
        self.prefix = prefix
        self.choice = choice
        self.model_id, self.model_name = codec.id, codec.name
        self.shard_size = shards.check_shard_size(shard_size)
        self.data_dir = data_dir
        self.invert = invert

    def expand(self, pbegin):
        listed = (
            pbegin
            | "Inputs" >> beam.Create(list(enumerate(self.inputs)))
            | "List" >> beam.ParDo(_ListInput()).with_outputs(DEAD_LETTER, main="entries")
        )
        coded = (
            listed.entries
            | "All entries" >> beam.combiners.ToList()
            | "Rank" >> beam.FlatMap(_ranked, self.shard_size)
            | "By shard" >> beam.GroupByKey()
            | "Code" >> beam.ParDo(
                _CodeShard(self.prefix, self.choice, self.model_id, self.data_dir, self.invert, self.fast)
            ).with_outputs(DEAD_LETTER, main="written")
        )
        dead = (listed[DEAD_LETTER], coded[DEAD_LETTER]) | "Dead letters" >> beam.Flatten()
        summary = (
            pbegin
            | "Index" >> beam.Create([None])
            | "Write index" >> beam.Map(
                _write_index, self.prefix, self.model_id, self.model_name,
                beam.pvalue.AsList(coded.written), beam.pvalue.AsList(dead), self.shard_size,
            )
        )
        return {"written": coded.written, DEAD_LETTER: dead, "summary": summary}


# --------------------------------------------------------------------------- decompress


class Decoded(NamedTuple):
    """One .mz file decoded: its path, what it was written as, and its digit count."""

    source: str
    output: str
    digits: int


def decompress_target(folder: str, source: str, fmt: str) -> str:
    """``OUT/NAME.npy`` or the folder ``OUT/NAME`` for ``.../NAME.mz``."""
    stem = base_name(source)
    if stem.lower().endswith(container.SUFFIX):
        stem = stem[: -len(container.SUFFIX)]
    return f"{folder.rstrip('/')}/{stem}" + (".npy" if fmt == "npy" else "")


def plan_decompress(paths: Iterable[str], folder: str, fmt: str):
    """Each matched file once, in order, with its output; a second file of the same name is a dead letter."""
    taken: dict[str, str] = {}
    for path in sorted(set(paths)):
        target = decompress_target(folder, path, fmt)
        if target in taken:
            yield _dead_letter(path, f"{path}: {target} is already the output of {taken[target]}")
        else:
            taken[target] = path
            yield path, target


class _Match(beam.DoFn):
    def process(self, pattern):
        try:
            yield from matched_files(pattern)
        except MnistzipError as e:
            yield _dead_letter(pattern, e)


class _DecodeFile(beam.DoFn):
    """(an .mz file, its output) → the output written; a file that does not decode is a dead letter. Models load
    once per worker, each the first time a file needs it."""

    def __init__(self, fmt: str, model: str | None):
        self.fmt = fmt
        self.model = model
        self.codecs = {}

    def setup(self):
        self.codecs = {}

    def process(self, element):
        source, target = element
        try:
            with open_file(source) as f:
                mz = container.read_stream(f)
            if mz.model_id not in self.codecs:
                self.codecs[mz.model_id] = zoo.for_file(mz.model_id, self.model)
            codec = self.codecs[mz.model_id]
            if self.fmt == "png":  # a folder of files, each replaced on its own: a retry or --force rewrites them
                try:
                    os.makedirs(target, exist_ok=True)
                except OSError as e:
                    raise OutputError(f"{target}: cannot create the folder ({e.strerror or e})") from None
                i = 0
                for batch in codec.decompress_batches(mz):
                    for image in batch:
                        write_file(f"{target}/{output.digit_stem(i, mz.count)}{output.PNG}", output.png_bytes(image))
                        i += 1
            elif shards.is_local(target):
                output.save_digits(codec.decompress_batches(mz), target, force=True, count=mz.count, fmt=None)
            else:
                buffer = io.BytesIO()
                np.save(buffer, codec.decompress(mz))
                write_file(target, buffer.getvalue())
        except MnistzipError as e:
            yield _dead_letter(source, f"{source}: {e}")
        except OSError as e:
            yield _dead_letter(source, f"{source}: cannot read ({e.strerror or e})")
        else:
            yield Decoded(source, target, mz.count)


def _write_decompress_index(_, folder: str, decoded, dead) -> dict:
    dead = set(dead)
    digest = {"files": len(decoded), "digits": sum(d.digits for d in decoded), "dead_letters": len(dead)}
    paths = decompress_index_files(folder)
    write_file(paths["errors"], shards.dead_letters_file(dead))
    write_file(paths["summary"], shards.json_file(digest))
    return digest


class DecompressDigits(beam.PTransform):
    """Decode every .mz file the patterns match into ``folder``: ``NAME.npy`` (uint8, N x 28 x 28) or, with
    ``fmt="png"``, a folder ``NAME/`` of PNGs (on a local file system). Returns ``{"written": Decoded per file,
    "dead_letter": DeadLetter per file not decoded, "summary": the summary's dict}``."""

    def __init__(self, inputs: Sequence[str], folder: str, fmt: str = "npy", model: str | None = None):
        super().__init__()
        if fmt not in DECOMPRESS_FORMATS:
            raise InputError(f"--format must be one of {', '.join(DECOMPRESS_FORMATS)}, not {fmt!r}")
        if fmt == "png" and not shards.is_local(folder):
            raise InputError("--format png writes folders of PNGs on this machine's file system; use npy for a URL")
        self.inputs = list(inputs)
        self.folder = folder
        self.fmt = fmt
        self.model = model

    def expand(self, pbegin):
        matched = (
            pbegin
            | "Patterns" >> beam.Create(self.inputs)
            | "Match" >> beam.ParDo(_Match()).with_outputs(DEAD_LETTER, main="paths")
        )
        planned = (
            matched.paths
            | "All files" >> beam.combiners.ToList()
            | "Plan" >> beam.FlatMap(plan_decompress, self.folder, self.fmt).with_outputs(DEAD_LETTER, main="files")
        )
        decoded = (
            planned.files
            | "Spread" >> beam.Reshuffle()
            | "Decode" >> beam.ParDo(_DecodeFile(self.fmt, self.model)).with_outputs(DEAD_LETTER, main="written")
        )
        dead = (matched[DEAD_LETTER], planned[DEAD_LETTER], decoded[DEAD_LETTER]) | "Dead letters" >> beam.Flatten()
        summary = (
            pbegin
            | "Index" >> beam.Create([None])
            | "Write index" >> beam.Map(_write_decompress_index, self.folder, beam.pvalue.AsList(decoded.written),
                                        beam.pvalue.AsList(dead))
        )
        return {"written": decoded.written, DEAD_LETTER: dead, "summary": summary}


# --------------------------------------------------------------------------- the entry point


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad command line reported as every mnistzip error is: one line, exit status 2."""

    def error(self, message):
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mnistzip.pipeline", description=__doc__.split("\n\n")[0],
                epilog="Options this does not know go to Beam: --runner, --direct_num_workers, --project, ... "
                       "Without --runner the job runs here, on every core (docs/scale.md).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("compress", help="digits → sharded .mz files, a manifest, the dead letters and a summary")
    c.add_argument("--input", action="append", required=True, metavar="GLOB|FOLDER|mnist:SPLIT",
                   help="images and .npy arrays (a pattern: * within a folder, ** across), a folder of images, or "
                        "an MNIST reference; repeat for more, in order")
    c.add_argument("--output", required=True, metavar="PREFIX",
                   help="writes PREFIX-00000-of-0000N.mz ..., PREFIX.manifest.jsonl, PREFIX.errors.jsonl, "
                        "PREFIX.summary.json")
    for spec in (*options.MODEL, options.FAST, options.DATA_DIR, options.NO_INVERT):  # as mnistzip compress takes them
        _add(c, spec)
    c.add_argument("--shard-size", type=int, default=shards.DEFAULT_SHARD_SIZE, metavar="N",
                   help=f"digits per shard, at most (default {shards.DEFAULT_SHARD_SIZE:,})")
    c.add_argument("--force", action="store_true", help="replace the files this job writes if they exist")
    d = sub.add_parser("decompress", help=".mz files → OUT/NAME.npy (or OUT/NAME/ of PNGs), with a summary")
    d.add_argument("--input", action="append", required=True, metavar="GLOB", help=".mz files; repeat for more")
    d.add_argument("--output", required=True, metavar="OUT", help="the folder to write into (new, unless --force)")
    d.add_argument("--format", default="npy", choices=DECOMPRESS_FORMATS, help="npy (default) or png")
    d.add_argument("--model", help="the model that made the files, if it is not installed")
    d.add_argument("--force", action="store_true", help="write into OUT even if it holds files; replace those written")
    return p


def _add(parser: argparse.ArgumentParser, spec: options.Option) -> None:
    """An option declared in ``options``, as argparse takes it."""
    described = spec.described().replace("%", "%%")
    if spec.type is bool:
        parser.add_argument(*spec.flags, dest=spec.name, action="store_true", help=described)
    else:
        parser.add_argument(*spec.flags, dest=spec.name, type=spec.type, metavar=spec.metavar, help=described)


def pipeline_options(beam_args: list[str]):
    """Beam's options; without a runner, the job runs on this machine's cores, in worker processes. An option
    neither mnistzip nor Beam knows is refused (Beam would drop it with a warning: a typo would go unseen)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    given = {a.split("=", 1)[0] for a in beam_args if a.startswith("--")}
    defaults = []
    if "--runner" not in given:
        if "--direct_num_workers" not in given:
            defaults.append(f"--direct_num_workers={os.cpu_count() or 1}")
        if "--direct_running_mode" not in given:
            defaults.append("--direct_running_mode=multi_processing")
    if "--default_sdk_harness_log_level" not in given:
        defaults.append("--default_sdk_harness_log_level=WARNING")
    options = PipelineOptions(defaults + beam_args)
    beams_parser = []
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):  # Beam prints its whole usage before the line that matters
            options.get_all_options(add_extra_args_fn=beams_parser.append)
    except SystemExit:
        lines = said.getvalue().strip().splitlines() or ["bad Beam option"]
        raise UsageError(lines[-1].split("error: ", 1)[-1]) from None
    _, unknown = beams_parser[0].parse_known_args(beam_args)
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r} (neither this command's nor Beam's)")
    return options


@contextlib.contextmanager
def _shared_cores(options):
    """Local worker processes share the cores: while the job runs, each gets cores / workers threads for NumPy's
    BLAS and for its batches (``blas.BATCH_THREADS``; they inherit this environment), where each would otherwise
    start a thread per core. A user's setting is kept."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    direct = options.view_as(DirectOptions)
    local = options.view_as(StandardOptions).runner in (None, "DirectRunner", "direct")
    if not local or direct.direct_running_mode != "multi_processing":
        yield
        return
    cores = os.cpu_count() or 1
    threads = str(max(1, cores // (direct.direct_num_workers or cores)))
    added = [name for name in (*blas.VARIABLES, blas.BATCH_THREADS) if name not in os.environ]
    os.environ.update({name: threads for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def check_inputs(inputs: list[str], data_dir: str | None = None, references: bool = False) -> None:
    """Refuse, before the job starts, an input that names nothing: a pattern matching no file, or (``references``:
    compression's inputs) a bad MNIST reference or MNIST missing. A local folder is an input of compression."""
    for text in inputs:
        ref = mnist.parse_reference(text) if references else None
        if ref is not None:
            mnist.images(ref[0], data_dir)  # DataError when MNIST is not there
        elif not (references and shards.is_local(text) and os.path.isdir(text)) and not glob(text, limit=1):
            raise InputError(f"{text}: matches no file")


def check_folder(folder: str, force: bool) -> None:
    """Refuse a decompression folder that holds anything (without ``force``); create it when local."""
    if shards.is_local(folder):
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise OutputError(f"{folder}: exists and is not a folder")
        try:
            if os.path.isdir(folder) and os.listdir(folder) and not force:
                raise OutputError(f"{folder}: folder holds files; pass --force to write into it")
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{folder}: cannot write ({e.strerror or e})") from None
    elif glob(f"{folder.rstrip('/')}/**", limit=1) and not force:
        raise OutputError(f"{folder}: holds files; pass --force to write into it")


def run(args: argparse.Namespace, beam_args: list[str]) -> tuple[dict, list[str]]:
    """Build and run one job; returns its summary (read back from what the job wrote) and notes for the user."""
    options = pipeline_options(beam_args)
    found = []
    if args.command == "compress":
        data_dir = mnist.resolve_data_dir(args.data_dir)
        data_dir = None if data_dir is None else str(data_dir.resolve())
        check_inputs(args.input, data_dir, references=True)
        found = shards.check_prefix(args.output, args.force, glob)
        transform = CompressDigits(
            args.input, args.output, ModelChoice(args.model, args.quality, args.bits, args.level),
            args.shard_size, data_dir, False if args.no_invert else None, args.fast,
        )
    else:
        transform = DecompressDigits(args.input, args.output, args.format, args.model)
        check_inputs(args.input)
        check_folder(args.output, args.force)
    with _workers_log(options) as log, _shared_cores(options):
        try:
            with beam.Pipeline(options=options) as p:
                p | transform
        except MnistzipError:
            raise
        except Exception as e:
            message, status = _worker_error(e)
            raise JobFailed(message + (f" (the workers' log: {log})" if log else ""), status) from None
    summary_path = index_files(args)["summary"]
    try:
        with open_file(summary_path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:  # a runner that did not wait, or workers whose files this machine cannot see
        raise OutputError(f"{summary_path}: the job ended but its summary cannot be read here ({one_line(str(e))})") \
            from None
    stale = shards.stale_shards(found, summary) if args.command == "compress" else []
    notes = [f"{_count(len(stale), 'shard')} of an earlier job remain beside this job's; its manifest does not name "
             f"them: {stale[0]}{' ...' if len(stale) > 1 else ''}"] if stale else []
    return summary, notes


class JobFailed(MnistzipError):
    """The runner reported a failure inside the job (a worker's exception, named by its last line)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.exit_status = status


@contextlib.contextmanager
def _workers_log(options):
    """While a local job runs, its worker processes (which share this process's standard error) log to a temporary
    file: Beam's notices are not a user's business. Yields the file's path, kept only when a worker failed
    (:class:`JobFailed` names it)."""
    from apache_beam.options.pipeline_options import StandardOptions

    if options.view_as(StandardOptions).runner not in (None, "DirectRunner", "direct"):
        yield None
        return
    fd, log = tempfile.mkstemp(prefix="mnistzip-pipeline-", suffix=".log")
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(fd, 2)
    keep = False
    try:
        yield log
    except JobFailed:
        keep = True
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
        if not keep:
            os.unlink(log)


def report(args: argparse.Namespace, summary: dict) -> str:
    """The result line."""
    if args.command == "compress":
        if not summary["digits"]:
            return f"{args.output}: no digit coded"
        return (f"{args.output}: {_count(summary['digits'], 'digit')} in {_count(summary['shards'], 'shard')}, {summary['bytes']:,} bytes, "
                f"{summary['bits_per_digit']:.1f} bits/digit ({summary['name']}, model {summary['model']})")
    return f"{args.output}: {_count(summary['digits'], 'digit')} from {_count(summary['files'], 'file')}"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+Error|\w+File|UnknownModel|RetiredModel): (.+)$")


def _worker_error(e: Exception) -> tuple[str, int]:
    """A failure inside the job, as one line and an exit status: the last mnistzip error its text names."""
    for line in reversed(str(e).splitlines()):
        m = _ERROR_LINE.match(line.strip())
        kind = m and getattr(errors, m.group(1), None)
        if isinstance(kind, type) and issubclass(kind, MnistzipError):
            return m.group(2), kind.exit_status
    last = next((line.strip() for line in reversed(str(e).splitlines()) if line.strip()), type(e).__name__)
    return f"the job failed: {last}", ExitStatus.ERROR


def main(argv: list[str] | None = None) -> int:
    """``python -m mnistzip.pipeline``: exit 0 when every input was coded; 3 (after writing everything else)
    when some went to the dead letters; otherwise the statuses of ``mnistzip`` (``errors.ending``)."""
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)  # the workers' logs, relayed: a failure is one line below
    try:
        args, beam_args = parser().parse_known_args(argv)
        with interruptions():  # SIGTERM too: what was half-written is removed
            summary, notes = run(args, beam_args)
        print(report(args, summary), flush=True)
    except (KeyboardInterrupt, BrokenPipeError, MnistzipError) as e:
        status, message = ending(e)
        if message is not None:
            print(error_line(message), file=sys.stderr)
        if status == ExitStatus.CLOSED_PIPE:  # `... | head -0`: the reader has gone
            silence_stdout()
        return status
    for note in notes:
        print(f"mnistzip: note: {one_line(note)}", file=sys.stderr)
    if summary["dead_letters"]:
        n = summary["dead_letters"]
        print(error_line(f"{n:,} input{'' if n == 1 else 's'} could not be used: see {index_files(args)['errors']}"),
              file=sys.stderr)
        return ExitStatus.BAD_INPUT
    return ExitStatus.SUCCESS


if __name__ == "__main__":  # run as the module, not as __main__: workers unpickle its classes by their module's name
    from mnistzip.pipeline import main as _main

    sys.exit(_main())
