"""The encoder's search: the moves of a digit's symbols most likely to lower bits + λ·MSE, each checked exactly.

Rounding every latent to its nearest symbol is not the cheapest code of a
digit: a symbol one step away often costs fewer bits, or decodes closer, or
both. ``refine`` tries every step of every dimension (~100 decodes a digit);
this search tries the few that a first-order prediction ranks best:

1. The plain encoder's symbols (``codec.Codec.coding_of``); one decode, and
   the gradient of the MSE through the decoder (``backward``).
2. For each dimension and step ±1, the predicted change of bits + λ·MSE: the
   element's exact bits in its table, λ times the gradient, and with a
   conditional prior the later dimensions' bits through their scales and
   locations (vector-Jacobian products through the masked network).
3. The ``moves`` best-ranked steps predicted under ``threshold`` are tried one
   after another, each scored exactly (its later dimensions re-quantised
   around their new predictions, as the coder will), and kept when the score
   goes down. A digit that kept a move is ranked again from where it stands,
   up to ``rounds`` times.

The decoder and the format do not change: a searched file decodes with any
mnistzip. The exact score uses the decoder's output before rounding to grey
levels (a continuous MSE, whose last bits the batch moves by ~1e-6 of it).

**A digit's code is its own** (ARCHITECTURE.md). Every step above is row-wise,
but float32 sums move with a digit's place in its batch (``codec``), so a
decision that float32 leaves within ``MARGIN`` of going the other way (two
ranked predictions, a prediction and the threshold, or a trial's score and the
one it must beat) sends the digit to be searched again in float64 with sums
that do not depend on the batch (``backward``). A decision with a wider margin
is the one exact arithmetic takes, and so is every float64 one, save ties at
~1e-15: both paths give a digit the same symbols.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backward import PriorGradient, Synthesis
from .codec import Codec
from .coding import LOG_SCALE_STEP, SCALE_BINS
from .container import SIDE, MzFile
from .digits import check_digits
from .runtime import Runtime

BATCH = 2048  # digits searched together: their arrays stay a few tens of MB, and progress is told after each
TRIALS_PER_CALL = 256  # fewer trials a call would leave the transforms' products too small to run at speed
# Bits: how near a decision's two sides float32 may leave them (see the module's docstring): 7 times the largest
# float32 batch-to-batch difference of a score or a prediction measured at any rung (5.3e-4 bits, rung 18)
MARGIN = 2.0**-8
PIXELS = SIDE * SIDE


@dataclass(frozen=True)
class Effort:
    """How hard the search looks: moves tried per round, the predicted cost (bits) above which a move is not
    tried, rounds, and how many times a prediction follows the prior's cascade (0: not at all)."""

    moves: int = 8
    threshold: float = 2.0
    rounds: int = 4
    cascade: int = 8


DEFAULT = Effort()


def encode(codec: Codec, images: np.ndarray, fast: bool = False, progress=None) -> tuple[bytes, np.ndarray]:
    """Digits → (one range-coded string, bits per digit under the tables): searched, as ``mnistzip compress``
    codes by default; with ``fast``, each latent rounded to its nearest symbol (``Codec.encode``).
    ``progress``, if given, is told the fraction searched (0 to 1) as the batches go."""
    if fast:
        return codec.encode(images)
    coded, rows, symbols = Search(codec).coding(images, progress)
    return codec.encode_coded(coded, rows, symbols), codec.tables.bits(rows, symbols)


def compress(codec: Codec, images: np.ndarray, fast: bool = False, progress=None) -> MzFile:
    """Digits → the contents of one .mz file, coded as :func:`encode` codes them."""
    return MzFile(model_id=codec.id, count=len(images), payload=encode(codec, images, fast, progress)[0])


