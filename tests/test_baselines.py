"""Classical codecs through Pillow: the points eval compares against."""

import numpy as np
import pytest

from mnistzip import baselines, mnist
from mnistzip.errors import UsageError


@pytest.fixture(scope="module")
def digits(mnist_dir):
    return mnist.images("test", mnist_dir)[:20]


@pytest.mark.parametrize("name", ["png", "webp-lossless"])
def test_lossless_codecs_give_the_digits_back(name, digits):
    codec = baselines.CODECS[name]
    for d in digits[:5]:
        np.testing.assert_array_equal(codec.decode(codec.encode(d)), d)
    row = baselines.measure(codec, digits, None)
    assert row["lossless"] and row["mae"] == 0 and row["psnr_mean"] is None


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif"])
def test_lossy_quality_ladder_trades_bits_for_psnr(name, digits):
    codec = baselines.CODECS[name]
    low = baselines.measure(codec, digits, codec.qualities[0])
    high = baselines.measure(codec, digits, codec.qualities[-1])
    assert high["bits_single_file"] > low["bits_single_file"] > 100
    assert high["psnr_of_mean_mse"] > low["psnr_of_mean_mse"] > 10
    assert low["model"] == f"{name} q{codec.qualities[0]}" and low["family"] == name


def test_progress_callback_counts_every_digit(digits):
    seen = []
    baselines.measure(baselines.CODECS["png"], digits, None, seen.append)
    assert sum(seen) == len(digits)


def test_parse_codecs():
    assert [c.name for c in baselines.parse_codecs("jpeg, png")] == ["jpeg", "png"]
    assert baselines.parse_codecs("") == []
    with pytest.raises(UsageError, match="^--codecs must name some of png, webp-lossless, jpeg, webp, avif, not 'bmp'$"):
        baselines.parse_codecs("png,bmp")
