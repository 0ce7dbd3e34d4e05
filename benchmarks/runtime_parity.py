"""Parity of the NumPy runtime with the TensorFlow reference engine, rung by rung of the shipped ladder.

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/runtime_parity.py                 # all 18 rungs, 10,000 digits
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/runtime_parity.py --limit 500 --rung 3 --rung 12
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/runtime_parity.py --json parity.json

Each model is loaded once on each engine (``mnistzip.runtime.Runtime`` and
``mnistzip.tfengine.TFEngine``) and every chosen rung of it is measured on the
first ``--limit`` digits of the MNIST test split:

symbols_same
    Share of digits whose range-coder input (table row and symbol of every
    element) is the same on the runtime's own encoder path (runtime analyse →
    runtime conditionals) as on TensorFlow's. Target: at least 99.9% (a float32
    latent may round the other way after a different summation order).
bytes_same
    Whether the runtime's ``encode`` of TensorFlow's latents is byte for byte
    TensorFlow's ``compress_latents`` of them. Must hold: the coders are exact.
cross_decode
    TensorFlow's payload decoded by the runtime, and the runtime's by
    TensorFlow: whether each decodes (sanity check passed), and the largest
    pixel difference from the payload's own engine decoding it. Target: at
    most 1 grey level.
bins_same, min_bin_distance (conditional priors)
    Given the same quantised latents (TensorFlow's), the share of elements
    for which both engines' ``conditionals`` pick the same table (must be
    100%), and the smallest distance, in bins, from an element's continuous
    bin coordinate ``(log(scale) - log(SCALE_MIN)) / LOG_SCALE_STEP`` to its
    rounding boundary (k + 0.5), over the elements not clipped at either end,
    from the runtime's float64 scales on both coding paths (TensorFlow's
    latents and the runtime's own). The scales are recomputed here by
    mirroring the runtime's ``EntropyModel.conditionals``; the mirror is checked to pick the
    same tables and symbols as ``Runtime.conditionals``.
scale_rel, loc_rel (conditional priors)
    The largest relative difference between the engines' scales and
    locations for the same float32 quantised latents: TensorFlow's from its
    exported ``predict`` graph (the scale read from inside it), the runtime's
    by the same mirror as above; ``bin_coordinate_diff`` is the scale
    difference in bins, to set against ``min_bin_distance``: a table flips
    where the engines' difference reaches an element's distance.

Prints one row per rung and a summary of the worst rung for each figure;
``--json PATH`` also writes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import machine  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnistzip import catalogue, coding, mnist, runtime  # noqa: E402
from mnistzip.codec import Codec  # noqa: E402
from mnistzip.errors import BadMzFile  # noqa: E402

TARGETS = dict(symbols_same=0.999, pixels=1, bins_same=1.0)


# ------------------------------------------------------------------ the runtime's scales (a mirror, not a change)


def runtime_coding_scales(rt: runtime.Runtime, latents: np.ndarray, q: int):
    """``Runtime.conditionals`` keeping each element's scale: (table row, symbol, scale), each (N, L)."""
    z = np.asarray(latents, np.float32).astype(np.float64)
    scale = np.empty_like(z)
    symbols = np.empty(z.shape, np.int64)
    prediction = rt.entropy.prediction(len(z), q)
    for d in range(rt.latent_dims):
        loc, scale[:, d] = prediction.location_scale(d)
        symbols[:, d] = np.round(z[:, d] - loc)
        prediction.set(d, symbols[:, d] + loc)
    return coding.table_index(scale), symbols, scale