class Search:
    """The search for one codec (any engine: the derivatives come from its portable weights), at λ = ``lmbda``
    (else the level's)."""

    def __init__(self, codec: Codec, lmbda: float | None = None, effort: Effort = DEFAULT):
        self.codec, self.effort = codec, effort
        self.lmbda = float(codec.level.lmbda if lmbda is None else lmbda)
        self.runtime = codec.engine if isinstance(codec.engine, Runtime) else Runtime.load(codec.card)
        self.first = int(codec.codes_class)  # a class-coding model's class is never moved
        self._built: dict = {}

    def _numerics(self, dtype) -> tuple[Synthesis, PriorGradient | None]:
        """The decoder and the prior's derivatives in ``dtype``, built when first needed (float64 rarely is)."""
        if dtype not in self._built:
            q = self.codec.level.index
            prior = PriorGradient(self.runtime.entropy, q, dtype) if self.codec.conditional else None
            self._built[dtype] = Synthesis(self.runtime, q, dtype), prior
        return self._built[dtype]

    # ------------------------------------------------------------------ entry point

    def coding(self, images: np.ndarray, progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Digits → (latents as coded, table row, symbol), searched: what ``Codec.encode_coded`` writes.
        ``BATCH`` digits at a time (a digit's code does not depend on its batch), each batch's end told to
        ``progress`` as the fraction done."""
        images = check_digits(images)
        parts = []
        for start in range(0, len(images), BATCH):
            parts.append(self._coding(images[start : start + BATCH]))
            if progress is not None:
                progress(min(len(images), start + BATCH) / len(images))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))

    def _coding(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, y, rows, symbols = self.codec.coding_of(images)
        target = images.reshape(len(images), SIDE, SIDE) / 255.0
        unsure = self._search(np.float32, target, y, rows, symbols, guarded=True)
        if unsure.size:  # again, apart from the batch, from the plain encoder's symbols
            parts = list(self.codec.coding_of(images[unsure])[1:])
            self._search(np.float64, target[unsure], *parts, guarded=False)
            y[unsure], rows[unsure], symbols[unsure] = parts
        return y, rows, symbols

    # ------------------------------------------------------------------ the search

    def _search(self, dtype, target, y, rows, symbols, guarded: bool) -> np.ndarray:
        """Move ``y``, ``rows``, ``symbols`` in place; return the digits a decision was too close to call for
        (``guarded``: their arrays are left as they are, to be searched again)."""
        synthesis, prior = self._numerics(dtype)
        target = target.astype(dtype)
        effort, codec = self.effort, self.codec
        unsure = np.zeros(len(y), bool)
        active = np.arange(len(y))
        loss = np.empty(len(y))  # each digit's bits + λ·MSE as its latents stand
        for _ in range(effort.rounds):
            if not len(active):
                break
            out, masks = synthesis.forward(y[active], keep=True)
            loss[active] = codec.tables.bits(rows[active], symbols[active]) + self.lmbda * _mse(out, target[active])
            predicted = self._predictions(synthesis, prior, y[active], rows[active], symbols[active], out, masks,
                                          target[active])
            order = np.argsort(predicted, axis=1, kind="stable")[:, : effort.moves + 1]
            ranked = np.take_along_axis(predicted, order, axis=1)
            if guarded:
                close = _close_ranking(ranked, effort.threshold, effort.moves)
                unsure[active[close]] = True
            moved = self._try(synthesis, target, y, rows, symbols, loss, active, order, ranked, unsure, guarded)
            active = np.flatnonzero(moved & ~unsure)
        return np.flatnonzero(unsure)

    def _try(self, synthesis, target, y, rows, symbols, loss, active, order, ranked, unsure, guarded) -> np.ndarray:
        """One round's trials: each active digit's best-ranked moves under the threshold, in their order, each
        from the digit's latents as they stand, the first that lowers the score kept. A call scores the next
        few moves of every digit (enough for ``TRIALS_PER_CALL`` trials, all its moves for a lone digit) as if
        none were kept (most are not); a digit that kept one has the moves after it scored again from its new
        latents. The same moves are kept whatever the calls' sizes. Returns which digits moved."""
        codec, effort = self.codec, self.effort
        count = np.sum(ranked[:, : effort.moves] < effort.threshold, axis=1)  # sorted: a prefix of the ranking
        count[unsure[active]] = 0
        tried = np.zeros(len(active), np.int64)  # the next move each digit tries, in its ranking
        moved = np.zeros(len(y), bool)
        while np.any(pending := tried < count):
            window = max(1, -(-TRIALS_PER_CALL // int(np.sum(pending))))  # moves a digit has scored in this call
            lengths = np.minimum(count - tried, window)[pending]
            owner = np.repeat(np.flatnonzero(pending), lengths)  # each trial's digit, as a place in ``active``
            place = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + tried[owner]
            who, move = active[owner], order[owner, place]
            trial = y[who].copy()
            trial[np.arange(len(who)), move // 2 + self.first] += np.where(move % 2 == 1, 1, -1)
            coded, trial_rows, trial_symbols = codec.coding(trial)
            trial_out, _ = synthesis.forward(coded)
            trial_loss = codec.tables.bits(trial_rows, trial_symbols) + self.lmbda * _mse(trial_out, target[who])
            change = trial_loss - loss[who]
            first = np.full(len(active), len(order[0]))
            np.minimum.at(first, owner, np.where(change < 0, place, len(order[0])))
            if guarded:  # a decision taken (a move tried up to the one kept) too close to call
                close = owner[(place <= first[owner]) & (np.abs(change) < MARGIN)]
                unsure[active[close]] = True
                first[close] = len(order[0])
            kept = (place == first[owner]) & ~unsure[who]
            won = who[kept]
            y[won], rows[won], symbols[won], loss[won] = (coded[kept], trial_rows[kept], trial_symbols[kept],
                                                          trial_loss[kept])
            moved[won] = True
            scored = tried.copy()
            scored[pending] += lengths
            tried = np.where(first < len(order[0]), first + 1, scored)
            tried[unsure[active]] = count[unsure[active]]
        return moved

    def _predictions(self, synthesis, prior, y, rows, symbols, out, masks, target) -> np.ndarray:
        """(N, 2 × moveable dims): each step's predicted change of bits + λ·MSE (down, up per dimension)."""
        f, dtype = self.first, synthesis.dtype
        live = (out > 0) & (out < 1)
        residual = np.where(live, out - target, dtype(0))
        gradient = synthesis.gradient(masks, residual)[:, f:] * dtype(2 / PIXELS)
        tables = self.codec.tables
        r, s = rows[:, f:], symbols[:, f:]
        base = tables.element_bits(r, s)
        own = np.stack([tables.element_bits(r, s - 1) - base, tables.element_bits(r, s + 1) - base], axis=2)
        slope = self.lmbda * gradient.astype(np.float64)
        if prior is not None:
            slopes = prior.slopes(y)
            up = tables.element_bits(np.minimum(r + 1, SCALE_BINS - 1), s)
            down = tables.element_bits(np.maximum(r - 1, 0), s)
            through_scales = ((up - down) / (2 * LOG_SCALE_STEP)).astype(dtype)
            v = slope.astype(dtype) + prior.vjp(slopes, log_scale=through_scales)
            if self.effort.cascade:
                v = prior.cascade(slopes, v, self.effort.cascade)
            slope = v.astype(np.float64)
        predicted = own + np.stack([-slope, slope], axis=2)
        return predicted.reshape(len(y), -1)


def _mse(out: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per digit, the mean squared error of the decoder's output held to [0, 1] (pixels in [0, 1])."""
    return ((np.clip(out, 0, 1) - target) ** 2).reshape(len(out), -1).mean(axis=1, dtype=np.float64)


def _close_ranking(ranked: np.ndarray, threshold: float, moves: int) -> np.ndarray:
    """Digits whose tried moves (the first ``moves`` ranked under ``threshold``) float32 could order or choose
    otherwise: two of them, or the last and the next, within ``MARGIN``, or one that near the threshold."""
    head = ranked[:, :moves]
    near_threshold = np.abs(head - threshold) < MARGIN
    gaps = np.diff(ranked, axis=1)[:, :moves] < MARGIN
    return np.any(near_threshold | (gaps & (head < threshold + MARGIN)), axis=1)
