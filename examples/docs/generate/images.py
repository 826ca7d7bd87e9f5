"""Small raster pictures for the sample documents, written without Pillow.

PNG is written with zlib; GIF with a small LZW encoder. Everything is deterministic, so
running the generator twice gives the same bytes.
"""

import math
import struct
import zlib


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, pixels, alpha):
    """Encodes rows of (r, g, b[, a]) tuples as PNG (8-bit RGB or RGBA, filter 'sub')."""
    channels = 4 if alpha else 3
    raw = bytearray()
    for row in pixels:
        raw.append(1)  # filter type 1 (sub): smooth pictures compress much better
        prev = [0] * channels
        for px in row:
            for c in range(channels):
                v = px[c]
                raw.append((v - prev[c]) & 0xFF)
                prev[c] = v
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def _lzw(indices, min_code_size):
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    out, acc, nbits = bytearray(), 0, 0

    def put(code, size):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += size
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    table = {bytes([i]): i for i in range(clear)}
    size, next_code = min_code_size + 1, eoi + 1
    put(clear, size)
    w = bytes([indices[0]])
    for k in indices[1:]:
        wk = w + bytes([k])
        if wk in table:
            w = wk
            continue
        put(table[w], size)
        if next_code < 4095:
            table[wk] = next_code
            # The decoder adds this entry one code later, so the width grows once the
            # entry just added needs the next bit.
            if next_code == (1 << size) and size < 12:
                size += 1
            next_code += 1
        else:
            put(clear, size)
            table = {bytes([i]): i for i in range(clear)}
            size, next_code = min_code_size + 1, eoi + 1
        w = bytes([k])
    put(table[w], size)
    put(eoi, size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def gif(width, height, palette, indices, transparent=None):
    """A one-frame GIF89a; `palette` has at most 256 (r, g, b) entries."""
    bits = max(1, (len(palette) - 1).bit_length())
    table = list(palette) + [(0, 0, 0)] * ((1 << bits) - len(palette))
    data = bytearray(b"GIF89a")
    data += struct.pack("<HHBBB", width, height, 0x80 | (bits - 1), 0, 0)
    for r, g, b in table:
        data += bytes([r, g, b])
    if transparent is not None:
        data += bytes([0x21, 0xF9, 4, 1, 0, 0, transparent, 0])
    data += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    min_code_size = max(2, bits)
    data.append(min_code_size)
    stream = _lzw(indices, min_code_size)
    for i in range(0, len(stream), 255):
        block = stream[i : i + 255]
        data.append(len(block))
        data += block
    data += b"\x00;"
    return bytes(data)


def _mix(a, b, t):
    t = min(1.0, max(0.0, t))
    return tuple(a[i] + (b[i] - a[i]) * t for i in range(3))


def _smooth(edge, x):
    """Coverage of an edge 1 px wide: 0 outside, 1 inside (x > edge)."""
    return min(1.0, max(0.0, x - edge + 0.5))


def _rand(seed):
    state = seed
    while True:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        yield (state >> 8) / float(1 << 23) - 0.5


def landscape(width=160, height=100):
    """A photo-like mountain lake at dusk, RGB."""
    noise = _rand(7)
    sun = (width * 0.68, height * 0.40, width * 0.06)
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            horizon = height * 0.58
            sky = _mix((38, 60, 128), (252, 178, 120), (y / horizon) ** 1.4)
            d = math.hypot(x - sun[0], y - sun[1])
            glow = math.exp(-((d / (width * 0.22)) ** 2))
            c = _mix(sky, (255, 236, 190), glow * 0.7)
            c = _mix(c, (255, 250, 225), _smooth(d, sun[2]))
            far = height * 0.44 + 7 * math.sin(x * 0.07) + 4 * math.sin(x * 0.19 + 1.3)
            c = _mix(c, _mix((104, 86, 140), (150, 120, 160), (y - far) / 20), _smooth(far, y))
            near = height * 0.56 + 5 * math.sin(x * 0.045 + 2) + 2.5 * math.sin(x * 0.21)
            c = _mix(c, _mix((46, 58, 70), (24, 34, 40), (y - near) / 20), _smooth(near, y))
            lake = height * 0.72
            if y > lake:
                mirror = 2 * lake - y + 2 * math.sin(y * 1.3 + x * 0.05)
                ref = _mix((38, 60, 128), (252, 178, 120), max(0.0, mirror / horizon) ** 1.4)
                depth = (y - lake) / (height - lake)
                ref = _mix(ref, (34, 58, 96), 0.45 + 0.4 * depth)
                ripple = 0.5 + 0.5 * math.sin(y * 2.1 + math.sin(x * 0.3) * 1.5)
                ref = _mix(ref, (255, 226, 170), 0.8 * ripple * max(0.0, 1 - abs(x - sun[0]) / 9))
                c = _mix(c, ref, _smooth(lake, y))
            n = next(noise) * 4
            row.append(tuple(int(max(0, min(255, round(v + n)))) for v in c))
        rows.append(row)
    return png(width, height, rows, alpha=False)


def portrait(width=64, height=80):
    """A stylised head-and-shoulders portrait on a teal backdrop, RGB."""
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            c = _mix((32, 150, 160), (40, 70, 150), (x + y) / (width + height))
            sh = math.hypot((x - 32) / 30, (y - 92) / 30)
            c = _mix(c, _mix((240, 120, 80), (200, 80, 60), (y - 60) / 20), min(1.0, max(0.0, (1 - sh) * 30 + 0.5)))
            neck = abs(x - 32) < 7 and 40 < y < 66
            if neck:
                c = _mix(c, (214, 160, 120), 1)
            hd = math.hypot((x - 32) / 15, (y - 36) / 19)
            skin = _mix((236, 188, 150), (200, 140, 105), (x - 20) / 30)
            c = _mix(c, skin, min(1.0, max(0.0, (1 - hd) * 16 + 0.5)))
            hair = math.hypot((x - 32) / 17, (y - 28) / 16) < 1 and (y < 28 or abs(x - 32) > 12)
            if hair:
                c = _mix(c, (60, 40, 35), 1)
            for ex in (26, 38):
                if math.hypot(x - ex, y - 37) < 1.8:
                    c = (40, 30, 30)
            if abs(x - 32) < 5 and 46 <= y <= 47:
                c = (170, 80, 80)
            row.append(tuple(int(round(v)) for v in c))
        rows.append(row)
    return png(width, height, rows, alpha=False)


def logo_mark(size=32):
    """A round gradient logo with transparent corners, RGBA."""
    rows = []
    r = size / 2
    for y in range(size):
        row = []
        for x in range(size):
            d = math.hypot(x + 0.5 - r, y + 0.5 - r)
            a = _smooth(d, r - 1)
            c = _mix((99, 102, 241), (236, 72, 153), (x + y) / (2 * size))
            if math.hypot(x + 0.5 - r, y + 0.5 - r * 0.8) < r * 0.35:
                c = (255, 255, 255)
            row.append(tuple(int(round(v)) for v in c) + (int(round(a * 255)),))
        rows.append(row)
    return png(size, size, rows, alpha=True)


ROBOT = [
    "......1111......",
    ".......11.......",
    "...1111111111...",
    "..122222222221..",
    "..123322223321..",
    "..123422224321..",
    "..122222222221..",
    "..122555555221..",
    "..122222222221..",
    "...1111111111...",
    ".....122221.....",
    "..11166666611...",
    ".1.16666666661.1",
    ".1.16667766661.1",
    "...16666666661..",
    "...111....111...",
]


def robot_gif():
    """A 16x16 pixel-art robot with a transparent background, GIF."""
    palette = [
        (0, 0, 0),
        (30, 41, 59),
        (148, 163, 184),
        (255, 255, 255),
        (14, 165, 233),
        (244, 63, 94),
        (250, 204, 21),
        (34, 197, 94),
    ]
    indices = []
    for line in ROBOT:
        for ch in line:
            indices.append(0 if ch == "." else int(ch))
    return gif(16, 16, palette, indices, transparent=0)
