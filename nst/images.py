"""Image input/output and the homework's image maths (numpy + imageio + Pillow; no TensorFlow).

Shapes: a plain image is (H, W, 3) float32 in 0..255; a "normalized" image is the
network input (1, H, W, 3) float32 = image[None] - MEANS.
"""

import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.errors import NstError
from nst.files import atomic_path

MEANS = np.array([123.68, 116.779, 103.939], dtype=np.float32).reshape((1, 1, 1, 3))
"""The VGG-19 training set's RGB channel means (the homework's CONFIG.MEANS), shape (1, 1, 1, 3)."""

DEFAULT_WIDTH = 400
DEFAULT_HEIGHT = 300
MAX_PIXELS = 50_000_000
"""Refuse to decode images with more pixels than this (width * height), unless told otherwise."""

_LANCZOS = Image.Resampling.LANCZOS

SAVE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# Pillow modes converted to a plain mode before turning the image into an array.
PIL_CONVERT = {
    "1": "L",
    "PA": "RGBA",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}


def _name(path):
    """The path as text for a one-line message (control characters escaped)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def _to_float_0_255(array):
    """Scale any pixel dtype to float32 0..255: uint8 as is, 16-bit x/65535*255, floats in 0..1 x255."""
    if array.dtype == np.bool_:
        return array.astype(np.float32) * 255.0
    if array.dtype == np.uint8:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        # uint16 (16-bit PNG/TIFF) and Pillow's 32-bit "I" mode, which holds 16-bit samples.
        return np.clip(array.astype(np.float64) / 65535.0 * 255.0, 0, 255).astype(np.float32)
    array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    if array.size and array.max() <= 1.0:
        array = array * 255.0
    return np.clip(array, 0, 255).astype(np.float32)


def _to_rgb(array):
    """(H, W) / (H, W, 1..4) pixels of any dtype -> (H, W, 3) float32 0..255, alpha over white.

    out = rgb * a + 255 * (1 - a), with a = alpha / 255.
    """
    array = _to_float_0_255(np.asarray(array))
    if array.ndim == 2:
        array = array[:, :, None]
    channels = array.shape[2]
    if channels in (2, 4):
        colour, alpha = array[:, :, :-1], array[:, :, -1:] / 255.0
        array = colour * alpha + 255.0 * (1.0 - alpha)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] != 3:
        raise ValueError(f"unsupported number of channels: {channels}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _pil_to_array(img):
    """Decoded Pillow image -> numpy array in a plain mode (L, LA, RGB, RGBA, I;16, I, F)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in PIL_CONVERT:
        img = img.convert(PIL_CONVERT[mode])
    elif mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    return np.asarray(img)


