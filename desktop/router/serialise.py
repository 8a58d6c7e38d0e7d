"""Byte-for-byte reproducible ``.npz`` files (numpy's own writer stamps the current time)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["write_npz"]


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            raw = io.BytesIO()
            np.lib.format.write_array(raw, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, raw.getvalue(), compresslevel=9)
    Path(path).write_bytes(buf.getvalue())
