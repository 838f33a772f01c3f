"""Fuzz the image loader: thousands of mutated JPEG, PNG, BMP and TIFF files each give a decoded RGB image or one
ImageLoadError line, within a time bound; never another exception, a crash or a hang."""

from __future__ import annotations

import io
import signal
import time
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from dermkit.data.decode import load_image, probe_image
from dermkit.errors import ImageLoadError
from tests.reliability._mutate import mutate_bytes

CASES_PER_FORMAT = 2500
CASE_SECONDS = 5.0  # the slowest legitimate case: a header mutated to ~80 MP (under the pixel guard) decodes in ~2 s


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _seed_files() -> dict[str, list[bytes]]:
    """Small valid files of each format in the modes and codecs a clinic's archive holds."""
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    rgb = Image.fromarray(pixels)
    grey16 = Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the EXIF path runs too
    return {
        "JPEG": [_encode(rgb, "JPEG", quality=90), _encode(rgb, "JPEG", progressive=True),
                 _encode(rgb.convert("L"), "JPEG"), _encode(rgb, "JPEG", exif=exif.tobytes())],
        "PNG": [_encode(rgb, "PNG"), _encode(rgb.convert("RGBA"), "PNG"), _encode(palette, "PNG", transparency=0),
                _encode(grey16, "PNG"), _encode(rgb, "PNG", optimize=True)],
        "BMP": [_encode(rgb, "BMP"), _encode(palette, "BMP"), _encode(rgb.convert("L"), "BMP"),
                _encode(rgb.convert("1"), "BMP")],
        "TIFF": [_encode(rgb, "TIFF"), _encode(rgb, "TIFF", compression="tiff_lzw"),
                 _encode(rgb, "TIFF", compression="packbits"), _encode(rgb, "TIFF", compression="tiff_adobe_deflate"),
                 _encode(grey16, "TIFF")],
    }  # fmt: skip


class _Hang(Exception):
    pass


@pytest.fixture
def alarm() -> Iterator[None]:
    """SIGALRM interrupts a case that runs past the bound (Pillow returns to Python between decoder chunks)."""

    def stop(signum: int, frame: object) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, stop)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _check(data: bytes, min_size: int | None) -> tuple[str | None, bool]:
    """(None, decoded?) when ``data`` decodes to RGB uint8 or fails with one ImageLoadError line; else (what went
    wrong, False)."""
    try:
        image = load_image(data, min_size=min_size, name="case")
    except ImageLoadError as exc:
        message = str(exc)
        good = message.startswith("case: ") and len(message.splitlines()) == 1 and exc.path == "case"
        return (None if good else f"bad ImageLoadError message {message!r}"), False
    if not (image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) > 0):
        return f"decoded to {image.dtype} {image.shape}", False
    if not (image.flags.c_contiguous and image.flags.writeable):
        return "decoded array is not writeable and C-contiguous", False
    return None, True


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF"])
def test_mutated_images_decode_or_fail_with_one_line(fmt: str, alarm: None) -> None:
    seeds = _seed_files()
    files, donors = seeds[fmt], [blob for blobs in seeds.values() for blob in blobs]
    stream = list(seeds).index(fmt)
    problems: list[str] = []
    outcomes = {True: 0, False: 0}
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        for case in range(CASES_PER_FORMAT):
            rng = np.random.default_rng([14, stream, case])  # replay a case with these three numbers
            data = mutate_bytes(files[case % len(files)], rng, donors)
            problem, decoded = _timed_check(data, 16 if case % 2 else None)  # odd cases: reduced-scale JPEG
            if problem is not None:
                problems.append(f"case [14, {stream}, {case}]: {problem}")
            outcomes[decoded] += 1
    assert not problems, "\n".join(problems[:20])
    assert not [str(w.message) for w in warned]  # no line beyond the one error: Pillow's metadata warnings muted
    assert outcomes[True] >= 20 and outcomes[False] >= 200, outcomes  # the mutations reach both outcomes


def _timed_check(data: bytes, min_size: int | None) -> tuple[str | None, bool]:
    """:func:`_check` under the time bound; any other exception is a problem too."""
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        problem, decoded = _check(data, min_size)
    except _Hang:
        return f"no answer within {CASE_SECONDS} s", False
    except Exception as exc:  # the point: nothing else may escape
        return f"{type(exc).__name__}: {exc}", False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - start
    return (f"took {elapsed:.1f} s" if problem is None and elapsed > CASE_SECONDS else problem), decoded


def test_mutated_files_on_disk_are_probed_and_loaded_by_path(tmp_path, alarm) -> None:
    seeds = _seed_files()
    donors = [blob for blobs in seeds.values() for blob in blobs]
    problems = []
    for case in range(400):
        rng = np.random.default_rng([15, 0, case])
        fmt = list(seeds)[case % 4]
        path = tmp_path / f"case_{case}.{fmt.lower()}"
        path.write_bytes(mutate_bytes(seeds[fmt][case % len(seeds[fmt])], rng, donors))
        signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
        try:
            for read in (probe_image, load_image):
                try:
                    read(path)
                except ImageLoadError as exc:
                    if not str(exc).startswith(f"{path}: ") or len(str(exc).splitlines()) != 1:
                        problems.append(f"case {case} {read.__name__}: {exc!r}")
        except Exception as exc:
            problems.append(f"case [15, 0, {case}]: {type(exc).__name__}: {exc}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    assert not problems, "\n".join(problems[:20])
