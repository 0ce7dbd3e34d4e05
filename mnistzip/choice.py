"""Which model codes the digits: the values of the options that choose it (``options.MODEL``), checked.

``mnistzip compress`` and ``python -m mnistzip.pipeline compress`` take the
same four options and hand their values to :class:`ModelChoice`, which checks
them before any work; ``zoo.chosen`` loads the codec they name. Nothing here
loads a model or imports NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalogue
from .errors import UsageError


@dataclass(frozen=True)
class ModelChoice:
    """A quality level (a rung of the shipped ladder, by number or by rate) or a model (with one of its levels);
    the shipped default when nothing is given."""

    model: str | None = None
    quality: int | None = None
    bits: float | None = None
    level: int | None = None

    def check(self) -> None:
        """Refuse options that contradict each other or name no rung (``UsageError``)."""
        if self.quality is not None and self.bits is not None:
            raise UsageError("give a quality level (--quality) or a rate (--bits), not both")
        if (self.quality is not None or self.bits is not None) and self.model is not None:
            raise UsageError("--model picks a model; --quality and --bits pick a quality level: give one")
        if self.level is not None and self.model is None:
            raise UsageError("--level picks a level of the model given with --model")
        if self.quality is not None:
            catalogue.by_rung(self.quality)
        if self.bits is not None:
            catalogue.by_bits(self.bits)

    def rung(self) -> catalogue.Rung | None:
        """The rung ``--bits`` chose (so that a command can say which), if it was given."""
        return None if self.bits is None else catalogue.by_bits(self.bits)