def runtime_predict_scales(rt: runtime.Runtime, y_hat: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """``Runtime.predict`` with scales instead of table rows: (loc, scale), each (N, L) float64."""
    y = np.asarray(y_hat, np.float32).astype(np.float64)
    loc, scale = np.empty_like(y), np.empty_like(y)
    prediction = rt.entropy.prediction(len(y), q)
    for d in range(rt.latent_dims):
        loc[:, d], scale[:, d] = prediction.location_scale(d)
        prediction.set(d, y[:, d])
    return loc, scale


def bin_coordinate(scale: np.ndarray) -> np.ndarray:
    """Where a scale falls among the tables, continuously: ``table_index`` is this rounded and clipped."""
    return (np.log(scale) - np.log(coding.SCALE_MIN)) / coding.LOG_SCALE_STEP


def min_bin_distance(scale: np.ndarray) -> float:
    """Smallest distance, in bins, to a rounding boundary k + 0.5, over the elements clipped at neither end."""
    x = bin_coordinate(scale)
    inside = (x > 0) & (x < coding.SCALE_BINS - 1 + 0.5)  # at 0: floored to SCALE_MIN; past the top: clipped
    if not inside.any():
        return float("nan")
    x = x[inside]
    return float(np.abs(x - np.floor(x) - 0.5).min())


# ------------------------------------------------------------------ TensorFlow's scales, read from its exported graph


def tf_predict_scales(engine):
    """A function (y_hat float32, q) → TensorFlow's float64 scales, pruned out of the SavedModel's ``predict``
    graph (the input of its table choice's log), or None if the graph cannot be pruned."""
    import tensorflow as tf

    try:
        from tensorflow.python.eager import wrap_function

        concrete = engine.module.predict.concrete_functions[0]
        graph = concrete.graph
        scale = next(op for op in graph.get_operations() if op.type == "Log").inputs[0]
        pruned = wrap_function.WrappedFunction(graph, variable_holder=None).prune(concrete.inputs[:2], [scale])
    except Exception as e:  # an internal API: report and go on without the figure
        print(f"  (TensorFlow's scales unavailable: {type(e).__name__}: {e})", flush=True)
        return None
    return lambda y_hat, q: pruned(tf.constant(np.asarray(y_hat, np.float32)), tf.constant(np.int32(q)))[0].numpy()


def max_relative(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-300)).max())


# ------------------------------------------------------------------ the figures of one rung


def same_digits(rows_a, symbols_a, rows_b, symbols_b) -> np.ndarray:
    """Per digit: whether every element has the same table row and symbol."""
    return ((rows_a == rows_b) & (symbols_a == symbols_b)).all(axis=1)


def cross_decode(maker: Codec, other: Codec, payload: bytes, count: int) -> dict:
    """``payload`` (made by ``maker``) decoded by ``other``, against ``maker``'s own decode of it."""
    own_latents = maker.decode_latents(payload, count)
    own = maker.synthesize(own_latents).astype(np.int16)
    try:
        latents = other.decode_latents(payload, count)
    except BadMzFile as e:
        return dict(ok=False, error=str(e), max_pixel=None, max_latent=None, digits_off=None)
    pixels = other.synthesize(latents).astype(np.int16)
    off = np.abs(pixels - own).reshape(count, -1).max(axis=1)
    return dict(ok=True, max_pixel=int(off.max()), max_latent=float(np.abs(latents - own_latents).max()),
                digits_off=int((off > 0).sum()))


def conditional_figures(rt: Codec, tf: Codec, z_rt: np.ndarray, z_tf: np.ndarray, rt_own: tuple) -> dict:
    """Table choice given the same latents, distance to a bin boundary, and scale/loc differences.

    ``rt_own``: the runtime's (rows, symbols) for its own latents ``z_rt``, to check the scale mirror against.
    """
    q = rt._q
    y_tf, _, _ = tf.coding(z_tf)  # TensorFlow's quantised latents, fed to both engines
    _, rows_tf, symbols_tf = tf.coding(y_tf)
    _, rows_rt, symbols_rt = rt.coding(y_tf)
    mirror_rows, mirror_symbols, scale_given = runtime_coding_scales(rt.engine, y_tf, q)
    own_rows, own_symbols, scale_own = runtime_coding_scales(rt.engine, z_rt, q)
    rt_own_rows, rt_own_symbols = rt_own
    mirror_exact = bool((mirror_rows == rows_rt).all() and (mirror_symbols == symbols_rt).all()
                        and (own_rows == rt_own_rows).all() and (own_symbols == rt_own_symbols).all())
    figures = dict(
        bins_same=float((rows_rt == rows_tf).mean()),
        bins_differing=int((rows_rt != rows_tf).sum()),
        symbols_same_given=float((symbols_rt == symbols_tf).mean()),
        min_bin_distance=min(min_bin_distance(scale_given), min_bin_distance(scale_own)),
        min_bin_distance_tf_latents=min_bin_distance(scale_given),
        min_bin_distance_own_latents=min_bin_distance(scale_own),
        mirror_exact=mirror_exact,
    )
    loc_tf, index_tf = tf.engine.predict(y_tf, q)
    loc_rt, scale_rt = runtime_predict_scales(rt.engine, y_tf, q)
    figures["predict_bins_same"] = float((coding.table_index(scale_rt) == index_tf).mean())
    figures["loc_rel"] = max_relative(loc_rt, loc_tf)
    figures["loc_abs"] = float(np.abs(loc_rt - loc_tf).max())
    scales_of = getattr(tf.engine, "_parity_scales", None)
    scale_tf = None if scales_of is None else scales_of(y_tf, q)
    figures["scale_rel"] = None if scale_tf is None else max_relative(scale_rt, scale_tf)
    figures["bin_coordinate_diff"] = (None if scale_tf is None else
                                      float(np.abs(bin_coordinate(scale_rt) - bin_coordinate(scale_tf)).max()))
    return figures


