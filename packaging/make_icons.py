"""Build the Windows .ico and the macOS .icns from resources/icons/routedesk-<N>.png.

Standard library only, so it runs on every CI machine before PyInstaller: both formats
may hold PNG data as is (ICO since Windows Vista, ICNS since macOS 10.7).

    python packaging/make_icons.py OUT_DIR   ->  OUT_DIR/routedesk.ico, OUT_DIR/routedesk.icns
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
#: ICNS element type -> pixel size of the PNG it holds (the @2x types reuse larger PNGs).
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512),
    (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512),
)


def _png(size: int) -> bytes:
    data = (ICONS / f"routedesk-{size}.png").read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"routedesk-{size}.png is not a PNG")
    return data


def make_ico(out: Path) -> Path:
    images = [(s, _png(s)) for s in ICO_SIZES]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, data in images:
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        blobs += data
    out.write_bytes(header + entries + blobs)
    return out


def make_icns(out: Path) -> Path:
    body = b""
    for kind, size in ICNS_TYPES:
        data = _png(size)
        body += kind + struct.pack(">I", len(data) + 8) + data
    out.write_bytes(b"icns" + struct.pack(">I", len(body) + 8) + body)
    return out


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else ROOT / "build" / "icons"
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in (make_ico(out_dir / "routedesk.ico"), make_icns(out_dir / "routedesk.icns")):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
