"""Damaged and hostile .mz files, for tests and the robustness benchmark.

The mutations are the ones broken disks and hostile senders make: bit flips,
byte changes, truncations, insertions, deletions, spliced headers, huge digit
counts behind a valid checksum, and payload changes behind a recomputed
checksum (so that the range decoder itself meets garbage).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from . import container
from .errors import MnistzipError

MUTATIONS = ("flip", "byte", "truncate", "insert", "delete", "splice", "count", "recrc", "multi")


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its valid checksum."""
    return bytes(body) + container.crc(bytes(body)).to_bytes(container.CRC_BYTES, "big")


def mutate(blob: bytes, rng: random.Random, others: list[bytes], kind: str | None = None) -> bytes:
    """One random mutation of ``blob`` (``others`` supply spliced bodies)."""
    b = bytearray(blob)
    kind = kind or rng.choice(MUTATIONS)
    if kind == "flip":
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif kind == "byte":  # another value: the same one would leave the file whole
        i = rng.randrange(len(b))
        b[i] = (b[i] + rng.randrange(1, 256)) % 256
    elif kind == "truncate":
        del b[rng.randrange(len(b)) :]
    elif kind == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "delete":
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 8)]
    elif kind == "splice":
        other = rng.choice(others)
        b = bytearray(b[: rng.randint(1, 8)] + other[rng.randint(1, 8) :])
    elif kind == "count":
        n = rng.choice([0, 2**20, 2**21 - 1, rng.randrange(2**21)])
        b = bytearray(with_crc(bytes(b[:5]) + container.leb128(n) + bytes(b[6:-2])))
    elif kind == "recrc":
        body = bytearray(b[:-2])
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(6, len(body)) if len(body) > 6 else len(body) - 1
            body[i] ^= rng.randrange(1, 256)
        b = bytearray(with_crc(bytes(body)))
    else:  # several byte changes at once
        for _ in range(rng.randint(2, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def single_bit_flips(blob: bytes) -> Iterator[bytes]:
    """``blob`` with each of its bits flipped in turn."""
    for i in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            yield bytes(bad)


def decode(codec, blob: bytes):
    """What ``mnistzip decompress`` does with a file's bytes: parse, check the model, decode."""
    return codec.decompress(container.loads(blob))


def reported(codec, blob: bytes) -> bool:
    """True when decoding ``blob`` ends in a mnistzip error (the file was reported), False when it decodes."""
    try:
        decode(codec, blob)
    except MnistzipError:
        return True
    return False
