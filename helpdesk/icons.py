"""The help desk's icon, drawn here (no image library, no CDN): a white cross on a rounded
brand-blue square. ``python -m helpdesk.icons`` writes the PNG sizes and favicon.ico that
helpdesk/static/icons/ holds (icon.svg is the same drawing by hand); the tests check the
files in the repository are what this draws. Pure: no Flask."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

BRAND = (0x0B, 0x53, 0x94)
WHITE = (0xFF, 0xFF, 0xFF)
PNG_SIZES = (16, 32, 180, 192, 512)
ICO_SIZES = (16, 32)
STATIC_ICONS = Path(__file__).resolve().parent / "static" / "icons"
SAMPLES = 3  # per axis: anti-aliased edges


def _inside_square(x: float, y: float, radius: float = 0.1875) -> bool:
    """The unit square with rounded corners (radius as a share of the side)."""
    cx = min(max(x, radius), 1 - radius)
    cy = min(max(y, radius), 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _inside_cross(x: float, y: float) -> bool:
    arm, half = 0.34, 0.11  # from the centre: arm length, half the bar's width
    dx, dy = abs(x - 0.5), abs(y - 0.5)
    return (dx <= half and dy <= arm) or (dy <= half and dx <= arm)


def pixels(size: int) -> list[bytes]:
    """RGBA rows of the icon at size × size."""
    rows = []
    step = 1 / (size * SAMPLES)
    for py in range(size):
        row = bytearray()
        for px in range(size):
            square = cross = 0
            for sy in range(SAMPLES):
                y = (py * SAMPLES + sy + 0.5) * step
                for sx in range(SAMPLES):
                    x = (px * SAMPLES + sx + 0.5) * step
                    if _inside_square(x, y):
                        square += 1
                        if _inside_cross(x, y):
                            cross += 1
            n = SAMPLES * SAMPLES
            if square == 0:
                row += b"\0\0\0\0"
                continue
            white = cross / square
            colour = bytes(round(b + (w - b) * white) for b, w in zip(BRAND, WHITE, strict=True))
            row += colour + bytes([round(255 * square / n)])
        rows.append(bytes(row))
    return rows


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + row for row in pixels(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def ico(sizes: tuple[int, ...] = ICO_SIZES) -> bytes:
    """A favicon.ico holding PNG images (every browser in use reads PNG-in-ICO)."""
    images = [png(size) for size in sizes]
    offset = 6 + 16 * len(images)
    directory = b""
    for size, image in zip(sizes, images, strict=True):
        directory += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset)
        offset += len(image)
    return struct.pack("<HHH", 0, 1, len(images)) + directory + b"".join(images)


NAMES = (*(f"icon-{size}.png" for size in PNG_SIZES), "favicon.ico")


def draw(name: str) -> bytes:
    """One of the files in NAMES."""
    return ico() if name == "favicon.ico" else png(int(name.removeprefix("icon-").removesuffix(".png")))


def files() -> dict[str, bytes]:
    return {name: draw(name) for name in NAMES}


def main(target: Path = STATIC_ICONS) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files().items():
        (target / name).write_bytes(data)
        print(f"wrote {target / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else STATIC_ICONS)
