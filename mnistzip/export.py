"""Export: a trained codec as the SavedModel that codes files, with its model card.

The SavedModel holds both transforms, each level's gains and the range-coding
tables built once from the trained prior, so every machine decodes the same
bits. ``export`` writes it with ``model.json`` (see ``card``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from . import conditional, tables
from .entropy import NET_WEIGHTS
from .layers import transform_keys
from .runtime import WEIGHTS_FILE
from .card import CARD_FILE, HISTORY_FILE, UNDIGESTED, level_ids
from .container import CLASSES, SIDE
from .fileio import file_digest, tree_digest
from .trainer import CompressionTrainer
from .transforms import to_uint8, to_unit


class _Ref:
    """Holds an object without making it part of a SavedModel (tf.Module tracks only trackables)."""

    def __init__(self, value):
        self.value = value


class HalfStoredTransform(tf.Module):
    """A trained Keras transform whose weights are saved in float16 and computed with in float32.

    Halves a model's files. The float32 weights used at every call are the
    float16 ones widened, identical on every machine, so encoder and decoder
    still agree; only the rounding of the weights changes the digits (measured
    in the model card's test figures, which are taken on the exported model).
    """

    WEIGHTS = ("kernel", "bias")

    def __init__(self, transform: tf.keras.Sequential, name: str):
        super().__init__(name=name)
        self._transform = _Ref(transform)
        slots = [(layer, attr) for layer in transform.layers for attr in self.WEIGHTS if hasattr(layer, attr)]
        self._slots = _Ref(slots)  # the layers (and their float32 weights) are not saved
        self.half_weights = [
            tf.Variable(tf.cast(getattr(layer, attr), tf.float16), trainable=False, name=f"{layer.name}_{attr}")
            for layer, attr in slots
        ]

    @property
    def weights(self) -> list:
        return self.half_weights

    def __call__(self, x):
        """Run the Keras layers with the widened float16 weights in place of their own (while tracing)."""
        slots = self._slots.value
        own = [getattr(layer, attr) for layer, attr in slots]
        try:
            for (layer, attr), half in zip(slots, self.half_weights):
                setattr(layer, attr, tf.cast(half, tf.float32))
            return self._transform.value(x)
        finally:
            for (layer, attr), weight in zip(slots, own):
                setattr(layer, attr, weight)


class ExportedCodec(tf.Module):
    """What a SavedModel holds: both transforms, the per-level gains and range-coding tables built once.

    Every entry point takes the level (0-based here; 1-based for users).
    Latents are exchanged in the coded domain: the encoder's output times the
    level's gain, the values the range coder sees. One range-coded string
    carries all digits of a batch (``coding_rank=2``): an archive costs its
    entropy plus a few bits, not a few bits per digit.
    """

    def __init__(self, trainer: CompressionTrainer, half: bool = False):
        super().__init__(name="mnistzip_codec")
        levels, latent = trainer.levels, trainer.latent_dims
        self._shape = (levels, latent)
        if half:  # transforms saved in float16: half the size
            self.analysis_transform = HalfStoredTransform(trainer.analysis_transform, "analysis_transform")
            self.synthesis_transform = HalfStoredTransform(trainer.synthesis_transform, "synthesis_transform")
        else:
            self.analysis_transform = trainer.analysis_transform
            self.synthesis_transform = trainer.synthesis_transform
        self.latent_dims = tf.Variable(latent, trainable=False, dtype=tf.int32, name="latent_dims")
        self.gains = tf.Variable(trainer.gains, trainable=False, name="gains")
        self._init_entropy_model(trainer)
        self._define_functions(latent)

    def _init_entropy_model(self, trainer: CompressionTrainer) -> None:
        """Tables for every (level, dimension); each level codes with its own slice of them."""
        self.entropy_model = tfc.ContinuousBatchedEntropyModel(trainer.prior, coding_rank=2, compression=True)
        self.prior = trainer.prior  # for entropy figures (no tables needed)
        cdf = self.entropy_model.cdf.numpy()
        rows = np.append(tables.row_starts(cdf), len(cdf))
        self.cdf_bounds = tf.constant(rows[:: trainer.latent_dims].astype(np.int32), name="cdf_bounds")  # per level

    def table_arrays(self) -> list:
        """What codes the latents besides the transforms: the range-coding tables (hashed into the ids)."""
        return [self.entropy_model.cdf, self.entropy_model.cdf_offset]

    def _view(self, q, coding_rank: int = 2, decode_sanity_check: bool = True):
        """Level ``q``'s slice of the range-coding tables as an entropy model (no new tables are built)."""
        em = self.entropy_model
        offset = em.quantization_offset
        return tfc.ContinuousBatchedEntropyModel(
            prior_shape=self._shape[1:],
            coding_rank=coding_rank,
            compression=True,
            stateless=True,
            cdf=em.cdf[self.cdf_bounds[q] : self.cdf_bounds[q + 1]],
            cdf_offset=tf.reshape(em.cdf_offset, self._shape)[q],
            quantization_offset=None if offset is None else tf.broadcast_to(offset, self._shape)[q],
            offset_heuristic=False,
            decode_sanity_check=decode_sanity_check,
        )

    CLASS_COLUMNS = 0  # columns in front of the latents the entry points exchange (1: the class, ClassExportedCodec)

    def _define_functions(self, latent: int):
        """Wrap the entry points as tf.functions with fixed signatures (for the SavedModel). A codec that codes
        the class has no entry from digits to strings: the class is the encoder's to choose."""
        digits = tf.TensorSpec([None, SIDE, SIDE], tf.uint8)
        latents = tf.TensorSpec([None, self.CLASS_COLUMNS + latent], tf.float32)
        level = tf.TensorSpec([], tf.int32)
        string_n = [tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)]
        self.analyse = tf.function(self._analyse, input_signature=[digits, level])
        if not self.CLASS_COLUMNS:
            self.compress = tf.function(self._compress, input_signature=[digits, level])
            self.compress_each = tf.function(self._compress_each, input_signature=[digits, level])
        self.compress_latents = tf.function(self._compress_latents, input_signature=[latents, level])
        self.quantize = tf.function(self._quantize, input_signature=[latents, level])
        self.decompress = tf.function(self._decompress, input_signature=[*string_n, level])
        self.decompress_latents = tf.function(self._decompress_latents, input_signature=[*string_n, level])
        self.synthesize = tf.function(self._synthesize, input_signature=[latents, level])
        self.sample = tf.function(self._sample, input_signature=[*string_n, level])
        self.tables = tf.function(self._tables, input_signature=[level])

    def _analyse(self, x, q):
        """uint8 digits → unquantised latents in level ``q``'s coded domain."""
        return self.analysis_transform(to_unit(x)) * self.gains[q]

    def _quantize(self, y, q):
        """Latents rounded the way level ``q``'s range coder rounds them."""
        return self._view(q).quantize(y)

    def _compress(self, x, q):
        """uint8 digits → (one range-coded string for all, entropy bits per digit)."""
        y = self._analyse(x, q)
        view = self._view(q)
        every = tf.repeat(view.quantize(y)[:, None, :], self._shape[0], axis=1)  # under every level's prior
        bits = tf.reduce_sum(self.prior.log_prob(every)[:, q], axis=-1) / -tf.math.log(2.0)
        return view.compress(y), bits

    def _compress_latents(self, y, q):
        """Latents (quantised here) → one range-coded string."""
        return self._view(q).compress(y)

    def _compress_each(self, x, q):
        """uint8 digits → one range-coded string per digit (what a one-digit file holds)."""
        return self._view(q, coding_rank=1).compress(self._analyse(x, q))

    def _decompress_latents(self, string, n, q):
        """One string → the n quantised latent vectors it holds."""
        return self._view(q).decompress(string, tf.reshape(n, [1]))

    def _decompress(self, string, n, q):
        """One string → n uint8 digits."""
        return self._synthesize(self._decompress_latents(string, n, q), q)

    def _synthesize(self, y_hat, q):
        """Quantised latents → uint8 digits."""
        return to_uint8(self.synthesis_transform(y_hat / self.gains[q]))

    def _sample(self, string, n, q):
        """Any bytes → n digits: the decoder as a generative model (no sanity check)."""
        latents = self._view(q, decode_sanity_check=False).decompress(string, tf.reshape(n, [1]))
        return self._synthesize(latents, q)

    def _tables(self, q):
        """Level ``q``'s range-coding tables, for hashing and for exact symbol costs."""
        view = self._view(q)
        return view.cdf, view.cdf_offset


