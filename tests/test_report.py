"""report: the pictures eval draws."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mnistzip import mnist, report, search, zoo
from mnistzip.container import SIDE


def test_the_grid_shows_the_originals_above_what_compress_and_decompress_give(tmp_path):
    codec, images = zoo.load(rung=3), mnist.images("test", rows=slice(0, 3))
    report.plot_grid([codec], images, tmp_path / "grid.png", first=0)
    picture = np.asarray(Image.open(tmp_path / "grid.png"))
    cell, scale = SIDE * report.GRID_SCALE, report.GRID_SCALE
    row_height = cell + 16 + 6  # a cell and its label

    def shown(row: int, k: int) -> np.ndarray:
        top, left = 4 + row * row_height, report.LABEL_WIDTH + k * (cell + 4)
        return picture[top : top + cell : scale, left : left + cell : scale]

    payload, _ = search.encode(codec, images)  # what `mnistzip compress` writes by default
    decoded = codec.decode(payload, len(images))
    assert not np.array_equal(decoded, codec.decode(codec.encode(images)[0], len(images)))  # searched, not rounded
    for k in range(len(images)):
        assert np.array_equal(shown(0, k), images[k])
        assert np.array_equal(shown(1, k), decoded[k])
