"""Write tests/data/golden/ladder-symbols.npz: what TensorFlow's decoder reads from each golden file.

For each ``ladder-qN.mz``, the SavedModel (``MNISTZIP_ENGINE=tf``) decodes the
latents, and its ``conditionals`` gives each element's table row and symbol:
``ladder-qN.rows`` and ``ladder-qN.symbols`` (int32, (3, L)). The runtime's
tests check that it reads the same from the same bytes without TensorFlow.

    python tests/data/make_golden_symbols.py      (from the checkout; needs mnistzip[train])
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())  # the checkout's mnistzip, not an installed one
GOLDEN = Path(__file__).parent / "golden"


def main():
    from mnistzip import container, zoo
    from mnistzip.codec import Codec

    out = {}
    for path in sorted(GOLDEN.glob("ladder-q*.mz"), key=lambda p: int(p.stem.split("q")[1])):
        mz = container.read(path)
        native = zoo.for_file(mz.model_id)
        codec = Codec.open(native.card, level=native.level.number, engine="tf")
        latents = codec.decode_latents(mz.payload, mz.count)
        _, rows, symbols = codec.coding(latents)
        out[f"{path.stem}.rows"], out[f"{path.stem}.symbols"] = rows.astype(np.int32), symbols.astype(np.int32)
        print(path.name, codec.name, symbols.shape)
    np.savez(GOLDEN / "ladder-symbols.npz", **out)


if __name__ == "__main__":
    main()