class ConditionalExportedCodec(ExportedCodec):
    """An exported codec whose entropy model is conditional across dimensions (see ``conditional``).

    Same entry points and signatures as :class:`ExportedCodec`, plus
    ``conditionals`` (the quantised latents, table index and symbol of every
    element, from which the codec reads exact symbol costs) and ``predict``
    (each element's location and table given the ones before, for sampling).
    """

    def _init_entropy_model(self, trainer: CompressionTrainer) -> None:
        """The network predicting each dimension's distribution, and one set of tables shared by every level."""
        self.conditional_net = trainer.conditional_net
        self.entropy_model = conditional.table_model()

    def _define_functions(self, latent: int):
        super()._define_functions(latent)
        spec = [tf.TensorSpec([None, latent], tf.float32), tf.TensorSpec([], tf.int32)]
        self.conditionals = tf.function(self._conditionals, input_signature=spec)
        self.predict = tf.function(self._predict, input_signature=spec)

    def _parameters(self, y_hat, q):
        """(loc, scale) of each element's conditional logistic at level ``q``, computed in float64."""
        y_hat = tf.cast(y_hat, tf.float64)
        gains = tf.broadcast_to(tf.cast(self.gains[q], tf.float64), tf.shape(y_hat))
        return conditional.parameters(self.conditional_net, y_hat, gains, tf.fill([tf.shape(y_hat)[0]], q))

    def _centred(self, y, q):
        """Latents → (quantised latents float64, symbols, loc, scale), each dimension rounded around its prediction
        (``conditional.quantize``), one at a time."""
        return conditional.quantize(tf.cast(y, tf.float64), lambda v: self._parameters(v, q), self._shape[1])

    def _conditionals(self, y, q):
        """Latents → (quantised latents, table index, symbol) of every element: what the range coder sees."""
        y_hat, symbols, _, scale = self._centred(y, q)
        return tf.cast(y_hat, tf.float32), conditional.table_index(scale), symbols

    def _quantize(self, y, q):
        return tf.cast(self._centred(y, q)[0], tf.float32)

    def _encode(self, y, q, per_digit: bool):
        """Latents → (string(s), entropy bits per digit)."""
        y_hat, symbols, loc, scale = self._centred(y, q)
        strings = conditional.encode(self.entropy_model, symbols, conditional.table_index(scale), per_digit)
        return strings, tf.cast(conditional.bits(loc, scale, y_hat), tf.float32)

    def _compress(self, x, q):
        return self._encode(self._analyse(x, q), q, per_digit=False)

    def _compress_latents(self, y, q):
        return self._encode(y, q, per_digit=False)[0]

    def _compress_each(self, x, q):
        return self._encode(self._analyse(x, q), q, per_digit=True)[0]

    def _decompress_latents(self, string, n, q):
        return self._decode(string, n, q, sanity_check=True)

    def _decode(self, string, n, q, sanity_check: bool):
        """One string → n quantised latent vectors, decoded dimension by dimension."""
        y_hat = conditional.decode(
            self.entropy_model, string, n, self._shape[1], lambda y: self._parameters(y, q), sanity_check
        )
        return tf.cast(y_hat, tf.float32)

    def _sample(self, string, n, q):
        return self._synthesize(self._decode(string, n, q, sanity_check=False), q)

    def _predict(self, y_hat, q):
        """Quantised latents → (loc float64, table index) of every element given the ones before it."""
        loc, scale = self._parameters(y_hat, q)
        return loc, conditional.table_index(scale)

    def _tables(self, q):
        """The tables (shared by every level)."""
        return tf.identity(self.entropy_model.cdf), tf.identity(self.entropy_model.cdf_offset)


