"""Every command's options, as data: flags, type, default, range and what each does in plain words.

One declaration serves every front door: the command line builds its Typer
options from these (``cli.parsing``), the Beam pipeline its argparse ones
(``MODEL``), and each help text ends with the option's range and default,
taken from the same numbers the checks use. Nothing here imports NumPy or
loads a model, so that ``--help`` answers at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import catalogue
from .bounds import MAX_SAMPLES, MAX_SCALE
from .errors import ModelError


@dataclass(frozen=True)
class Option:
    """One option (or, without flags, a positional argument) of a command."""

    name: str  # the value's name where a command receives it
    flags: tuple[str, ...]
    help: str
    type: type = str
    default: object = None  # ... for a required argument
    low: float | None = None  # the range a number must lie in
    high: float = math.inf
    default_text: str | None = None  # how the help says the default, when not the value itself
    metavar: str | None = None
    many: bool = False  # repeatable (a list)

    @property
    def argument(self) -> bool:
        return not self.flags

    def described(self) -> str:
        """The help text with the range and default, as every option says them."""
        words = [self.help]
        if self.low is not None:
            words.append(f"{self.low:g} or more." if self.high == math.inf else f"{self.low:g} to {self.high:g}.")
        unsaid = self.default is None or self.default is ... or self.default is False or self.default == []
        default = self.default_text or (None if unsaid else f"{self.default}")
        if default:
            words.append(f"Default: {default}.")
        return " ".join(words)

    def check(self, value):
        """``value`` (each of a list), or ``ValueError`` saying what it must be: ``must be 1 to 18, not 19``."""
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if self.low is not None and v is not None and not (math.isfinite(v) and self.low <= v <= self.high):
                limits = f"{self.low:g} or more" if self.high == math.inf else f"{self.low:g} to {self.high:g}"
                raise ValueError(f"must be {limits}, not {v:g}")
        return value


def _ladder() -> tuple[int, int | str]:
    """(the number of quality levels, the default one), read from the catalogue's ladder.json alone."""
    try:
        return catalogue.rung_count(), catalogue.default_number()
    except ModelError:  # a broken install: the commands say so; the help still shows
        return 18, "the ladder's default ('mnistzip models')"


LEVELS, DEFAULT_LEVEL = _ladder()

# --------------------------------------------------------------------------- the model

MODEL = (
    Option("quality", ("--quality", "-q"), "Quality level: 1 gives the smallest files, the highest the digits closest "
           "to the originals ('mnistzip models' lists them). As in cwebp, -q is quality.", int, None, 1, LEVELS,
           default_text=str(DEFAULT_LEVEL), metavar="N"),
    Option("bits", ("--bits",), "Pick the quality level whose digits take at most this many bits each, on average "
           "over MNIST's test digits in one file.", float, None, 0, metavar="BITS"),
    Option("model", ("--model", "-m"), "A model of your own (its folder), or a shipped model by name, instead of a "
           "quality level.", metavar="MODEL"),
    Option("level", ("--level",), "One of the levels of the model given with --model.", int, None, 1,
           default_text="the model's own", metavar="N"),
)

# --------------------------------------------------------------------------- inputs and outputs

INPUTS = Option("inputs", (), "Images (PNG, JPEG, WebP, BMP, GIF, TIFF), folders of them (read in the sorted order "
                "of their paths), - for standard input, or MNIST digits: mnist:test:7, mnist:test:0-99, mnist:test.",
                default=..., metavar="INPUT...", many=True)
DATA_DIR = Option("data_dir", ("--data-dir",), "Folder of MNIST's IDX files, for mnist: inputs.",
                  default_text="$MNISTZIP_DATA_DIR, else the test digits shipped with mnistzip (the training digits "
                  "need a folder, or mnistzip[train] to download them)", metavar="FOLDER")
NO_INVERT = Option("no_invert", ("--no-invert",), "Keep dark-on-light images as they are, instead of turning dark "
                   "ink on light paper into light ink on black, as MNIST's digits are.", bool, False)
FORCE = Option("force", ("--force", "-f"), "Replace the output file if it exists (never a folder, never an input).",
               bool, False)
VERBOSE = Option("verbose", ("--verbose", "-v"), "Also say where each digit came from (its place → its source); "
                 "with -o -, say what was written, on standard error.", bool, False)
IMAGES = ("OUT.png (one digit, or a grid), OUT.npy (an N x 28 x 28 uint8 array), a new folder (a PNG per digit), "
          "or - for standard output.")