def measure(rung, rt: Codec, tf: Codec, digits: np.ndarray) -> dict:
    """Every figure of one rung (``rt`` and ``tf``: the same level on each engine)."""
    n = len(digits)
    z_rt, z_tf = rt.latents(digits), tf.latents(digits)
    _, rows_rt, symbols_rt = rt.coding(z_rt)
    _, rows_tf, symbols_tf = tf.coding(z_tf)
    same = same_digits(rows_rt, symbols_rt, rows_tf, symbols_tf)
    payload_tf = tf.encode_latents(z_tf)
    payload_rt = rt.encode_latents(z_rt)
    row = dict(
        rung=rung.number, name=rung.name, model=rung.card.name, level=rung.level.number, id=rung.id,
        conditional=rt.conditional, latent_dims=rt.latent_dims, digits=n,
        symbols_same=float(same.mean()), digits_differing=int((~same).sum()),
        latents_max_abs_diff=float(np.abs(z_rt - z_tf).max()),
        bytes_same=rt.encode_latents(z_tf) == payload_tf,
        payload_bytes_tf=len(payload_tf), payload_bytes_rt=len(payload_rt),
        tf_payload_on_runtime=cross_decode(tf, rt, payload_tf, n),
        rt_payload_on_tf=cross_decode(rt, tf, payload_rt, n),
    )
    crosses = (row["tf_payload_on_runtime"], row["rt_payload_on_tf"])
    row["cross_ok"] = all(c["ok"] for c in crosses)
    row["max_pixel"] = max((c["max_pixel"] for c in crosses if c["ok"]), default=None)
    if rt.conditional:
        row.update(conditional_figures(rt, tf, z_rt, z_tf, (rows_rt, symbols_rt)))
    return row


# ------------------------------------------------------------------ running and reporting


def engines(card) -> tuple[Codec, Codec]:
    """One model loaded on the runtime and on TensorFlow (once: its rungs take levels of these)."""
    rt = Codec.open(card, engine="numpy")
    tf = Codec.open(card, engine="tf")
    if rt.conditional:
        tf.engine._parity_scales = tf_predict_scales(tf.engine)  # noqa: SLF001 (kept on the engine, not the library)
    return rt, tf


def run(rungs, digits: np.ndarray) -> list[dict]:
    """Measure ``rungs``, each model loaded once on each engine, printing a row as each rung finishes."""
    rows = []
    print(header(), flush=True)
    for card_name in dict.fromkeys(r.card.name for r in rungs):
        mine = [r for r in rungs if r.card.name == card_name]
        rt, tf = engines(mine[0].card)
        for rung in mine:
            row = measure(rung, rt.at_level(rung.level.number), tf.at_level(rung.level.number), digits)
            rows.append(row)
            print(line(row), flush=True)
        del rt, tf
    return rows


COLUMNS = ("rung", "model", "lvl", "L", "symbols_same", "diff", "bytes_same", "cross_ok", "max_px",
           "bins_same", "min_bin_dist", "bin_diff", "scale_rel", "loc_rel")
WIDTHS = (4, 20, 3, 2, 12, 4, 10, 8, 6, 9, 12, 8, 9, 9)


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}e}" if value and abs(value) < 1e-3 else f"{value:.{digits + 2}f}"
    return str(value)


def cells(row: dict) -> list[str]:
    cond = row["conditional"]
    return [str(row["rung"]), row["model"], str(row["level"]), str(row["latent_dims"]),
            f"{100 * row['symbols_same']:.2f}%", str(row["digits_differing"]), fmt(row["bytes_same"]),
            fmt(row["cross_ok"]), fmt(row["max_pixel"]),
            f"{100 * row['bins_same']:.3f}%" if cond else "-",
            fmt(row["min_bin_distance"], 2) if cond else "-",
            fmt(row["bin_coordinate_diff"], 1) if cond else "-",
            fmt(row["scale_rel"], 1) if cond else "-", fmt(row["loc_rel"], 1) if cond else "-"]