class ClassExportedCodec(ExportedCodec):
    """An exported codec that sends each digit's class first (see ``trainer.ClassCodingTrainer``).

    Latents are exchanged with the class in front: column 0 is the class (0
    to 9, as a float), columns 1.. the latents in the coded domain. The
    class is the encoder's to choose (``codec`` asks a classifier), so
    ``analyse`` gives the latents alone and there is no ``compress`` from
    digits. Level ``q``'s tables have row 0 for the class, then row
    ``1 + c * L + d`` for dimension ``d`` of a digit of class ``c``; a
    stream holds the class of every digit, then dimension 0 of every digit,
    and so on (docs/format.md, "Payload").
    """

    def _init_entropy_model(self, trainer) -> None:
        """Tables for every (level, class, dimension) from the trained prior, and the class's row in front."""
        levels, latent = self._shape
        em = tfc.ContinuousBatchedEntropyModel(trainer.prior, coding_rank=3, compression=True)
        cdf = em.cdf.numpy()
        starts = np.append(tables.row_starts(cdf), len(cdf))
        per_level = CLASSES * latent
        class_row = class_table(trainer.class_counts.numpy(), precision=-int(cdf[0]))
        level_cdfs = [np.concatenate([class_row, cdf[starts[q * per_level] : starts[(q + 1) * per_level]]])
                      for q in range(levels)]
        self.cdf = tf.Variable(np.concatenate(level_cdfs), trainable=False, name="cdf")
        self.cdf_bounds = tf.constant(np.cumsum([0] + [len(c) for c in level_cdfs]).astype(np.int32), name="cdf_bounds")
        offsets = np.reshape(em.cdf_offset.numpy(), (levels, per_level))
        self.cdf_offset = tf.Variable(np.concatenate([np.zeros((levels, 1), np.int32), offsets], axis=1),
                                      trainable=False, name="cdf_offset")
        self.quantization_offset = tf.Variable(
            np.broadcast_to(em.quantization_offset.numpy(), (levels, CLASSES, latent)).astype(np.float32),
            trainable=False, name="quantization_offset")

    def table_arrays(self) -> list:
        return [self.cdf, self.cdf_offset, self.quantization_offset]

    CLASS_COLUMNS = 1

    def _define_functions(self, latent: int):
        super()._define_functions(latent)
        coded = tf.TensorSpec([None, 1 + latent], tf.float32)
        self.conditionals = tf.function(self._conditionals, input_signature=[coded, tf.TensorSpec([], tf.int32)])

    @staticmethod
    def _classes(y):
        """Column 0 of coded latents as classes (rounded, and held to 0..9)."""
        return tf.clip_by_value(tf.cast(tf.round(y[:, 0]), tf.int32), 0, CLASSES - 1)

    def _conditionals(self, y, q):
        """Coded latents → (as coded, table row, symbol) of every element, the class first."""
        latent = self._shape[1]
        classes = self._classes(y)
        offset = tf.gather(self.quantization_offset[q], classes)  # (N, L)
        symbols = tf.round(y[:, 1:] - offset)
        coded = tf.concat([tf.cast(classes, tf.float32)[:, None], symbols + offset], axis=1)
        rows = tf.concat([tf.zeros_like(classes)[:, None], 1 + classes[:, None] * latent + tf.range(latent)], axis=1)
        return coded, rows, tf.concat([classes[:, None], tf.cast(symbols, tf.int32)], axis=1)

    def _quantize(self, y, q):
        return self._conditionals(y, q)[0]

    def _level_cdf(self, q):
        return self.cdf[self.cdf_bounds[q] : self.cdf_bounds[q + 1]]

    def _compress_latents(self, y, q):
        """Coded latents → one string: every digit's class, then dimension 0 of every digit, ..."""
        _, rows, symbols = self._conditionals(y, q)
        values = symbols - tf.gather(self.cdf_offset[q], rows)
        handle = tfc.create_range_encoder([], self._level_cdf(q))
        handle = tfc.entropy_encode_index(handle, tf.transpose(rows), tf.transpose(values))
        return tfc.entropy_encode_finalize(handle)

    def _decompress_latents(self, string, n, q):
        return self._decode(string, n, q, sanity_check=True)

    def _decode(self, string, n, q, sanity_check: bool):
        """One string → the (n, 1 + L) coded latents it holds. A class outside 0..9 (only a corrupt stream
        has one) fails the sanity check; unchecked (sampling), it is held to 0..9."""
        latent = self._shape[1]
        cdf_offset = self.cdf_offset[q]
        handle = tfc.create_range_decoder(string, self._level_cdf(q))
        handle, decoded = tfc.entropy_decode_index(handle, tf.zeros([n], tf.int32), tf.reshape(n, [1]), tf.int32)
        decoded += cdf_offset[0]
        classes = tf.clip_by_value(decoded, 0, CLASSES - 1)
        rows = tf.transpose(1 + classes[:, None] * latent + tf.range(latent))  # (L, n)
        handle, values = tfc.entropy_decode_index(handle, rows, tf.shape(rows), tf.int32)
        symbols = tf.transpose(values + tf.gather(cdf_offset, rows))
        y = tf.cast(symbols, tf.float32) + tf.gather(self.quantization_offset[q], classes)
        sane = tfc.entropy_decode_finalize(handle)
        if sanity_check:
            in_range = tf.reduce_all(tf.equal(decoded, classes))
            with tf.control_dependencies([tf.debugging.assert_equal(sane & in_range, True,
                                                                    message="Sanity check failed.")]):
                y = tf.identity(y)
        return tf.concat([tf.cast(classes, tf.float32)[:, None], y], axis=1)

    def _decompress(self, string, n, q):
        return self._synthesize(self._decompress_latents(string, n, q), q)

    def _synthesize(self, y_hat, q):
        """Coded latents (class first) → uint8 digits: the class's one-hot vector joins the latents."""
        onehot = tf.one_hot(self._classes(y_hat), CLASSES)
        return to_uint8(self.synthesis_transform(tf.concat([y_hat[:, 1:] / self.gains[q], onehot], axis=1)))

    def _sample(self, string, n, q):
        return self._synthesize(self._decode(string, n, q, sanity_check=False), q)

    def _tables(self, q):
        return self._level_cdf(q), self.cdf_offset[q]


