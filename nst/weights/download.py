"""The pretrained VGG-19 weights (MatConvNet .mat file): find, download, resume and verify them.

The download goes to `<name>.part` beside the target and is renamed to the final name only after
its MD5 and SHA-256 match, so a file under the final name is always a verified one. A network cut
keeps the partial file, and the next run resumes it with an HTTP Range request.
"""

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from nst.errors import NstError

WEIGHTS_URL = "https://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"
WEIGHTS_MD5 = "106118b7cf60435e6d8e04f6a6dc3657"
WEIGHTS_SHA256 = "abdb57167f82a2a1fbab1e1c16ad9373411883f262a1a37ee5db2e6fb0044695"
OLDER_WEIGHTS_MD5 = "8ee3263992981a1d26e73b3ca028a123"  # only its MD5 is published
CURRENT_FILE = "the current official file (MatConvNet's current layout: layers + meta)"
OLDER_FILE = "the older official file (MatConvNet's older layout: layers + normalization + classes)"
ALSO_ACCEPTED = ((OLDER_FILE, OLDER_WEIGHTS_MD5, None),)
"""Files a download may also bring besides the current one (a mirror serving the older file): (what, MD5, SHA-256)."""
DEFAULT_WEIGHTS = Path("pretrained-model/imagenet-vgg-verydeep-19.mat")
"""The homework's place for the VGG-19 file; where a run without --weights looks and downloads: nst.weights.locate."""

CHUNK = 1 << 20  # 1 MiB
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)  # URLError and timeouts are OSErrors


def weights_url():
    """The download URL: $NST_WEIGHTS_URL if set (mirrors, tests), else WEIGHTS_URL."""
    return os.environ.get("NST_WEIGHTS_URL") or WEIGHTS_URL


def part_path(path):
    """The partial-download file beside `path`: `<name>.part`."""
    path = Path(path)
    return path.with_name(path.name + ".part")


