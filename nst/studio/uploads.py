"""Uploads become the studio's own files: each image decoded (its size read from the header first) and written anew.

No uploaded byte is kept: the pixels are decoded by Pillow (JPEG, PNG, BMP, GIF, TIFF, WebP only) and written
as `<stem>.png` (or `<stem>.tif` for the few pixel modes PNG cannot hold: CMYK, LAB, YCbCr, float, 32-bit),
with the EXIF orientation as the only metadata, so the CLI reads exactly the pixels it would have read from the
upload. The file name the user gave is kept only as text (shown_name). Memory: the header's size is checked
against the pixel limit before anything is decoded; the decoded image (at most 4 bytes per pixel in Pillow) is
written from where it is, without a converted copy, except for the rare modes neither format holds.
"""

import warnings
from pathlib import Path

from PIL import Image, TiffImagePlugin

from nst.errors import NstError
from nst.files import atomic_path
from nst.images import PIL_CONVERT, check_image_size, unreadable_image

FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
"""The decoders an upload may use (JPEG's includes phones' multi-picture files); never EPS, PSD or Pillow's others."""
PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B")
TIFF_MODES = tuple(sorted(set(TiffImagePlugin.SAVE_INFO) - set(PNG_MODES)))
ORIENTATION = 0x0112  # the EXIF tag


def shown_name(name, limit=80):
    """A user's file name as text to show and record: its last part, printable, at most `limit` characters."""
    text = Path(str(name or "")).name
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def store_image(source, folder, stem, name, max_pixels):
    """Decode the image `source` (a path or a binary file object) and write it as `<folder>/<stem>.png` (or .tif),
    atomically; returns the path. NstError with the CLI's one-line reason, naming the file as `name`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source, formats=FORMATS) as img:  # lazy: only the header is read here
                check_image_size(name, *img.size, max_pixels)
                img.load()
                return write_image(img, Path(folder) / stem)
    except NstError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, zlib.error...
        raise unreadable_image(name, error) from None


def write_image(img, stem_path):
    """Write the decoded Pillow image losslessly as `<stem_path>.png` or `.tif`, its EXIF orientation kept."""
    exif = Image.Exif()
    orientation = img.getexif().get(ORIENTATION)
    if orientation in range(2, 9):
        exif[ORIENTATION] = orientation
    if img.mode not in PNG_MODES + TIFF_MODES:  # La, RGBa, HSV: the mode the CLI converts them to
        img = img.convert(PIL_CONVERT.get(img.mode, "RGB"))
    if img.mode in TIFF_MODES:
        path, options = stem_path.with_suffix(".tif"), {"format": "TIFF", "compression": "tiff_adobe_deflate"}
    else:
        path, options = stem_path.with_suffix(".png"), {"format": "PNG", "compress_level": 1}
    with atomic_path(path) as tmp:
        img.save(tmp, exif=exif.tobytes(), **options)
    return path
