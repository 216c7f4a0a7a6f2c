"""Uploads become the studio's own files: decoded by a worker held to limits, written anew as PNGs with no metadata.

No uploaded byte is kept: the worker, `python -m nst.studio.uploads` (one per Start, for both images; started
ahead of time by Decoder, so that its imports cost no Start anything), is sent the job and the images' file
descriptors over a socket, limits itself first (RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE), then for each image reads its size from the
header and refuses it above the pixel limit, counts a JPEG's scans before decoding it (a progressive JPEG of a
few hundred KB can hold hundreds of scans, each a pass over every block: MAX_SCANS), decodes it with Pillow (JPEG,
PNG, BMP, GIF, TIFF, WebP only) and writes `<stem>.png`: the pixels the CLI would read from the upload (EXIF
orientation applied, modes PNG cannot hold converted as the CLI converts them), with no EXIF, XMP, IPTC, text or
ICC profile (the CLI ignores colour profiles too). The server kills the worker at its deadline; one bad file costs
only its own Start. The file name the user gave is kept only as text (shown_name).
"""

import dataclasses
import json
import os
import re
import resource
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from nst.errors import NstError

FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
"""The decoders an upload may use (JPEG's includes phones' multi-picture files); never EPS, PSD or Pillow's others."""
MAX_SCANS = 100
"""A JPEG with more scans is refused before decoding. Encoders write 1 (baseline) or about 10 (libjpeg's
progressive script; mozjpeg's are of that order); decoding costs a pass over the image per scan (≈ 50 ms each at
49 Mpx, measured), whatever the scan's size."""
MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
"""A JPEG marker: 0xFF then a byte that is not stuffing (00), a restart marker (D0-D7) or fill (FF)."""
SOS, EOI = 0xDA, 0xD9


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """What decoding one Start's images may cost: wall-clock seconds (the worker is killed then), CPU seconds, and
    memory (address space) beyond `base_bytes` per allowed pixel."""

    seconds: float = 60.0
    cpu_seconds: int = 30
    base_bytes: int = 384 << 20  # Python, Pillow and numpy loaded: about 115 MB of address space
    bytes_per_pixel: int = 24  # a 50 Mpx progressive JPEG's coefficients and pixels, turned upright, converted
    unlimited_pixels: int = 100_000_000  # the memory for "no pixel limit" (--max-pixels not set)

    def memory(self, max_pixels):
        return self.base_bytes + self.bytes_per_pixel * (max_pixels or self.unlimited_pixels)

    def file_size(self, max_pixels):
        return 8 * (max_pixels or self.unlimited_pixels) + (1 << 20)


def shown_name(name, limit=80):
    """A user's file name as text to show and record: its last part, printable, at most `limit` characters."""
    text = Path(str(name or "")).name
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the server's side ---------------------------------------------------------------------------------------