def class_table(counts, precision: int) -> np.ndarray:
    """The class symbol's row of a range-coding table (TFC's format: ``-precision``, then the cumulative counts,
    the overflow symbol last) from how often each class occurs."""
    pmf = np.asarray(counts, np.float64) / np.sum(counts)
    cdf = tfc.pmf_to_quantized_cdf(tf.constant(np.append(pmf, 0.0), tf.float32), precision=precision).numpy()
    return np.concatenate([[-precision], cdf]).astype(np.int32)


def weights_digest(codec: ExportedCodec) -> str:
    """SHA-256 over the codec's weights, gains and range-coding tables (in a fixed order)."""
    h = hashlib.sha256()
    parts = [*codec.analysis_transform.weights, *codec.synthesis_transform.weights, codec.gains, *codec.table_arrays()]
    if hasattr(codec, "conditional_net"):
        parts += codec.conditional_net.weights
    for t in parts:
        a = np.ascontiguousarray(np.asarray(t))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def export(trainer: CompressionTrainer, directory, card: dict, half: bool = False, history: list | None = None) -> dict:
    """Write the codec as a SavedModel plus its card (``model.json``) into ``directory`` (new or empty).

    ``card`` holds what the caller knows (name, recipe, command, training
    time); ``export`` adds what the SavedModel fixes: each level's id and tables
    digest, the weights digest, the digest of every other file. ``half`` saves
    the transforms' weights in float16 (see HalfStoredTransform). ``history``
    (per-epoch figures) is written beside the card. Returns the card as written
    (levels without test figures: the caller measures them on the exported model).
    """
    kind = ConditionalExportedCodec if trainer.prior_name == "conditional" else ExportedCodec
    codec = (ClassExportedCodec if trainer.codes_class else kind)(trainer, half)
    digest = weights_digest(codec)
    levels = []
    for q, (lmbda, model_id) in enumerate(zip(trainer.lmbdas, level_ids(digest, trainer.levels))):
        cdf, cdf_offset = codec.tables(tf.constant(q))
        levels.append(dict(level=q + 1, lmbda=lmbda, id=model_id, tables_sha256=tables.digest(cdf, cdf_offset)))
    card = dict(card)
    card.update(
        tensorflow=tf.__version__,
        tensorflow_compression=getattr(tfc, "__version__", "2.14.1"),
        weights_dtype="float16" if half else "float32",
        weights_sha256=digest,
        default_level=1,
        levels=levels,
    )
    directory = Path(directory)
    tf.saved_model.save(codec, str(directory))
    card["portable_sha256"] = write_portable(codec, directory, card["recipe"], trainer.levels)
    if history is not None:
        (directory / HISTORY_FILE).write_text(json.dumps(history) + "\n")
    card["files_sha256"] = tree_digest(directory, exclude=UNDIGESTED)
    write_card(directory, card)
    return card