def header() -> str:
    return " ".join(c.rjust(w) for c, w in zip(COLUMNS, WIDTHS))


def line(row: dict) -> str:
    return " ".join(c.rjust(w) for c, w in zip(cells(row), WIDTHS))


def summary(rows: list[dict]) -> dict:
    """The worst rung for each figure."""
    def worst(key, pick, among=rows):
        among = [r for r in among if r.get(key) is not None]
        if not among:
            return None
        r = pick(among, key=lambda r: r[key])
        return dict(value=r[key], rung=r["rung"], name=r["name"])

    cond = [r for r in rows if r["conditional"]]
    return dict(
        symbols_same=worst("symbols_same", min),
        bytes_same=dict(value=all(r["bytes_same"] for r in rows),
                        rungs_differing=[r["rung"] for r in rows if not r["bytes_same"]]),
        cross_ok=dict(value=all(r["cross_ok"] for r in rows),
                      rungs_failing=[r["rung"] for r in rows if not r["cross_ok"]]),
        max_pixel=worst("max_pixel", max),
        bins_same=worst("bins_same", min, cond),
        min_bin_distance=worst("min_bin_distance", min, cond),
        bin_coordinate_diff=worst("bin_coordinate_diff", max, cond),
        scale_rel=worst("scale_rel", max, cond),
        loc_rel=worst("loc_rel", max, cond),
        loc_abs=worst("loc_abs", max, cond),
        mirror_exact=all(r["mirror_exact"] for r in cond),
    )


def print_summary(s: dict, digits: int) -> None:
    def at(entry, text):
        return "n/a" if entry is None else f"{text(entry['value'])} ({entry['name']})"

    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    print(f"\nsummary over {digits} digits (worst rung for each figure):")
    v = s["symbols_same"]
    print(f"  symbols_same      {at(v, lambda x: f'{100 * x:.3f}%')}  target >= {100 * TARGETS['symbols_same']:.1f}%: "
          f"{ok(v is None or v['value'] >= TARGETS['symbols_same'])}")
    print(f"  bytes_same        {s['bytes_same']['value']}  {s['bytes_same']['rungs_differing'] or ''}")
    print(f"  cross_decode ok   {s['cross_ok']['value']}  {s['cross_ok']['rungs_failing'] or ''}")
    v = s["max_pixel"]
    print(f"  max pixel diff    {at(v, str)}  target <= {TARGETS['pixels']}: "
          f"{ok(v is None or v['value'] <= TARGETS['pixels'])}")
    v = s["bins_same"]
    print(f"  bins_same         {at(v, lambda x: f'{100 * x:.4f}%')}  target 100%: "
          f"{ok(v is None or v['value'] >= TARGETS['bins_same'])}")
    print(f"  min_bin_distance  {at(s['min_bin_distance'], lambda x: f'{x:.3e} bins')}")
    print(f"  bin coord diff    {at(s['bin_coordinate_diff'], lambda x: f'{x:.2e} bins')}  (engines' scales, in bins)")
    print(f"  scale rel diff    {at(s['scale_rel'], lambda x: f'{x:.2e}')}")
    print(f"  loc rel diff      {at(s['loc_rel'], lambda x: f'{x:.2e}')}  "
          f"(absolute: {at(s['loc_abs'], lambda x: f'{x:.2e}')})")
    print(f"  scale mirror = Runtime.conditionals: {s['mirror_exact']}")


def chosen_rungs(numbers: list[int] | None) -> list:
    ladder = catalogue.ladder()
    if not numbers:
        return ladder
    return [catalogue.by_rung(n) for n in dict.fromkeys(numbers)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=machine.count, default=None, help="the first N digits of the test split (default: all)")
    parser.add_argument("--rung", type=int, action="append", help="a rung to measure (repeatable; default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args(argv)

    digits = mnist.images("test")[: args.limit]
    rows = run(chosen_rungs(args.rung), digits)
    result = dict(digits=len(digits), targets=TARGETS, rows=rows, summary=summary(rows))
    print_summary(result["summary"], len(digits))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