def open_source(source):
    """(fd, whether we opened it) of an image to decode: a path (a regular file, never through a symlink) or a
    binary file object (an upload: its own file, rewound)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise NstError(f"cannot read {Path(source).name} ({exc.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NstError(f"{Path(source).name} is not a regular file")
        return fd, True
    try:
        fd = source.fileno()  # a SpooledTemporaryFile moves to disk here
    except (AttributeError, OSError, ValueError):
        copy = tempfile.TemporaryFile()
        source.seek(0)
        while data := source.read(1 << 20):
            copy.write(data)
        copy.flush()
        fd = os.dup(copy.fileno())
        copy.close()
        os.lseek(fd, 0, os.SEEK_SET)
        return fd, True
    source.flush()
    os.lseek(fd, 0, os.SEEK_SET)
    return fd, False


def worker_env():
    """The worker's environment: this nst importable, numpy's BLAS on one thread (its buffers count against the
    memory limit), no secrets of the server's."""
    import nst

    env = {k: v for k, v in os.environ.items() if not k.startswith("NST_STUDIO_")}
    package_parent = str(Path(nst.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def start_worker():
    """A new worker: (its Popen, the socket its job goes to). It imports what it needs, then waits for the job."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "nst.studio.uploads"],
            stdin=theirs.fileno(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=worker_env(),
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, ours


@dataclasses.dataclass
class Decoder:
    """The next worker, started ahead: each Start takes it and starts the one after (used once each: one bad file
    never meets the next). Ends with the server (the worker exits when its socket closes)."""

    spare: tuple | None = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def prepare(self):
        with self.lock:
            if self.spare is None or self.spare[0].poll() is not None:
                self.discard()
                self.spare = start_worker()

    def take(self):
        """A worker ready for a job (a new one if the spare died); prepare() starts the next one after it."""
        with self.lock:
            worker = self.spare if self.spare is not None and self.spare[0].poll() is None else start_worker()
            if worker is not self.spare:
                self.discard()
            self.spare = None
        return worker

    def discard(self):
        if self.spare is not None:
            process, channel = self.spare
            channel.close()
            process.kill()
            process.wait()
            process.stdout.close()
            self.spare = None

    def close(self):
        with self.lock:
            self.discard()


def decode_images(images, folder, max_pixels, limits=DecodeLimits(), decoder=None):
    """Decode `images` [(source, stem, name)] (source: a path or a binary file object; name: how messages call it)
    into `<folder>/<stem>.png` in one worker process (the decoder's spare, else a new one); returns their paths.
    NstError with the CLI's one-line reason for the first image that cannot be, or when the worker goes past its
    limits."""
    opened = []
    worker, channel = decoder.take() if decoder is not None else start_worker()
    try:
        inputs = []
        for source, stem, name in images:
            fd, ours = open_source(source)
            opened.append((fd, ours))
            inputs.append({"out": str(Path(folder) / f"{stem}.png"), "name": name})
        job = {
            "inputs": inputs,
            "max_pixels": max_pixels,
            "memory": limits.memory(max_pixels),
            "cpu_seconds": limits.cpu_seconds,
            "file_size": limits.file_size(max_pixels),
        }
        try:
            socket.send_fds(channel, [json.dumps(job).encode()], [fd for fd, _ in opened])
        except OSError:  # the worker died before its job: nothing decoded, no reason to give but this
            pass
        channel.close()
        try:
            out, _ = worker.communicate(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
            raise NstError(
                f"{current_name(images, b'')} took longer than {limits.seconds:g} s to decode: the "
                "studio's limit; upload a smaller or simpler image"
            ) from None
    finally:
        channel.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        for fd, ours in opened:
            if ours:
                os.close(fd)
        if decoder is not None:
            decoder.prepare()  # the next one, once this one no longer needs the processor
    results = [json.loads(line) for line in out.decode("utf-8", "replace").splitlines() if line.startswith("{")]
    for result in results:
        if "error" in result:
            raise NstError(result["error"])
    if worker.returncode != 0 or len(results) != len(images):
        how = f"killed by signal {-worker.returncode}" if worker.returncode < 0 else f"exit code {worker.returncode}"
        raise NstError(
            f"{current_name(images, out)} could not be decoded within the studio's limits ({how}): "
            "upload a smaller or simpler image"
        )
    return [Path(folder) / f"{stem}.png" for _, stem, _ in images]


def current_name(images, out):
    """The name of the image the worker was decoding when it stopped (one result line per image done)."""
    done = out.count(b"\n")
    return f"Image file {images[min(done, len(images) - 1)][2]}"


# --- the worker's side ---------------------------------------------------------------------------------------


def limit_self(memory, cpu_seconds, file_size):
    """This process's limits: address space, CPU time (SIGXCPU, then SIGKILL a second later), file size (a write
    past it fails: Python ignores SIGXFSZ), no core file."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def jpeg_scans(data, limit=MAX_SCANS):
    """How many scans the JPEG `data` holds (counted up to limit + 1), walking its markers; the entropy-coded data
    after each scan header is skipped to the next marker. Stops at the first image's end (EOI)."""
    scans, pos, size = 0, 2, len(data)
    while pos + 1 < size:
        if data[pos] != 0xFF or data[pos + 1] in (0x00, 0xFF) or 0xD0 <= data[pos + 1] <= 0xD7:
            match = MARKER.search(data, pos + 1)
            if match is None:
                break
            pos = match.start()
            continue
        marker = data[pos + 1]
        if marker == EOI:
            break
        if marker == 0x01:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker == SOS:
            scans += 1
            if scans > limit:
                break
    return scans


def upright_png_pixels(img):
    """The decoded image as the CLI reads it (EXIF orientation applied; modes converted as nst.images converts
    them), in a mode PNG holds: L, LA, RGB, RGBA or I;16 (16-bit grey; 32-bit grey scaled as the CLI scales it,
    floats to within 1/65535 of their range). A new image: nothing of the upload's metadata."""
    import numpy as np
    from PIL import Image, ImageOps

    from nst.images import PIL_CONVERT

    transparent = "transparency" in img.info
    try:  # the EXIF orientation, as the CLI applies it (a damaged EXIF block is ignored)
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - orientation is a nicety, the pixels are already decoded
        pass
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if transparent else "RGB")
    elif mode in PIL_CONVERT:
        img = img.convert(PIL_CONVERT[mode])
    elif mode.startswith("I;16"):
        img = Image.fromarray(np.asarray(img).astype(np.uint16))
    elif mode == "I":  # the CLI: x / 65535 * 255, clipped
        img = Image.fromarray(np.clip(np.asarray(img), 0, 65535).astype(np.uint16))
    elif mode == "F":  # the CLI: NaN 0, +inf 255, 0..1 scaled by 255, clipped to 0..255
        array = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if array.size and array.max() <= 1.0:
            array *= 255.0
        np.clip(array, 0.0, 255.0, out=array)
        array *= 65535.0 / 255.0
        img = Image.fromarray(np.rint(array).astype(np.uint16))
    if img.mode == "1":
        img = img.convert("L")
    if img.mode not in ("L", "LA", "RGB", "RGBA", "I;16"):
        img = img.convert("RGB")
    img.info = {}
    return img


def decode_one(file, out, name, max_pixels):
    """Decode the image in the open binary `file` and write it to `out` (a PNG, atomically); NstError (one line)."""
    from PIL import Image

    from nst.files import atomic_path
    from nst.images import check_image_size, unreadable_image

    try:
        data = file.read(8)
        if data.startswith(b"\xff\xd8\xff"):
            data += file.read()
            scans = jpeg_scans(data)
            if scans > MAX_SCANS:
                raise NstError(
                    f"Image file {name} is a JPEG of more than {MAX_SCANS} scans (each one a pass over the "
                    "whole picture): save it again as an ordinary JPEG or a PNG"
                )
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file, formats=FORMATS) as img:  # lazy: only the header is read here
                check_image_size(name, *img.size, max_pixels)
                img.load()
                clean = upright_png_pixels(img)
        with atomic_path(out) as tmp:
            clean.save(tmp, format="PNG", compress_level=1)
    except NstError:
        raise
    except MemoryError:
        raise NstError(
            f"Image file {name} needs more memory to decode than the studio allows: upload a smaller image"
        ) from None
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, zlib.error...
        raise unreadable_image(name, error) from None


