"""Compress a folder of digit images (PNG, JPEG, ...) into one .mz archive, then restore them.

    python examples/compress_folder.py FOLDER OUT.mz
"""

import sys
from pathlib import Path

from mnistzip import container, inputs, output, zoo

folder, target = sys.argv[1], sys.argv[2]
digits = inputs.collect_digits([folder])  # resized, centred and inverted as MNIST was made
codec = zoo.load()
size = container.write(target, codec.compress(digits.images))
print(f"{target}: {len(digits.names)} digits, {size} bytes")

restored = codec.decompress(container.read(target))
folder_out = Path(target).with_suffix("").name + "-restored"  # no suffix: a folder of PNGs
output.save_digits(restored, Path(target).parent / folder_out, names=digits.names)
print(f"restored into {Path(target).parent / folder_out}/")