FORMAT = Option("fmt", ("--format",), "What -o - (standard output) carries: png or npy.", default_text="png",
                metavar="png|npy")
SCALE = Option("scale", ("--scale",), "Draw each pixel of a PNG as an N x N square.", int, 1, 1, MAX_SCALE,
               default_text="1 (a digit is 28 x 28 pixels)", metavar="N")
FAST = Option("fast", ("--fast",), "Round each digit's code to its nearest values instead of searching it for fewer "
              "bits and less error: 5 to 40 times faster, and about 7% more bits for the same quality.", bool, False)
REFINE = (
    FAST,
    Option("refine", ("--refine",), "Search every value of each digit's code, not only the likeliest moves: a little "
           "fewer bits still, about a hundred digits a second.", bool, False),
    Option("refine_lmbda", ("--refine-lmbda",), "How --refine weighs bits against error: bits + LAMBDA x MSE.",
           float, None, 0, default_text="the quality level's own", metavar="LAMBDA"),
    Option("keep_class", ("--keep-class",), "As --refine, and never let a digit come back as another digit (as a "
           "classifier reads it).", bool, False),
)

COMPRESS = (INPUTS, Option("output", ("--output", "-o"), "Write every digit into this one .mz file (- for standard "
                           "output).", default_text="each input into its own file beside it, NAME.mz (a folder: "
                           "FOLDER.mz; mnist:test:7: mnist-test-7.mz); standard input to standard output",
                           metavar="OUT.mz"),
            *MODEL, *REFINE, DATA_DIR, NO_INVERT, VERBOSE, FORCE)
DECOMPRESS = (Option("source", (), "The .mz file, or - for standard input.", default=..., metavar="FILE.mz"),
              Option("output", ("--output", "-o"), IMAGES, default_text="NAME.decoded.png beside NAME.mz (never the "
                     "name of the image it came from); standard output for -", metavar="OUT"),
              FORMAT, SCALE, Option("model", ("--model", "-m"), "The folder of the model that made the file, when it "
                                    "is not one mnistzip ships.", metavar="MODEL"), VERBOSE, FORCE)
PREPARE = (INPUTS, Option("output", ("--output", "-o"), IMAGES, default_text="NAME.prepared.png beside each input",
                          metavar="OUT"), FORMAT, SCALE, DATA_DIR, NO_INVERT, VERBOSE, FORCE)
SAMPLE = (Option("n", ("-n",), "How many digits.", int, 16, 1, MAX_SAMPLES),
          Option("seed", ("--seed",), "Random seed: the same seed gives the same digits.", int, None, 0,
                 default_text="new digits each time"),
          Option("output", ("--output", "-o"), IMAGES, default="samples.png", metavar="OUT"),
          FORMAT, SCALE, *MODEL, FORCE)
FILE = Option("source", (), "The .mz file, or - for standard input.", default=..., metavar="FILE.mz")
INFO = (FILE, Option("as_json", ("--json",), "Print the facts as JSON.", bool, False))
MODELS = (Option("as_json", ("--json",), "Print as JSON, with each level's model and λ.", bool, False),)

# --------------------------------------------------------------------------- eval

EVAL = (
    Option("models", ("--model", "-m"), "A model to measure (repeatable).", default=[], metavar="MODEL", many=True),
    Option("qualities", ("--quality", "-q"), "A quality level to measure (repeatable).", int, [], 1, LEVELS,
           default_text=f"with no --model, the default level, {DEFAULT_LEVEL}", metavar="N", many=True),
    Option("ladder", ("--ladder",), "Measure every quality level.", bool, False),
    Option("level", ("--level",), "One of the levels of the model given with --model.", int, None, 1,
           default_text="the model's own", metavar="N"),
    Option("split", ("--split",), "The digits: MNIST's test or train split, or fonts (1,000 printed digits, "
           "shipped).", default="test"),
    Option("limit", ("--limit",), "Only the first N digits.", int, None, 1, default_text="all", metavar="N"),
    Option("codecs", ("--codecs",), "Classical codecs to measure too, through Pillow: any of png,webp-lossless,jpeg,"
           "webp,avif (each lossy one over a range of qualities).", default="", default_text="none", metavar="LIST"),
    Option("reference", ("--reference",), "The curve that BD-rates are measured against.",
           default_text="the first measured", metavar="FAMILY"),
    Option("plot", ("--plot",), "Draw the rate-distortion curves (needs mnistzip[eval]).", metavar="FILE.png"),
    Option("plot_kept", ("--plot-kept",), "Draw class kept against bits (needs mnistzip[eval]).", metavar="FILE.png"),
    Option("grid", ("--grid",), "Draw 8 digits above their reconstructions by each model measured, with the bits "
           "each took.", metavar="FILE.png"),
    Option("skip", ("--skip",), "The first digit of --grid.", int, 0, 0, metavar="N"),
    Option("json", ("--json",), "Write every figure as JSON to FILE (- for standard output: then no table).",
           metavar="FILE"),
    Option("fast", ("--fast",), "Measure compress --fast too.", bool, False),
    Option("refine", ("--refine",), "Measure compress --refine too.", bool, False),
    Option("keep_class", ("--keep-class",), "Measure compress --keep-class too.", bool, False),
    DATA_DIR, FORCE,
)