def main():
    """The worker: imports what it needs, then waits on its socket (fd 0) for one job, {"inputs": [{"out",
    "name"}], "max_pixels", "memory", "cpu_seconds", "file_size"}, with one file descriptor per input; one JSON
    line per image on stdout ({"file": name} or {"error": one line}); stops at the first error. Exits when the
    socket closes without a job (the server is gone)."""
    import numpy  # noqa: F401 - imported while nobody waits: the job's conversions need it
    from PIL import Image, ImageOps  # noqa: F401

    import nst.files  # noqa: F401
    import nst.images  # noqa: F401

    Image.init()  # every image plugin, the PNG encoder's included

    channel = socket.socket(fileno=0)
    message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 16)
    if not message:
        return
    job = json.loads(message)
    limit_self(job["memory"], job["cpu_seconds"], job["file_size"])
    os.umask(0o077)
    for item, fd in zip(job["inputs"], fds):
        try:
            with os.fdopen(fd, "rb") as file:
                decode_one(file, Path(item["out"]), item["name"], job["max_pixels"])
            print(json.dumps({"file": Path(item["out"]).name}), flush=True)
        except NstError as exc:
            print(json.dumps({"error": str(exc)}), flush=True)
            return


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # the answers are out: the interpreter's teardown would only make the Start wait
