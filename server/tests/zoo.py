#!/usr/bin/env python3
"""Writes a zoo of hostile artifacts, one of each kind Vitrine's readers must survive, into
two build folders: `DIR/first` (the baseline, a green build) and `DIR/second`.

Used by the integration suite (server/tests/it/zoo.rs) and by bench/hostile.sh. Every file
is small on disk and large in what a careless reader would make of it.

    python3 server/tests/zoo.py DIR
"""

import gzip
import os
import struct
import sys
import zlib


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def png(width, height):
    """An RGBA PNG of zeros, streamed row by row into zlib (a few hundred KiB on disk)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\0" * (1 + 4 * width)
    parts = [z.compress(row) for _ in range(height)]
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def zip_stored(entries, directory_lie=None):
    """A zip of stored (uncompressed) members, written by hand; `directory_lie` replaces the
    end record's (size, offset) of the central directory."""
    out = bytearray()
    directory = bytearray()
    for name, data in entries:
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
        out += name + data
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0, 0, 0, 0, 0, offset
        )
        directory += name
    size, offset = directory_lie or (len(directory), len(out))
    out += directory
    count = len(entries)
    if count > 0xFFFF:
        # Zip64: the counts in a record of their own, found through a locator.
        record = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, record, 1)
        count = 0xFFFF
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, offset, 0)
    return bytes(out)


def zip_deflated_zeros(name, size):
    """One member: `size` zeros, deflated (a thousandfold smaller)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\0" * (1 << 20)
    crc = 0
    parts = []
    for _ in range(size // len(block)):
        parts.append(z.compress(block))
        crc = zlib.crc32(block, crc)
    parts.append(z.flush())
    data = b"".join(parts)
    crc &= 0xFFFFFFFF
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0) + name
    directory = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0, 0, 0, 0, 0, 0
    ) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(local) + len(data), 0)
    return local + data + directory + end


def tar_header(name, kind, size):
    h = bytearray(512)
    h[0 : len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    if size < 8**11:
        h[124:136] = b"%011o\0" % size
    else:
        h[124] = 0x80
        h[128:136] = struct.pack(">Q", size)
    h[136:148] = b"00000000000\0"
    h[156] = kind
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def padded(data):
    return data + b"\0" * (-len(data) % 512)


def main(root):
    first = os.path.join(root, "first")
    second = os.path.join(root, "second")

    # JUnit: a 1 MiB suite name over 250,000 cases (7 MB) (the name once copied into every case took
    # a server past 3 GiB), an element of 200,000 attributes (quadratic duplicate checks),
    # 200,000 nested suites, and entity expansion that must not happen.
    name = b"s" * (1 << 20)
    cases = b"".join(b'<testcase name="t%d"/>' % i for i in range(250_000))
    write(os.path.join(first, "junit/bomb.xml"), b'<testsuite name="' + name + b'">' + cases + b"</testsuite>")
    attributes = b"".join(b' a%d="x"' % i for i in range(200_000))
    write(os.path.join(first, "junit/attributes.xml"), b"<testsuite><testcase" + attributes + b' name="n"/></testsuite>')
    write(os.path.join(first, "junit/deep.xml"), b"<testsuite>" * 200_000 + b"<testcase/>" + b"</testsuite>" * 200_000)
    laughs = [b'<!ENTITY l0 "lol">'] + [b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10)]
    write(
        os.path.join(first, "junit/laughs.xml"),
        b'<?xml version="1.0"?><!DOCTYPE t [' + b"".join(laughs) + b']><testsuite><testcase name="c">'
        b'<failure message="m">&l9;</failure></testcase></testsuite>',
    )

    # JSON: nested arrays that pretty-printing blows up two hundredfold.
    unit = b"[" * 100 + b"]" * 100
    write(os.path.join(first, "data/nested.json"), b"[" + b",".join([unit] * 5000) + b"]")

    # Logs: a colour change at every character; a progress bar redrawn a hundred thousand times.
    write(os.path.join(first, "logs/colours.log"), b"".join(b"\x1b[3%dmx" % (i % 8) for i in range(170_000)))
    write(os.path.join(first, "logs/progress.log"), b"".join(b"\r%6d%%" % i for i in range(130_000)) + b"\n")

    # Screenshots: a wide one in the baseline and a tall one of the same path in the next
    # build; each within the image limit (16 megapixels), their comparison a canvas of 8,000 x 8,000.
    write(os.path.join(first, "screens/home.png"), png(7_999, 2_000))
    write(os.path.join(second, "screens/home.png"), png(2_000, 7_999))

    # Zips: a central directory of 120,000 entries; one whose end record claims a directory
    # of 4 GiB at offset 0; one member of 256 MiB of zeros, deflated.
    many = [(b"d/%06d.txt" % i, b"") for i in range(120_000)]
    write(os.path.join(first, "archives/many.zip"), zip_stored(many))
    write(
        os.path.join(first, "archives/lying.zip"),
        zip_stored([(b"a.txt", b"a")], directory_lie=(0xFFFFFFF0, 0)),
    )
    write(os.path.join(first, "archives/bomb.zip"), zip_deflated_zeros(b"zeros.txt", 256 << 20))

    # Tars: a GNU long name claiming 1 GiB, a PAX header claiming 2 GiB, and a tar.gz whose one
    # file is 512 MiB of zeros (gzip makes that a few hundred KiB).
    file = tar_header(b"x.txt", ord("0"), 4) + padded(b"data")
    write(
        os.path.join(first, "archives/longname.tar"),
        tar_header(b"././@LongLink", ord("L"), 1 << 30) + padded(b"a" * 1000) + file + b"\0" * 1024,
    )
    write(
        os.path.join(first, "archives/pax.tar"),
        tar_header(b"PaxHeader", ord("x"), 2 << 30) + padded(b"30 path=aaaaaaaaaaaaaaaaaaaaa\n") + file + b"\0" * 1024,
    )
    with open(os.path.join(first, "archives/bomb.tar.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
            gz.write(tar_header(b"zeros.bin", ord("0"), 512 << 20))
            block = b"\0" * (1 << 20)
            for _ in range(512):
                gz.write(block)
            gz.write(b"\0" * 1024)

    # A folder of zeros, downloaded as one zip (never gzipped again).
    write(os.path.join(first, "zeros/zeros.bin"), b"\0" * (32 << 20))


if __name__ == "__main__":
    main(sys.argv[1])
