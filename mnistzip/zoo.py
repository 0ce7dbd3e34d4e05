"""Codecs by name: a rung of the quality ladder, a rate, a shipped model or a model folder, or the id in a file.

The catalogue (``catalogue``) says which model and level each name means;
here the model is loaded (``codec.Codec``), once for all of its levels.
"""

from __future__ import annotations


from . import catalogue
from .catalogue import Rung
from .choice import ModelChoice
from .codec import Codec
from .errors import ModelError, RetiredModel, UnknownModel, UsageError


def load(spec: str | None = None, verify: bool = True, rung: int | None = None, bits: float | None = None,
         level: int | None = None) -> Codec:
    """A codec: a rung of the ladder (by ``spec`` name, ``rung`` number or ``bits``; the default if none), or
    a model directory at one of its levels (``level``; its default if None). Files and tables are checked."""
    return chosen(ModelChoice(spec, rung, bits, level), verify)


def chosen(choice: ModelChoice, verify: bool = True) -> Codec:
    """The codec the command line's options name (``choice.ModelChoice``, checked here first)."""
    choice.check()
    if choice.quality is not None or choice.bits is not None:
        return rung_codecs([catalogue.by_rung(choice.quality) if choice.quality is not None
                            else catalogue.by_bits(choice.bits)], verify)[0]
    path, found = catalogue.resolve(choice.model)
    if found is None:
        return Codec.load(path, verify=verify, level=choice.level)
    if choice.level is not None:
        raise UsageError(f"{found.name} is one quality level of a shipped model; --level goes with --model FOLDER")
    return rung_codecs([found], verify)[0]


def rung_codecs(rungs: list[Rung], verify: bool = True) -> list[Codec]:
    """A codec for each rung, each model loaded once (its levels share it: a SavedModel takes seconds to load)."""
    loaded: dict[str, Codec] = {}
    for r in rungs:
        if r.card.name not in loaded:
            try:
                loaded[r.card.name] = Codec.open(r.card, verify=verify)
            except ModelError as e:
                raise ModelError(f"{r.name}: {e}; reinstall mnistzip") from None
    return [loaded[r.card.name].at_level(r.level.number, name=r.name) for r in rungs]


def for_file(model_id: str, spec: str | None = None) -> Codec:
    """The codec that decodes a file with id ``model_id``: ``spec``'s level with that id, else the installed one."""
    if spec is not None:
        codec = load(spec)
        return codec.with_id(model_id) or codec  # another level of the same model, or a mismatch decompress reports
    found = catalogue.find(model_id)
    if found is not None:
        card, level, rung = found
        return rung_codecs([rung])[0] if rung else Codec.open(card, level=level.number)
    gone = catalogue.retired(model_id)
    if gone is not None:
        raise RetiredModel(  # an id is 16 bits: a model of the user's own may have it too
            f"the file needs model {model_id}, which is not installed: {gone['model']} level {gone['level']} had that "
            f"id and was retired before 1.0 (mnistzip at commit {gone['last_decoded_by']} decodes its files); "
            "or pass --model with the model directory that made it"
        )
    raise UnknownModel(
        f"the file needs model {model_id}, which is not installed ('mnistzip models' lists the shipped ones); "
        "pass --model with the model directory that made it"
    )