def _exif_upright(img):
    """Apply the EXIF orientation tag (phone photos); a damaged EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - orientation is a nicety, the pixels are already decoded
        return img


def read_image(path, max_pixels=MAX_PIXELS):
    """Read an image file -> (H, W, 3) float32 in 0..255.

    JPEG/PNG/BMP/GIF (first frame)/TIFF/...: grey repeated to RGB, alpha composited on white,
    palette expanded, 16-bit scaled x/65535*255, floats in 0..1 scaled x255, EXIF rotation applied.
    The header is checked first: more than `max_pixels` (width*height; None = no limit) or
    smaller than 2x2 is refused before any pixel is decoded. Every failure is an NstError.
    """
    path = Path(path)
    name = _name(path)
    if not path.exists():
        raise NstError(f"Image file {name} does not exist; check the path.")
    if path.is_dir():
        raise NstError(f"Image file {name} is a directory; give the path of an image file inside it.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                check_image_size(name, *img.size, max_pixels)
                img.load()
                array = _pil_to_array(_exif_upright(img))
    except NstError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, zlib.error...
        raise unreadable_image(name, error, path) from None
    return _to_rgb(array)


def check_image_size(name, width, height, max_pixels=MAX_PIXELS):
    """NstError (one line) for an image of width x height (read from its header) above `max_pixels` (None: no
    limit) or smaller than 2x2."""
    if max_pixels is not None and width * height > max_pixels:
        raise NstError(
            f"Image file {name} is {width}x{height} = {width * height} pixels, more than the limit "
            f"of {max_pixels}; pass --max-pixels {width * height} or shrink the image."
        )
    if width < 2 or height < 2:
        raise NstError(f"Image file {name} is only {width}x{height} pixels; use an image at least 2x2.")


def unreadable_image(name, error, path=None):
    """The one-line NstError for an exception Pillow raised reading the image file `name` (at `path`)."""
    if isinstance(error, PermissionError):
        return NstError(f"Image file {name} cannot be read (permission denied); check its permissions.")
    if isinstance(error, Image.DecompressionBombError):
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        return NstError(
            f"Image file {name} has more than {limit} pixels, which Pillow refuses to decode; shrink the image."
        )
    if isinstance(error, UnidentifiedImageError):
        reason = "unknown or damaged format"
    else:
        text = str(error).replace(str(path), "file") if path is not None else str(error)
        reason = " ".join(text.split()) or type(error).__name__
    return NstError(
        f"Image file {name} is not a readable image ({reason}); use a valid JPEG, PNG, BMP, GIF or TIFF file."
    )


def resize_image(image, width, height):
    """(H, W, 3) -> (height, width, 3) float32 in 0..255.

    Returned unchanged (no resampling) when already that size; otherwise each channel is
    resampled with Pillow's LANCZOS filter on float ("F" mode) images, then clipped to 0..255.
    """
    if int(width) < 1 or int(height) < 1:
        raise NstError(f"Image size must be at least 1x1, got {width}x{height}; pass a positive --width and --height.")
    width, height = int(width), int(height)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    if image.shape[:2] == (height, width):
        return image
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, c])).resize((width, height), _LANCZOS))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0, 255).astype(np.float32)


def load_image(path, width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT, max_pixels=MAX_PIXELS):
    """read_image + resize_image -> (height, width, 3) float32 in 0..255."""
    return resize_image(read_image(path, max_pixels=max_pixels), width, height)


def reshape_and_normalize_image(image):
    """(H, W, 3) in 0..255 -> (1, H, W, 3) float32 network input: image[None] - MEANS."""
    image = np.asarray(image, dtype=np.float32)
    return (image[None] - MEANS).astype(np.float32)


def generate_noise_image(content_image, noise_ratio=0.6, seed=None):
    """Noisy starting image, same shape as the normalized content image (1, H, W, 3), float32.

    noise ~ U(-20, 20) from np.random.default_rng(seed);
    G0 = noise * noise_ratio + content_image * (1 - noise_ratio).
    """
    content_image = np.asarray(content_image, dtype=np.float32)
    noise = np.random.default_rng(seed).uniform(-20, 20, content_image.shape).astype(np.float32)
    return (noise * noise_ratio + content_image * (1 - noise_ratio)).astype(np.float32)


def to_uint8(image):
    """Normalized (1, H, W, 3) (or (H, W, 3)) -> (H, W, 3) uint8: clip(image + MEANS, 0, 255), truncated.

    The homework's save_image maths (astype truncates, e.g. 12.9 -> 12); NaN becomes 0. Computed in bands of
    rows, so that a print-size image needs no float copies of its whole size.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[3] != 3:
        raise ValueError(f"expected a (1, H, W, 3) image, got shape {image.shape}")
    out = np.empty(image.shape[1:], np.uint8)
    for r0 in range(0, image.shape[1], 256):
        band = np.nan_to_num(image[0, r0 : r0 + 256] + MEANS[0], nan=0.0, posinf=255.0, neginf=0.0)
        out[r0 : r0 + 256] = np.clip(band, 0, 255).astype(np.uint8)
    return out


def save_image(path, image, quality=95):
    """Write the normalized image (1, H, W, 3) to `path` as to_uint8(image), atomically.

    The format follows the suffix (.png, .jpg/.jpeg at `quality`, .bmp, .gif, .tif, .webp);
    the file appears complete or not at all.
    """
    path = Path(path)
    name = _name(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        kind = repr(path.suffix) if path.suffix else "(no suffix)"
        raise NstError(f"Cannot save {name}: unknown image type {kind}; end the file name in .png or .jpg.")
    pixels = to_uint8(image)
    options = {"quality": int(quality)} if suffix in (".jpg", ".jpeg", ".webp") else {}
    try:
        with atomic_path(path) as tmp:
            iio.imwrite(tmp, pixels, extension=suffix, **options)
    except OSError as error:
        reason = error.strerror or " ".join(str(error).split()) or type(error).__name__
        raise NstError(f"Cannot write {name} ({reason}); check that its folder exists and is writable.") from None
