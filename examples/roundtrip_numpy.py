"""Round trip of a NumPy array through the Python API (no command line).

    python examples/roundtrip_numpy.py
"""

import numpy as np

from mnistzip import container, metrics, zoo

codec = zoo.load()  # the default shipped model, hash-checked
digits = codec.sample(8, seed=0)  # any uint8 array of shape (N, 28, 28) will do

mz = codec.compress(digits)  # one range-coded stream for all 8 digits
blob = container.dumps(mz)  # the bytes of an .mz file
restored = codec.decompress(container.loads(blob))

print(f"{len(digits)} digits -> {len(blob)} bytes ({8 * len(blob) / len(digits):.1f} bits/digit)")
print(f"PSNR {metrics.psnr_of_mean_mse(digits, restored):.1f} dB; shape {restored.shape}, dtype {restored.dtype}")
assert restored.shape == digits.shape and restored.dtype == np.uint8
