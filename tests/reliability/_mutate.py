"""Seeded mutators for the fuzz tests: byte strings (image files) and text (manifests, list files).

Each case draws from ``numpy.random.default_rng([seed, stream, case])``, so a failure names the three numbers that
replay it.
"""

from __future__ import annotations

import numpy as np

#: Values that break length, size and offset fields: zero, one, sign bits, all-ones, and sizes just under the
#: pixel guard (9000 x 9000 = 81 MP).
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 9000, 9000 * 9000, 0x7FFFFFFF, 0xFFFFFFFF)


def mutate_bytes(data: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    """1-3 mutations of ``data``: bit flips, random bytes, an interesting integer (half the time in the first 64
    bytes, where headers are), truncation, a deleted or duplicated slice, appended garbage, or a splice with another
    file's tail."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        n = len(buf)
        if n == 0:
            buf = bytearray(rng.integers(0, 256, 16, dtype=np.uint8).tobytes())
            continue
        pos = int(rng.integers(0, min(n, 64))) if rng.random() < 0.5 else int(rng.integers(0, n))
        kind = int(rng.integers(0, 8))
        if kind == 0:
            for _ in range(int(rng.integers(1, 17))):
                buf[int(rng.integers(0, n))] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            for _ in range(int(rng.integers(1, 9))):
                buf[int(rng.integers(0, n))] = int(rng.integers(0, 256))
        elif kind == 2:
            width = int(rng.choice([1, 2, 4]))
            value = int(rng.choice(INTERESTING)) & ((1 << (8 * width)) - 1)
            buf[pos : pos + width] = value.to_bytes(width, "little" if rng.random() < 0.5 else "big")
        elif kind == 3:
            buf = buf[: int(rng.integers(0, n))]
        elif kind == 4:
            start = int(rng.integers(0, n))
            del buf[start : start + int(rng.integers(1, 64))]
        elif kind == 5:
            start = int(rng.integers(0, n))
            buf[pos:pos] = buf[start : start + int(rng.integers(1, 256))]
        elif kind == 6:
            buf += rng.integers(0, 256, int(rng.integers(1, 512)), dtype=np.uint8).tobytes()
        else:
            donor = donors[int(rng.integers(0, len(donors)))]
            buf = buf[:pos] + bytearray(donor[int(rng.integers(0, len(donor))) :])
    return bytes(buf)


_ODD_CHARACTERS = ('"', ",", '","', "\t", ";", "\x00", "\\", "#", " ", "\x1a", "\ufffd", "é", "日本", "\u2028", "\x85")


def mutate_text(text: str, rng: np.random.Generator) -> str:
    """1-3 mutations of a manifest: a BOM, CRLF or CR line ends, empty lines, quotes, commas, NUL and other odd
    characters, a huge field, truncation, a deleted slice, a duplicated or dropped line (the header too), a doubled
    file, another delimiter, or changed case."""
    for _ in range(int(rng.integers(1, 4))):
        n, kind = len(text), int(rng.integers(0, 14))
        pos = int(rng.integers(0, n + 1))
        lines = text.splitlines(keepends=True)
        if kind == 0:
            text = "\ufeff" + text
        elif kind == 1:
            text = text.replace("\n", "\r\n")
        elif kind == 2:
            text = text.replace("\n", "\r")
        elif kind == 3:
            text = text[:pos] + "\n\n\n" + text[pos:]
        elif kind in (4, 5):
            text = text[:pos] + str(rng.choice(_ODD_CHARACTERS)) + text[pos:]
        elif kind == 6:
            text = text[:pos] + "x" * int(rng.choice([1000, 140_000, 300_000])) + text[pos:]
        elif kind == 7:
            text = text[:pos]
        elif kind == 8:
            text = text[:pos] + text[pos + int(rng.integers(1, 40)) :]
        elif kind == 9 and lines:
            lines.insert(int(rng.integers(0, len(lines) + 1)), lines[int(rng.integers(0, len(lines)))])
            text = "".join(lines)
        elif kind == 10 and lines:
            del lines[int(rng.integers(0, len(lines)))]
            text = "".join(lines)
        elif kind == 11:
            text = text + text
        elif kind == 12:
            text = text.replace(",", str(rng.choice([";", "\t", "|"])))
        else:
            text = text.upper() if rng.random() < 0.5 else text.lower()
    return text


def encode_text(text: str, rng: np.random.Generator) -> bytes:
    """``text`` as UTF-8 mostly, else UTF-16, Latin-1, cp1252, UTF-8 with BOM, or UTF-8 with a few random bytes."""
    encoding = str(rng.choice(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "cp1252", "utf-8-sig", "garbled"]))
    if encoding != "garbled":
        return text.encode(encoding, "replace")
    data = bytearray(text.encode("utf-8"))
    for _ in range(int(rng.integers(1, 5))):
        if data:
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
    return bytes(data)
