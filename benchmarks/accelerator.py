"""ONNX Runtime on the transforms against the NumPy runtime's own: issue 31's optional accelerator, measured.

Issue 31 allows an optional accelerator extra for the test split's 10,000
digits/s only where the default install cannot reach it, with the entropy
coding left on NumPy float64 and decoded pixels within one grey level. This
script measures what such an extra would give before any of it is built:

- the model's two transforms are written as ONNX graphs from its
  ``weights.npz`` (each layer as ``mnistzip.layers`` lists it: Conv,
  ConvTranspose with TensorFlow's "same" padding, Gemm, leaky ReLU), and run
  by ONNX Runtime on one thread a session, batches side by side on the cores
  as the command line runs them (``blas.map_batches``);
- ``Codec.coding_of`` (the analysis, the prior and the batch-invariance guard:
  what ``compress --fast`` does before range coding) and the synthesis (what
  ``decompress`` does after range decoding) are timed with NumPy's transforms
  and with ONNX Runtime's in turn, in the same process, ``--repeat`` rounds;
- the symbols both give are compared (they must be equal: the guard analyses a
  digit near a rounding edge again in float64 either way), and the pixels
  (the issue allows one grey level);
- importing ONNX Runtime and making its two sessions, which a command would
  pay on top of its start-up, are timed too.

The difference of the medians is what a whole command would save; set it
beside ``benchmarks/cli_speed.py``'s whole-command seconds.

Needs what the project does not install: ``pip install onnxruntime onnx``.
This machine's environment forces ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which slow a current NumPy: they are unset here, as on a
user's machine, and the BLAS kernel that ran is printed.

Run:  python benchmarks/accelerator.py [--rung N] [--limit 10000] [--repeat 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import machine  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
machine.unset_forced()
from mnistzip.blas import one_thread  # noqa: E402

one_thread()  # before NumPy loads, as the command line does
import numpy as np  # noqa: E402

from mnistzip import layers  # noqa: E402
from mnistzip.container import SIDE  # noqa: E402
from mnistzip.errors import MnistzipError, ending  # noqa: E402

OPSET = 17
NEEDS = "pip install onnxruntime onnx"


def graph(onnx, layer_list, weights, prefix: str, inputs: tuple, outputs: tuple):
    """One transform as an ONNX model: NCHW feature maps, Keras's NHWC order kept where a map meets a dense layer
    (``layers.RESHAPE`` after one, a flatten before one)."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    nodes, constants = [], []
    x = "x"
    as_map = len(inputs) > 1  # the analysis takes digits (channels, side, side), the synthesis latents
    size = inputs[-1] if as_map else None  # the feature map's side

    def constant(name, array):
        constants.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op, args, **attributes):
        out = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, args, [out], **attributes))
        return out

    for i, layer in enumerate(layer_list):
        kernel = np.asarray(weights[f"{prefix}.{layer.name}.kernel"], np.float32)
        bias = constant(f"b{i}", np.asarray(weights[f"{prefix}.{layer.name}.bias"], np.float32))
        if layer.kind == "dense":
            if as_map:  # NCHW back to Keras's NHWC before flattening
                x = node("Flatten", [node("Transpose", [x], perm=[0, 2, 3, 1])])
                as_map = False
            x = node("Gemm", [x, constant(f"w{i}", kernel), bias])
        else:
            if not as_map:
                target = constant(f"shape{i}", np.array((-1, *layers.RESHAPE), np.int64))
                x = node("Transpose", [node("Reshape", [x, target])], perm=[0, 3, 1, 2])
                as_map, size = True, layers.RESHAPE[0]
            k, stride = layer.kernel, layer.stride
            if layer.kind == "conv":  # Keras (k, k, in, out) -> (out, in, k, k)
                size, top, bottom = layers._same_padding(size, k, stride)
                op = "Conv"
            else:  # Keras (k, k, out, in) -> (in, out, k, k); the full output cropped as TensorFlow's "same" does
                _, top, bottom = layers._same_padding(k * stride, k, stride)
                size, op = size * stride, "ConvTranspose"
            x = node(op, [x, constant(f"w{i}", kernel.transpose(3, 2, 0, 1)), bias], kernel_shape=[k, k],
                     strides=[stride, stride], pads=[top, top, bottom, bottom])
        if layer.activation:
            x = node("LeakyRelu", [x], alpha=layers.LEAKY_SLOPE)
    nodes[-1].output[0] = "y"
    model = helper.make_graph(nodes, prefix, [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                            ["N", *inputs])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", *outputs])], constants)
    return helper.make_model(model, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def sessions(ort, onnx, runtime):
    """(analysis, synthesis) ONNX Runtime sessions of a runtime's transforms, one thread each."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no thread left spinning on NumPy's cores
    weights, recipe = runtime._weights, runtime.recipe
    models = (graph(onnx, layers.analysis_layers(recipe), weights, "analysis", (1, SIDE, SIDE), (runtime.latent_dims,)),
              graph(onnx, layers.synthesis_layers(recipe), weights, "synthesis",
                    weights["synthesis.fc_1.kernel"].shape[:1], (1, SIDE, SIDE)))
    return [ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"]) for m in models]


class OnnxTransform(layers.Dense):
    """A whole transform on an ONNX Runtime session, in the place of its layers in ``layers.run``: the runtime's
    own batches, threads, scaling and rounding stay as they are. A ``Dense`` so that ``run`` hands it the
    latents as they come (it reshapes them into the seed's 7 x 7 map for any other first layer)."""

    def __init__(self, session, shape: tuple):
        self.session, self.shape = session, shape  # the graph's input, per digit

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(["y"], {"x": x.reshape(len(x), *self.shape)})[0]


def measure(rung: int | None, limit: int, repeat: int) -> dict:
    """Every figure the script prints, for one rung on the first ``limit`` test digits."""
    started = time.perf_counter()
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        sys.exit(f"accelerator.py needs {e.name}, which mnistzip does not install: {NEEDS}")
    imported = time.perf_counter() - started
    from mnistzip import mnist, zoo

    codec = zoo.load(rung=rung)
    runtime = codec.engine
    images = mnist.images("test")[:limit]
    started = time.perf_counter()
    analysis, synthesis = sessions(ort, onnx, runtime)
    made = time.perf_counter() - started
    # NumPy's transforms, built before the timing as ONNX Runtime's sessions are; the digits' (N, 28, 28, 1) maps
    # are the graph's (N, 1, 28, 28), one channel.
    ways = {"numpy": (runtime._analysis, runtime._synthesis),
            "onnxruntime": ([(OnnxTransform(analysis, (1, SIDE, SIDE)), False)],
                            [(OnnxTransform(synthesis, (-1,)), False)])}
    latents = codec.quantize(codec.latents(images))
    times = {(way, stage): [] for way in ways for stage in ("coding_of", "synthesis")}
    results = {}
    for _ in range(repeat):
        for way, (analysis_ops, synthesis_ops) in ways.items():
            runtime._analysis, runtime._synthesis = analysis_ops, synthesis_ops  # what analyse and synthesize run
            for stage, work in (("coding_of", lambda: codec.coding_of(images)),
                                ("synthesis", lambda: codec.synthesize(latents))):
                started = time.perf_counter()
                results[way, stage] = work()
                times[way, stage].append(time.perf_counter() - started)
    symbols = [results[way, "coding_of"][3] for way in ways]
    pixels = [results[way, "synthesis"].astype(np.int16) for way in ways]
    medians = {f"{way}_{stage}_s": round(statistics.median(t), 4) for (way, stage), t in times.items()}
    return dict(model=codec.name, digits=limit, repeat=repeat, onnxruntime=ort.__version__, import_s=round(imported, 4),
                sessions_s=round(made, 4), **medians, symbols_equal=bool(np.array_equal(*symbols)),
                pixels_differing=int((pixels[0] != pixels[1]).sum()),
                max_grey_levels=int(np.abs(pixels[0] - pixels[1]).max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rung", type=int, help="a rung of the quality ladder (default: the shipped default)")
    parser.add_argument("--limit", type=machine.count, default=10_000, help="the first N digits of the test split")
    parser.add_argument("--repeat", type=machine.count, default=7, help="rounds, each way in turn (median)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    print(machine.describe(), flush=True)
    try:
        r = measure(args.rung, args.limit, args.repeat)
    except MnistzipError as e:  # a --rung off the ladder: one line and its status, as the command line ends
        status, line = ending(e)
        print(f"accelerator.py: {line}", file=sys.stderr)
        sys.exit(status)
    print(f"{r['model']}, {r['digits']:,} test digits, median of {r['repeat']} rounds each way, alternating; "
          f"ONNX Runtime {r['onnxruntime']}")
    print(f"  importing onnxruntime and onnx {r['import_s']:.3f} s; two sessions {r['sessions_s']:.3f} s")
    for stage, what in (("coding_of", "coding_of (compress --fast before range coding)"),
                        ("synthesis", "synthesis (decompress after range decoding)")):
        a, b = r[f"numpy_{stage}_s"], r[f"onnxruntime_{stage}_s"]
        print(f"  {what}: NumPy {a:.3f} s, ONNX Runtime {b:.3f} s (x{a / b:.2f}, {a - b:+.3f} s saved)")
    print(f"  symbols equal: {r['symbols_equal']}; pixels differing: {r['pixels_differing']:,} "
          f"(at most {r['max_grey_levels']} grey level(s))")
    if args.json:
        args.json.write_text(json.dumps(dict(machine=machine.describe(), **r), indent=2) + "\n")

if __name__ == "__main__":
    main()