def file_digests(path):
    """Return (md5hex, sha256hex) of a file, read in 1 MiB chunks."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()


def _one_line(text):
    """Collapse whitespace (including newlines) so a message stays on one line."""
    return " ".join(str(text).split())


def _sums(md5, sha256):
    """'MD5 x, SHA-256 y' for the checksums that are given."""
    parts = [f"{name} {value}" for name, value in (("MD5", md5), ("SHA-256", sha256)) if value]
    return ", ".join(parts) if parts else "no checksum given"


def _do_it_yourself(url, path, md5, sha256):
    """The manual fix every download error ends with."""
    return (
        f"download {DEFAULT_WEIGHTS.name} yourself from {url} ({_sums(md5, sha256)}) "
        f"and put it at {path}, or pass --weights FILE"
    )


def _network_error(url, path, md5, sha256, reason, kept=None):
    """NstError for a failed download; mentions the kept partial file if there is one."""
    resume = f"; the partial download {kept} is kept and the next run resumes it" if kept else ""
    error = NstError(
        _one_line(
            f"could not download the VGG-19 weights from {url} ({reason}){resume}: run again, or "
            + _do_it_yourself(url, path, md5, sha256)
        )
    )
    error.reason = _one_line(f"no download from {url}: {reason}")  # the short form, for the fallback's line
    return error


def _checksums_match(file, md5, sha256):
    """(ok, got_md5, got_sha256) for `file` against the expected values (None skips one)."""
    if not md5 and not sha256:
        return True, None, None
    got_md5, got_sha = file_digests(file)
    ok = (not md5 or got_md5 == md5.lower()) and (not sha256 or got_sha == sha256.lower())
    return ok, got_md5, got_sha


def _total_from(resp, offset):
    """Full file size from Content-Range ('bytes a-b/N') or offset + Content-Length; None if unknown."""
    match = re.fullmatch(r"\s*bytes\s+\d+-\d+/(\d+)\s*", resp.headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = resp.headers.get("Content-Length")
    return offset + int(length) if length and length.strip().isdigit() else None


def _range_start(resp):
    """First byte position of a 206 answer's Content-Range, or None."""
    match = re.match(r"\s*bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _fetch(url, part, progress, timeout):
    """Download `url` into `part`, resuming it if it exists. Returns the HTTP status (416: nothing sent).

    Network problems raise a plain exception (one of _NETWORK_ERRORS) or IncompleteRead; the
    partial file is left as it is.
    """
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "nst-weights/1", "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            return 416
        raise
    with resp:
        if resp.status == 206 and offset and _range_start(resp) != offset:
            part.unlink()  # an answer for some other range: drop the partial file and ask for it all
            return _fetch(url, part, progress, timeout)
        if resp.status == 206 and offset:
            mode, total = "ab", _total_from(resp, offset)
        else:  # 200: the server ignored the range, start from the beginning
            offset, mode, total = 0, "wb", _total_from(resp, 0)
        with (
            open(part, mode) as f,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := resp.read1(CHUNK):  # read1: what has arrived, so a timeout loses nothing
                f.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise http.client.IncompleteRead(b"", total - size if size < total else None)
    return resp.status


def official_file(md5, sha256=None):
    """CURRENT_FILE or OLDER_FILE when the digests are an official file's, else None."""
    if md5 == WEIGHTS_MD5 and sha256 in (None, WEIGHTS_SHA256):
        return CURRENT_FILE
    if md5 == OLDER_WEIGHTS_MD5:
        return OLDER_FILE
    return None


def _accepted(got_md5, got_sha, md5, sha256, also):
    """What the downloaded file is ("the expected file" or an `also` entry's description), or None."""
    if (not md5 or got_md5 == md5.lower()) and (not sha256 or got_sha == sha256.lower()):
        return official_file(got_md5, got_sha) or "the expected file"
    for what, other_md5, other_sha in also:
        if (not other_md5 or got_md5 == other_md5.lower()) and (not other_sha or got_sha == other_sha.lower()):
            return what
    return None


def download_weights(
    path, url=None, md5=WEIGHTS_MD5, sha256=WEIGHTS_SHA256, progress=True, timeout=30, also=ALSO_ACCEPTED, log=None
):
    """Download the weights to `path` via `<name>.part` (resumed if present), verify, rename; return `path`.

    The file must have the MD5 and SHA-256 given, or match one of `also` ((what, MD5, SHA-256 or None), ...;
    by default the older official file, which a mirror from NST_WEIGHTS_URL may serve); `log` (e.g. print)
    is told which one arrived. Raises NstError on network/HTTP errors (the partial file is kept for resuming)
    and on a checksum mismatch (the partial file is deleted). Nothing appears under `path` unless verified.
    """
    path = Path(path).absolute()
    url = url or weights_url()
    part = part_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NstError(
            _one_line(
                f"cannot create the folder {path.parent} for the VGG-19 weights ({err}): "
                f"create it or pass --weights FILE"
            )
        ) from err
    for attempt in range(2):
        try:
            status = _fetch(url, part, progress, timeout)
        except urllib.error.HTTPError as err:
            raise _network_error(
                url, path, md5, sha256, f"HTTP {err.code} {err.reason}", kept=part if part.exists() else None
            ) from err
        except http.client.IncompleteRead as err:
            raise _network_error(
                url, path, md5, sha256, "the connection was cut before the end", kept=part if part.exists() else None
            ) from err
        except TimeoutError as err:
            raise _network_error(
                url, path, md5, sha256, f"no answer within {timeout} s", kept=part if part.exists() else None
            ) from err
        except urllib.error.URLError as err:
            raise _network_error(url, path, md5, sha256, err.reason, kept=part if part.exists() else None) from err
        except _NETWORK_ERRORS as err:
            raise _network_error(
                url, path, md5, sha256, str(err) or type(err).__name__, kept=part if part.exists() else None
            ) from err
        got_md5, got_sha = file_digests(part)
        what = _accepted(got_md5, got_sha, md5, sha256, also)
        if what:
            os.replace(part, path)
            if log:
                log(f"Downloaded {what}: {path} ({_sums(got_md5, got_sha)})")
            return path
        part.unlink(missing_ok=True)
        if status == 416 and attempt == 0:
            continue  # the server said the partial file was complete, but it was bogus: restart once
        others = "".join(f", or {what}: {_sums(m, s)}" for what, m, s in also)
        error = NstError(
            _one_line(
                f"the VGG-19 weights downloaded from {url} have the wrong checksum (got {_sums(got_md5, got_sha)}; "
                f"expected {_sums(md5, sha256)}{others}) and were deleted: run again, or "
                + _do_it_yourself(url, path, md5, sha256)
            )
        )
        error.reason = f"the file downloaded from {url} had the wrong checksum"
        raise error
    raise AssertionError("unreachable")


def verify_weights(path, md5=WEIGHTS_MD5, sha256=WEIGHTS_SHA256):
    """Check the weights file's MD5/SHA-256; return `path` or raise NstError (slow: reads 510 MB)."""
    path = Path(path)
    if not path.is_file():
        raise NstError(
            f"the VGG-19 weights file {path} does not exist: " + _do_it_yourself(weights_url(), path, md5, sha256)
        )
    ok, got_md5, got_sha = _checksums_match(path, md5, sha256)
    if not ok:
        raise NstError(
            _one_line(
                f"{path} is not the expected VGG-19 weights file (got {_sums(got_md5, got_sha)}; expected "
                f"{_sums(md5, sha256)}): delete it and run again to download it, or "
                + _do_it_yourself(weights_url(), path, md5, sha256)
            )
        )
    return path


def ensure_weights(
    path=DEFAULT_WEIGHTS, allow_download=True, progress=True, md5=WEIGHTS_MD5, sha256=WEIGHTS_SHA256, also=ALSO_ACCEPTED
):
    """Return `path` if it exists (not checksummed); else download it if it has the default name and downloads are allowed.

    Raises NstError when the file is missing and cannot or may not be downloaded; messages name the absolute path.
    """
    path = Path(path).absolute()
    if path.is_file():
        return path
    url = weights_url()
    if path.exists():
        raise NstError(f"the VGG-19 weights path {path} is not a file: pass --weights with the .mat file")
    if path.name != DEFAULT_WEIGHTS.name:
        raise NstError(
            _one_line(
                f"the weights file {path} does not exist: check the --weights path, or download "
                f"{DEFAULT_WEIGHTS.name} from {url} ({_sums(md5, sha256)}) and pass its path with --weights"
            )
        )
    if not allow_download:
        raise NstError(
            _one_line(
                f"the VGG-19 weights file {path} does not exist and downloading is turned off: "
                + _do_it_yourself(url, path, md5, sha256)
            )
        )
    print(f"Downloading VGG-19 weights (510 MB) from {url} to {path} ...", flush=True)
    return download_weights(
        path, url=url, md5=md5, sha256=sha256, progress=progress, also=also, log=lambda line: print(line, flush=True)
    )
