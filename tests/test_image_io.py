"""Reading image files as IMAGEs: every Pillow mode scaled by its own range, errors naming the file."""

from __future__ import annotations

import os
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from comfy_editloss.io.images import IMAGE_PATTERNS, ImageReadError, image_files, load_image, load_image_batch, natural_key


def _ramp(shape, high):
    return np.linspace(0, high, int(np.prod(shape))).reshape(shape)


def _png16(path, array, colour_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour): colour type 2 = RGB, 6 = RGBA."""
    height, width = array.shape[:2]
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _grey(expected):
    return np.repeat(expected[..., None], 3, axis=-1)


def test_sixteen_bit_grey_png_is_scaled_by_65535_not_clipped_to_white(tmp_path):
    values = _ramp((24, 40), 65535).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    image = load_image(tmp_path / "g16.png")
    assert image.shape == (1, 24, 40, 3)
    np.testing.assert_allclose(image[0].numpy(), _grey(values / 65535.0), atol=1e-6)
    assert 0.49 < float(image.mean()) < 0.51  # a white picture has mean 1


def test_two_sixteen_bit_pictures_that_differ_load_differently(tmp_path):
    dark = np.full((8, 8), 9000, np.uint16)
    light = np.full((8, 8), 50000, np.uint16)
    Image.fromarray(dark).save(tmp_path / "a.png")
    Image.fromarray(light).save(tmp_path / "b.png")
    batch = load_image_batch([tmp_path / "a.png", tmp_path / "b.png"])
    np.testing.assert_allclose(batch[:, 0, 0, 0].numpy(), [9000 / 65535, 50000 / 65535], rtol=1e-6)


def test_big_endian_sixteen_bit_tiff(tmp_path):
    values = _ramp((6, 10), 65535).astype(np.uint16)
    Image.frombytes("I;16B", (10, 6), values.astype(">u2").tobytes()).save(tmp_path / "g16b.tif")
    assert Image.open(tmp_path / "g16b.tif").mode == "I;16B"
    image = load_image(tmp_path / "g16b.tif")
    np.testing.assert_allclose(image[0].numpy(), _grey(values.astype(np.float64) / 65535.0), atol=1e-6)


def test_32_bit_integer_grey_within_16_bits_is_read_as_16_bit_and_beyond_is_refused(tmp_path):
    values = _ramp((5, 7), 65535).astype(np.int32)
    Image.fromarray(values, mode="I").save(tmp_path / "i32.tif")
    assert Image.open(tmp_path / "i32.tif").mode == "I"
    np.testing.assert_allclose(load_image(tmp_path / "i32.tif")[0].numpy(), _grey(values / 65535.0), atol=1e-6)
    Image.fromarray(values * 40, mode="I").save(tmp_path / "wide.tif")
    with pytest.raises(ImageReadError, match=r"wide\.tif.*32-bit integer pixels from 0 to 2621400 do not fit 8 or 16 bits"):
        load_image(tmp_path / "wide.tif")


def test_eight_bit_modes(tmp_path):
    grey = _ramp((6, 9), 255).round().astype(np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "l.png")
    np.testing.assert_allclose(load_image(tmp_path / "l.png")[0].numpy(), _grey(grey / 255.0), atol=1e-6)

    rgb = _ramp((6, 9, 3), 255).round().astype(np.uint8)
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "rgb.png")
    np.testing.assert_allclose(load_image(tmp_path / "rgb.png")[0].numpy(), rgb / 255.0, atol=1e-6)

    rgba = np.concatenate([rgb, np.full((6, 9, 1), 7, np.uint8)], axis=-1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(load_image(tmp_path / "rgba.png")[0].numpy(), rgb / 255.0, atol=1e-6)  # alpha dropped

    palette = Image.fromarray(rgb, mode="RGB").quantize(colors=16)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    assert Image.open(tmp_path / "p.png").mode == "P"
    expected = np.asarray(palette.convert("RGB"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(load_image(tmp_path / "p.png")[0].numpy(), expected, atol=1e-6)

    bits = (grey > 128)
    Image.fromarray(bits).save(tmp_path / "one.png")
    assert Image.open(tmp_path / "one.png").mode == "1"
    np.testing.assert_allclose(load_image(tmp_path / "one.png")[0].numpy(), _grey(bits.astype(np.float32)), atol=1e-6)


def test_sixteen_bit_colour_png_keeps_its_values(tmp_path):
    values = _ramp((4, 6, 3), 65535).astype(np.uint16)
    _png16(tmp_path / "rgb16.png", values, 2)
    image = load_image(tmp_path / "rgb16.png")
    np.testing.assert_allclose(image[0].numpy(), values / 65535.0, atol=1 / 255)
    rgba = np.concatenate([values, np.full((4, 6, 1), 1000, np.uint16)], axis=-1)
    _png16(tmp_path / "rgba16.png", rgba, 6)
    np.testing.assert_allclose(load_image(tmp_path / "rgba16.png")[0].numpy(), values / 65535.0, atol=1 / 255)


def test_float_grey_in_unit_range_and_its_errors(tmp_path):
    values = _ramp((5, 8), 1.0).astype(np.float32)
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    np.testing.assert_allclose(load_image(tmp_path / "f.tif")[0].numpy(), _grey(values), atol=1e-7)
    Image.fromarray(values * 300, mode="F").save(tmp_path / "big.tif")
    with pytest.raises(ImageReadError, match=r"big\.tif: a floating-point image must hold values in \[0, 1\], got from 0 to 300"):
        load_image(tmp_path / "big.tif")


def test_unreadable_files_are_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageReadError, match=r"cannot read image .*broken\.png"):
        load_image(tmp_path / "broken.png")
    with pytest.raises(ImageReadError, match=r"image file not found: .*missing\.png"):
        load_image(tmp_path / "missing.png")


@pytest.fixture
def within_seconds():
    """Fails a call that blocks (reading a FIFO waits for a writer forever) instead of hanging."""
    import signal

    def expire(*_):
        raise TimeoutError("the call blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 10)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(os.name == "nt", reason="FIFOs and /dev/zero")
def test_files_that_are_not_regular_are_refused_by_name_before_reading(tmp_path, within_seconds):
    os.mkfifo(tmp_path / "fifo.png")
    os.symlink("/dev/zero", tmp_path / "zero.png")
    os.symlink("loop.png", tmp_path / "loop.png")
    (tmp_path / "folder.png").mkdir()
    for name, message in (("fifo.png", "is not a regular file"), ("zero.png", "is not a regular file"), ("loop.png", "is a symlink loop"),
                          ("folder.png", "is a folder, not a file")):
        with pytest.raises(ImageReadError, match=rf"^image file .*{re.escape(name)} {message}"):
            load_image(tmp_path / name)
    with pytest.raises(ImageReadError, match=r"fifo\.png is not a regular file"):
        load_image_batch([tmp_path / "fifo.png"])


def test_paths_that_are_not_paths_are_refused_by_name(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    for value, error, message in ((None, TypeError, r"^path must be a path \(str or os.PathLike\), got NoneType None$"),
                                  ("", ValueError, r"^path must name a file or folder, got an empty string$"),
                                  (f"{tmp_path}/a.png\0", ValueError, r"^path must not contain a NUL byte")):
        with pytest.raises(error, match=message):
            load_image(value)
    with pytest.raises(TypeError, match=r"^paths must be a list of image files, got str "):
        load_image_batch(str(tmp_path / "a.png"))  # not read letter by letter
    with pytest.raises(ValueError, match=r"^paths must name at least one image file, got an empty list"):
        load_image_batch([])
    with pytest.raises(TypeError, match=r"^paths\[1\] must be a path"):
        load_image_batch([tmp_path / "a.png", None])
    with pytest.raises(ValueError, match=r"^size_mismatch must be one of 'error', 'resize', got None$"):
        load_image_batch([tmp_path / "a.png"], None)


def test_a_decompression_bomb_is_an_unreadable_image(tmp_path):
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    with pytest.raises(ImageReadError, match=r"cannot read image .*bomb\.png: Image size \(3600000000 pixels\) exceeds limit"):
        load_image(tmp_path / "bomb.png")


def test_image_files_lists_regular_images_in_natural_order_and_checks_its_arguments(tmp_path):
    for name in ("gen_10.png", "gen_2.png", "Gen_1.JPG", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    os.symlink("missing.png", tmp_path / "broken.png")
    every = ["Gen_1.JPG", "gen_2.png", "gen_10.png"]
    for patterns in (IMAGE_PATTERNS, "", (), " *.png , *.JPG ", ["*.jpg", "*.png"]):
        assert [p.name for p in image_files(tmp_path, patterns)] == every, patterns
    assert [p.name for p in image_files(tmp_path, "*.PNG")] == ["gen_2.png", "gen_10.png"]
    with pytest.raises(TypeError, match=r"^patterns must be text like '\*\.png;\*\.jpg' or a list of such patterns, got NoneType None$"):
        image_files(tmp_path, None)
    with pytest.raises(TypeError, match=r"^patterns must be text"):
        image_files(tmp_path, ["*.png", 3])
    with pytest.raises(ValueError, match=r"^folder not found: .*nowhere$"):
        image_files(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"^folder .*gen_2\.png is not a folder$"):
        image_files(tmp_path / "gen_2.png")


def test_natural_key_numbers_only_decimal_digits():
    names = ["gen_10", "Gen_2", "gen_1", "x²", "a٣", "a10"]
    assert sorted(names, key=natural_key) == ["a٣", "a10", "gen_1", "Gen_2", "gen_10", "x²"]
    assert natural_key("²") == ["²"]
    with pytest.raises(TypeError, match=r"^name must be a str, got int 3$"):
        natural_key(3)