def portable_arrays(codec, recipe: dict, levels: int) -> dict:
    """Everything the NumPy runtime needs, by the names ``runtime`` reads (see its docstring).

    ``codec`` is an :class:`ExportedCodec` or the same codec loaded back from
    its SavedModel (whose half-stored transforms keep ``half_weights``).
    """
    def weights(transform):
        return list(getattr(transform, "half_weights", None) or transform.weights)

    keys = transform_keys(recipe)
    values = weights(codec.analysis_transform) + weights(codec.synthesis_transform)
    if len(values) != len(keys):
        raise ValueError(f"the transforms hold {len(values)} weights; the recipe's layers have {len(keys)}")
    arrays = {k: np.asarray(v) for k, v in zip(keys, values)}
    arrays["gains"] = np.asarray(codec.gains, np.float32)
    for q in range(levels):
        cdf, cdf_offset = codec.tables(tf.constant(q))
        arrays[f"level{q + 1}.cdf"], arrays[f"level{q + 1}.cdf_offset"] = cdf.numpy(), cdf_offset.numpy()
    if recipe.get("code_class"):
        arrays["offset"] = np.asarray(codec.quantization_offset, np.float32)  # (levels, classes, L)
    elif recipe["prior"] == "conditional":
        for name in NET_WEIGHTS:
            arrays[f"conditional.{name}"] = np.asarray(getattr(codec.conditional_net, name), np.float32)
    else:  # quantize(0) = the offset, exactly as the SavedModel rounds
        zeros = tf.zeros((1, arrays["gains"].shape[1]))
        arrays["offset"] = np.concatenate([codec.quantize(zeros, tf.constant(q)).numpy() for q in range(levels)])
    return arrays


def write_portable(codec, directory, recipe: dict, levels: int) -> str:
    """Write the runtime's ``weights.npz`` into ``directory``; returns its SHA-256 (the card's ``portable_sha256``)."""
    path = Path(directory) / WEIGHTS_FILE
    np.savez(path, **portable_arrays(codec, recipe, levels))
    return file_digest(path)


def write_card(directory, card: dict) -> None:
    """Write ``model.json`` (its order: the caller's keys first, then export's)."""
    (Path(directory) / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
