"""nst.images: reading every kind of image file, resizing, the homework's image maths, saving."""

import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from nst.errors import NstError
from nst.images import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    MEANS,
    generate_noise_image,
    load_image,
    read_image,
    reshape_and_normalize_image,
    resize_image,
    save_image,
    to_uint8,
)

IMAGES = Path(__file__).resolve().parent.parent / "images"


def _check_error(excinfo, path, *words):
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message


def _png_rgb16(path, pixels):
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot write one)."""
    height, width, _ = pixels.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def _noisy_jpeg(path, size=(64, 48)):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)


# --- reading -------------------------------------------------------------------------------------------------


def test_read_demo_images():
    image = read_image(IMAGES / "grace_hopper.jpg")
    assert image.shape == (600, 512, 3) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 255
    style = read_image(IMAGES / "swirls.jpg")
    assert style.shape == (DEFAULT_HEIGHT, DEFAULT_WIDTH, 3) and style.std() > 20


def test_read_grayscale_repeats_to_rgb(tmp_path):
    path = tmp_path / "grey.png"
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    Image.fromarray(grey).save(path)
    image = read_image(path)
    assert image.shape == (4, 5, 3) and image.dtype == np.float32
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], grey.astype(np.float32))


def test_read_rgba_composites_alpha_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    pixels = np.zeros((3, 3, 4), dtype=np.uint8)
    pixels[..., :3] = (200, 100, 0)
    pixels[..., 3] = 255
    pixels[0, 0, 3] = 0  # fully transparent -> white
    pixels[1, 1, 3] = 51  # 20% opaque: 0.2 * c + 0.8 * 255
    Image.fromarray(pixels).save(path)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (3, 3, 3)
    np.testing.assert_allclose(image[0, 0], [255, 255, 255])
    np.testing.assert_allclose(image[1, 1], [0.2 * 200 + 0.8 * 255, 0.2 * 100 + 0.8 * 255, 0.8 * 255], rtol=1e-5)
    np.testing.assert_allclose(image[2, 2], [200, 100, 0])


def test_read_grey_alpha_composites_over_white(tmp_path):
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([np.full((2, 2), 40, np.uint8), np.full((2, 2), 0, np.uint8)])).save(path)
    np.testing.assert_allclose(read_image(path), np.full((2, 2, 3), 255.0))


def test_read_palette_expands_to_rgb(tmp_path):
    path = tmp_path / "palette.png"
    img = Image.new("P", (4, 2))
    img.putpalette([10, 20, 30, 200, 150, 100] + [0] * (256 * 3 - 6))
    img.putdata([0, 1, 0, 1, 1, 1, 0, 0])
    img.save(path)
    image = read_image(path)
    assert image.shape == (2, 4, 3)
    np.testing.assert_array_equal(image[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(image[0, 1], [200, 150, 100])
    np.testing.assert_array_equal(image[1, 3], [10, 20, 30])


def test_read_palette_with_transparency_gif_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    first = Image.new("P", (3, 2), 1)
    first.putpalette([0, 0, 0, 250, 10, 10, 10, 250, 10] + [0] * (256 * 3 - 9))
    second = Image.new("P", (3, 2), 2)
    second.putpalette(first.getpalette())
    first.save(path, save_all=True, append_images=[second])
    image = read_image(path)
    np.testing.assert_array_equal(image[1, 2], [250, 10, 10])  # first frame's colour, not the second's

    path = tmp_path / "transparent.png"
    img = Image.new("P", (2, 2), 0)
    img.putpalette([0, 0, 0, 250, 10, 10] + [0] * (256 * 3 - 6))
    img.putpixel((1, 1), 1)
    img.save(path, transparency=0)
    image = read_image(path)
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[1, 1], [250, 10, 10])


def test_read_16bit_grey_png_is_scaled(tmp_path):
    path = tmp_path / "grey16.png"
    values = np.array([[0, 257, 40000], [65535, 1000, 30000]], dtype=np.uint16)
    iio.imwrite(path, values)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (2, 3, 3)
    np.testing.assert_allclose(image[..., 1], values / 65535 * 255, rtol=1e-6)
    assert image[1, 0, 0] == 255 and image[0, 1, 2] == 1


def test_read_16bit_rgb_png_is_scaled(tmp_path):
    path = tmp_path / "rgb16.png"
    values = np.zeros((2, 2, 3), dtype=np.uint16)
    values[0, 0] = (65535, 40000, 0)
    values[1, 1] = (32768, 1000, 65535)
    _png_rgb16(path, values)
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == (2, 2, 3)
    np.testing.assert_allclose(image, values / 65535 * 255, atol=1.0)  # Pillow keeps 8 bits of each sample


def test_read_float_tiff_in_0_1_is_scaled(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5], [0.25, 1.0]], dtype=np.float32)).save(path)
    image = read_image(path)
    np.testing.assert_allclose(image[..., 0], [[0, 127.5], [63.75, 255]])


def test_read_bmp(tmp_path):
    path = tmp_path / "pic.bmp"
    Image.new("RGB", (3, 2), (1, 2, 3)).save(path)
    np.testing.assert_array_equal(read_image(path), np.full((2, 3, 3), [1, 2, 3], np.float32))


def test_read_applies_exif_orientation(tmp_path):
    path = tmp_path / "phone.jpg"
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = 255  # left half white, right half black
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = read_image(path)
    assert image.shape == (32, 16, 3)
    assert image[2, 8, 0] > 200 and image[29, 8, 0] < 50  # the white half is now on top


# --- reading errors ------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(NstError) as excinfo:
        read_image(path)
    _check_error(excinfo, path, "does not exist")


def test_directory(tmp_path):
    with pytest.raises(NstError) as excinfo:
        read_image(tmp_path)
    _check_error(excinfo, tmp_path, "directory")


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\nsecond line\n")
    with pytest.raises(NstError) as excinfo:
        read_image(path)
    _check_error(excinfo, path, "not a readable image")


@pytest.mark.parametrize("keep", [0.6, 0.02])
def test_truncated_jpeg(tmp_path, keep):
    good = tmp_path / "good.jpg"
    _noisy_jpeg(good)
    path = tmp_path / "cut.jpg"
    data = good.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(NstError) as excinfo:
        read_image(path)
    _check_error(excinfo, path, "not a readable image")


def test_too_small(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(path)
    with pytest.raises(NstError) as excinfo:
        read_image(path)
    _check_error(excinfo, path, "1x1", "2x2")


def test_too_many_pixels_is_refused_from_the_header(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (20, 10)).save(good)
    assert read_image(good, max_pixels=200).shape == (10, 20, 3)
    # Cut the file just after the start of the pixel data: only the header is readable, so this proves
    # the size check happens before decoding (decoding would fail as "not a readable image").
    data = good.read_bytes()
    path = tmp_path / "big.png"
    path.write_bytes(data[: data.index(b"IDAT") + 8])
    with pytest.raises(NstError, match="not a readable image"):
        read_image(path, max_pixels=200)
    with pytest.raises(NstError) as excinfo:
        read_image(path, max_pixels=199)
    _check_error(excinfo, path, "--max-pixels", "200")


# --- resizing ------------------------------------------------------------------------------------------------


def test_resize_to_default_size():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (60, 50, 3)).astype(np.float32)
    out = resize_image(image, DEFAULT_WIDTH, DEFAULT_HEIGHT)
    assert out.shape == (300, 400, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255  # LANCZOS overshoot is clipped
    flat = resize_image(np.full((7, 9, 3), [10, 128, 250], np.float32), 40, 30)
    np.testing.assert_allclose(flat, np.full((30, 40, 3), [10, 128, 250]), atol=1e-3)


def test_resize_unchanged_when_already_that_size():
    image = np.random.default_rng(2).uniform(0, 255, (300, 400, 3)).astype(np.float32)
    out = resize_image(image, 400, 300)
    np.testing.assert_array_equal(out, image)


def test_load_image_reads_and_resizes(tmp_path):
    path = tmp_path / "x.png"
    Image.new("RGB", (8, 6), (9, 99, 199)).save(path)
    out = load_image(path, 40, 30)
    assert out.shape == (30, 40, 3)
    np.testing.assert_allclose(out, np.full((30, 40, 3), [9, 99, 199]), atol=1e-3)


# --- homework maths ------------------------------------------------------------------------------------------


def test_reshape_and_normalize_subtracts_means():
    image = np.random.default_rng(3).uniform(0, 255, (3, 4, 3)).astype(np.float32)
    out = reshape_and_normalize_image(image)
    assert out.shape == (1, 3, 4, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, image[None] - MEANS)
    np.testing.assert_allclose(reshape_and_normalize_image(np.zeros((2, 2, 3)))[0, 0, 0], -MEANS.ravel())
    np.testing.assert_allclose(MEANS.ravel(), [123.68, 116.779, 103.939])


def test_generate_noise_image():
    content = reshape_and_normalize_image(np.random.default_rng(4).uniform(0, 255, (30, 40, 3)))
    ratio = 0.6
    out = generate_noise_image(content, ratio, seed=7)
    assert out.shape == content.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, generate_noise_image(content, ratio, seed=7))
    assert not np.array_equal(out, generate_noise_image(content, ratio, seed=8))
    blend = content * (1 - ratio)
    assert np.all(np.abs(out - blend) <= 20 * ratio + 1e-3)
    assert abs(float(np.mean(out - blend))) < 0.5  # noise mean 0: the image averages to the blend
    assert float(np.std(out - blend)) > 5  # and there is real noise (std of U(-12, 12) is about 6.9)
    np.testing.assert_allclose(generate_noise_image(content, 0.0, seed=1), content)


def test_to_uint8_adds_means_clips_and_truncates():
    pixels = np.array([[[12.9, 0.5, 254.99], [-40.0, 300.0, 100.0]]], dtype=np.float32)  # (1, 2, 3)
    out = to_uint8(pixels[None] - MEANS)
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[[12, 0, 254], [0, 255, 100]]])


# --- saving --------------------------------------------------------------------------------------------------


def _normalized(rng, height=30, width=40):
    return rng.uniform(-140, 160, (1, height, width, 3)).astype(np.float32)


def test_save_png_round_trip_is_exact(tmp_path):
    image = _normalized(np.random.default_rng(5))
    path = tmp_path / "out.png"
    save_image(path, image)
    np.testing.assert_array_equal(iio.imread(path), to_uint8(image))
    np.testing.assert_array_equal(read_image(path), to_uint8(image).astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_save_jpeg_round_trip_within_tolerance(tmp_path):
    ys, xs = np.mgrid[0:60, 0:80]
    smooth = np.dstack([xs * 3, ys * 4, (xs + ys) * 1.5]).astype(np.float32)
    image = reshape_and_normalize_image(smooth)
    for name in ("out.jpg", "out.jpeg"):
        path = tmp_path / name
        save_image(path, image)
        back = iio.imread(path).astype(np.float32)
        assert back.shape == (60, 80, 3)
        assert np.mean(np.abs(back - to_uint8(image))) < 2.0


def test_save_overwrites_existing_file(tmp_path):
    path = tmp_path / "out.png"
    path.write_text("old")
    save_image(path, np.zeros((1, 4, 4, 3), np.float32))
    np.testing.assert_array_equal(iio.imread(path), to_uint8(np.zeros((1, 4, 4, 3), np.float32)))


@pytest.mark.parametrize("where", ["missing/out.png", "afile.txt/out.png"])
def test_save_into_missing_or_bad_folder(tmp_path, where):
    (tmp_path / "afile.txt").write_text("a file, not a folder")
    path = tmp_path / where
    with pytest.raises(NstError) as excinfo:
        save_image(path, np.zeros((1, 4, 4, 3), np.float32))
    _check_error(excinfo, path, "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt"]


def test_save_failure_leaves_no_temp_file(tmp_path):
    path = tmp_path / "taken.png"
    path.mkdir()  # the rename onto a directory fails after the temp file was written
    with pytest.raises(NstError) as excinfo:
        save_image(path, np.zeros((1, 4, 4, 3), np.float32))
    _check_error(excinfo, path)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]
    assert list(path.iterdir()) == []


def test_save_unknown_suffix(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(NstError) as excinfo:
        save_image(path, np.zeros((1, 4, 4, 3), np.float32))
    _check_error(excinfo, path, ".png")
    assert list(tmp_path.iterdir()) == []