# --------------------------------------------------------------------------- train

TRAIN = (
    Option("lmbda", ("--lmbda",), "How the model weighs error against bits: it learns to spend fewer bits + LAMBDA x "
           "error. Repeat it, ascending, for one model with a quality level per LAMBDA.", float, [], 0,
           default_text="2000", metavar="LAMBDA", many=True),
    Option("preset", ("--preset",), "The recipe for every option not given: ladder (that of the shipped model "
           "trained nearest these LAMBDAs, in full) or seed (the TFC tutorial's).",
           default_text="the ladder's, cut to about a quarter of an hour", metavar="ladder|seed"),
    Option("latent_dims", ("--latent-dims",), "How many numbers code a digit.", int, None, 1, 1024, "the preset's"),
    Option("width", ("--width",), "Hidden units of the transforms' dense layers (the model grows with it).", int, None,
           1, 4096, "the preset's"),
    Option("epochs", ("--epochs",), "Passes over the training digits.", int, None, 1, default_text="the preset's"),
    Option("batch_size", ("--batch-size",), "Digits per training step.", int, None, 1, default_text="the preset's"),
    Option("lr", ("--lr",), "Adam's learning rate.", float, None, 0, default_text="the preset's"),
    Option("lr_schedule", ("--lr-schedule",), "constant, or cosine (down to 0).", default_text="the preset's"),
    Option("distortion", ("--distortion",), "What error is: mae or mse (pixels from 0 to 1).",
           default_text="the preset's"),
    Option("prior", ("--prior",), "How the code's numbers are modelled: logistic, normal, deep, or conditional (each "
           "given the ones before).", default_text="the preset's"),
    Option("quantization", ("--quantization",), "What the decoder trains on: noise (noisy codes) or mixed (codes "
           "rounded as the codec rounds them).", default_text="the preset's"),
    Option("decoder_epochs", ("--decoder-epochs",), "Then train the decoder alone this many epochs on the codes "
           "the codec decodes (the same bits, better digits).", int, None, 0, default_text="the preset's"),
    Option("synthesis", ("--synthesis",), "The decoder: seed, or conv3 (more channels, a third convolution).",
           default_text="the preset's"),
    Option("half", ("--half/--no-half",), "Store the transforms' weights in float16 (half the size) or float32.",
           bool, None, default_text="the preset's"),
    Option("code_class", ("--code-class/--no-code-class",), "Send each digit's class first (3.3 bits) and decode "
           "given it: digits keep their class at low rates. Needs --prior deep.", bool, None,
           default_text="the preset's"),
    Option("seed", ("--seed",), "Random seed.", int, 0, 0, 2**32 - 1),
    Option("strategy", ("--strategy",), "Spread each batch over devices: none; mirrored (over the GPUs, else the "
           "CPU's devices: see --cpu-devices); multiworker (over the processes $TF_CONFIG lists, each running this "
           "command; the chief writes the model).", default="none"),
    Option("cpu_devices", ("--cpu-devices",), "Split the CPU into this many devices, for --strategy mirrored.", int,
           None, 1, 64),
    Option("output", ("--output", "-o"), "The model's folder.", default_text="runs/lmbda-LAMBDA", metavar="FOLDER"),
    DATA_DIR,
    Option("resume", ("--resume",), "Continue an interrupted run from its last finished epoch.", bool, False),
    FORCE,
    Option("train_limit", ("--train-limit",), "Train on the first N digits only.", int, None, 1, metavar="N"),
    Option("test_limit", ("--test-limit",), "Validate on the first N test digits only.", int, None, 1, metavar="N"),
    Option("steps_per_epoch", ("--steps-per-epoch",), "At most N steps an epoch.", int, None, 1, metavar="N"),
)
