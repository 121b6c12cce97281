"""Just enough GGUF (v3) to write the double's simulated model blobs and read the metadata of imported ones.

Only the header and the key/value metadata are handled; tensors are never read. A simulated model blob
is a valid GGUF header with zero tensors followed by padding, so tools that sniff the magic see GGUF.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

MAGIC = b"GGUF"

_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(13)
_SCALARS = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}

# general.file_type numbers (llama.cpp's LLAMA_FTYPE_*) for the quantisations the double knows.
FILE_TYPES = {
    "F32": 0,
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_M": 12,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q5_K_S": 16,
    "Q5_K_M": 17,
    "Q6_K": 18,
    "BF16": 32,
    "MXFP4": 38,
}
FILE_TYPE_NAMES = {number: name for name, number in FILE_TYPES.items()}


class NotGGUFError(ValueError):
    pass


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def _value(v: Any) -> tuple[int, bytes]:
    if isinstance(v, bool):
        return _BOOL, struct.pack("<?", v)
    if isinstance(v, int):
        if 0 <= v < 2**32:
            return _UINT32, struct.pack("<I", v)
        return _UINT64, struct.pack("<Q", v)
    if isinstance(v, float):
        return _FLOAT32, struct.pack("<f", v)
    if isinstance(v, str):
        return _STRING, _string(v)
    if isinstance(v, list):
        items = [_value(item) for item in v]
        item_type = items[0][0] if items else _STRING
        return _ARRAY, struct.pack("<IQ", item_type, len(items)) + b"".join(raw for _, raw in items)
    raise TypeError(f"cannot encode {type(v).__name__} in GGUF")


def encode_header(kv: dict[str, Any]) -> bytes:
    """A GGUF v3 header with the given metadata and no tensors."""
    out = [MAGIC, struct.pack("<IQQ", 3, 0, len(kv))]
    for key, value in kv.items():
        value_type, raw = _value(value)
        out.append(_string(key) + struct.pack("<I", value_type) + raw)
    return b"".join(out)


class _Reader:
    def __init__(self, f: BinaryIO):
        self.f = f

    def take(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise NotGGUFError("truncated GGUF header")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 1 << 24:
            raise NotGGUFError("implausible GGUF string length")
        return self.take(n).decode(errors="replace")

    def value(self, value_type: int) -> Any:
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type])
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if count > 1 << 26:
                raise NotGGUFError("implausible GGUF array length")
            return [self.value(item_type) for _ in range(count)]
        raise NotGGUFError(f"unknown GGUF value type {value_type}")


def read_metadata(f: BinaryIO) -> dict[str, Any]:
    """Read the key/value metadata of a GGUF file (raises NotGGUFError when it is not one)."""
    r = _Reader(f)
    if r.take(4) != MAGIC:
        raise NotGGUFError("supplied file was not in GGUF format")
    version = r.unpack("<I")
    if version not in (2, 3):
        raise NotGGUFError(f"unsupported GGUF version {version}")
    r.unpack("<Q")  # tensor count
    kv_count = r.unpack("<Q")
    kv: dict[str, Any] = {}
    for _ in range(kv_count):
        key = r.string()
        kv[key] = r.value(r.unpack("<I"))
    return kv
