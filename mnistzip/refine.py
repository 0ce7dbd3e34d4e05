"""Encode-time refinement: search each digit's quantised latents for fewer bits and less error.

The decoder and the file format stay as they are; only the encoder works
harder. A file made with refinement decodes with any mnistzip.
"""

from __future__ import annotations

import numpy as np

from .codec import Codec
from .digits import check_digits

ROUNDS = 2  # passes over the dimensions; the second moves few digits, a third almost none
STEPS = (-1.0, 1.0)  # the moves tried in each dimension: one quantisation step down and up


def refine(codec: Codec, images: np.ndarray, lmbda: float, rounds: int = ROUNDS, progress=None,
           guard=None) -> np.ndarray:
    """Quantised latents of ``images`` with a lower bits + λ·MSE (pixels in [0, 1]) than the encoder's.

    Greedy coordinate search: each round tries one step up and one step
    down in every latent dimension of every digit, and keeps a step when
    the exact coded cost (from the range-coding tables) plus λ times the
    decoded digit's MSE goes down (two decodes per dimension). With a
    conditional prior a step moves the predictions of the later dimensions,
    which are re-quantised around them before the trial is scored.

    With a ``guard`` (a ``classify.Classifier``), the class the guard reads
    in each original comes first: a step that changes the reconstruction's
    class away from it is rejected, and one that brings it back is kept
    whatever it costs; between steps that leave the class as it is, the
    cost decides. The guard is never a classifier that eval reports with.

    ``progress``, if given, is called with the fraction of the search done
    (0 to 1) after every trial: refining thousands of digits takes minutes.
    """
    images = check_digits(images)
    target = images.astype(np.float64) / 255.0
    y = codec.coding_of(images)[1]
    dims = np.arange(int(codec.codes_class), y.shape[1])  # a class-coding model's class is the guard's to choose
    wanted = guard.predict(images) if guard is not None else None

    def coded_loss(latents, which):
        """(the latents as coded, their bits + λ·MSE, whether the guard misreads them): one pass gives a
        conditional prior's both."""
        latents, rows, symbols = codec.coding(latents)
        pixels = codec.synthesize(latents)
        recon = pixels.astype(np.float64) / 255.0
        mse = ((recon - target[which]) ** 2).reshape(len(latents), -1).mean(axis=1)
        wrong = guard.predict(pixels) != wanted[which] if guard is not None else np.zeros(len(latents), bool)
        return latents, codec.tables.bits(rows, symbols) + lmbda * mse, wrong

    active = np.arange(len(y))
    _, current, misread = coded_loss(y, active)
    trials, done = rounds * len(dims) * len(STEPS), 0
    for _ in range(rounds):
        # A digit that did not move in a round had every step tried at its final latents
        # and rejected: another round would reject them again, so only movers go on.
        moved = np.zeros(len(y), bool)
        for d in dims:
            for step in STEPS:
                trial = y[active]
                trial[:, d] += step
                trial, trial_loss, trial_wrong = coded_loss(trial, active)  # conditional: later dimensions re-quantised
                was_wrong = misread[active]
                better = (trial_wrong < was_wrong) | ((trial_wrong == was_wrong) & (trial_loss < current[active] - 1e-9))
                won = active[better]
                y[won], current[won], misread[won], moved[won] = trial[better], trial_loss[better], trial_wrong[better], True
                done += 1
                if progress is not None:
                    progress(done / trials)
        active = np.flatnonzero(moved)
        if not len(active):
            break
    if progress is not None and done < trials:
        progress(1.0)  # the search settled before its last round
    return y
