"""Files made to hurt a decoder or a reader, for the studio's tests: a progressive JPEG of hundreds of scans (each
one a pass over every block, a few dozen bytes each), a uniform PNG that decodes to far more than its size."""

import struct
import zlib


def bits_to_bytes(bits):
    """Entropy-coded JPEG data from a string of '0'/'1' (padded with 1-bits, every 0xFF byte stuffed with 0x00)."""
    bits += "1" * (-len(bits) % 8)
    out = bytearray()
    for i in range(0, len(bits), 8):
        byte = int(bits[i : i + 8], 2)
        out.append(byte)
        if byte == 0xFF:
            out.append(0)
    return bytes(out)


def segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def many_scans_jpeg(width, height, scans, components=3):
    """A progressive JPEG of width x height (colour, 4:4:4, or grey with components=1): a DC scan per component,
    then AC scans, `scans` in all, each one an end-of-band run over every block of a component (libjpeg decodes
    every one of them, a pass over the whole picture for a few dozen bytes)."""
    blocks = -(-width // 8) * -(-height // 8)
    dc = bits_to_bytes("0" * blocks)  # DC difference 0 in every block: the code "0"
    runs, left = [], blocks
    while left:  # end-of-band runs of 2^14..2^15-1 blocks (symbol 0xE0, code "01"), the rest with 0xD0 ("00")
        run = min(left, 32767)
        r = run.bit_length() - 1
        runs.append(("01" if r == 14 else "00") + format(run - (1 << r), f"0{r}b"))
        left -= run
    assert all(len(code) in (16, 15) for code in runs[:-1])
    assert runs[-1][:2] == "00" or runs[-1][:2] == "01"
    ac = bits_to_bytes("".join(runs))
    ids = range(1, components + 1)
    head = (
        b"\xff\xd8"
        + segment(0xDB, b"\x00" + bytes([1] * 64))
        + segment(0xC2, struct.pack(">BHHB", 8, height, width, components) + b"".join(bytes([c, 0x11, 0]) for c in ids))
        + segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
        + segment(0xC4, b"\x10" + bytes([0, 2] + [0] * 14) + b"\xd0\xe0")
    )
    dc_scans = b"".join(segment(0xDA, bytes([1, c, 0, 0, 0, 0])) + dc for c in ids)
    ac_scans = [segment(0xDA, bytes([1, c, 0, 1, 63, 0])) + ac for c in ids]
    assert scans >= components
    return head + dc_scans + b"".join(ac_scans[i % components] for i in range(scans - components)) + b"\xff\xd9"


def uniform_png(width, height, rows=None):
    """An RGBA PNG of width x height of one colour: a few hundred KB that decode to width*height*4 bytes (with
    `rows`, only that many rows of pixel data: a header that promises more than the file holds)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(6), b"\0" + b"\x80\x40\x20\xff" * width
    data = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", data)
        + chunk(b"IEND", b"")
    )


def png_chunks(data):
    """The chunk types of a PNG file, in order."""
    pos, kinds = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        kinds.append(kind.decode("latin-1"))
        pos += 12 + length
    return kinds
