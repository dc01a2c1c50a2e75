"""A tiny safetensors writer and reader (there is no `safetensors` Python package here).

Format: 8-byte little-endian header length N, N bytes of JSON header
({name: {dtype, shape, data_offsets: [begin, end]}, optional "__metadata__": {str: str}}),
then the raw little-endian tensor bytes. Offsets are relative to the end of the header.
"""
from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Optional

import numpy as np

# safetensors dtype name <-> numpy dtype (little-endian).
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {dt: name for name, dt in _DTYPES.items()}


def _to_numpy(value) -> np.ndarray:
    # Accept torch tensors without importing torch here.
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.newbyteorder("<") not in _NAMES and array.dtype not in _NAMES:
        raise ValueError(f"unsupported dtype {array.dtype}; expected one of {sorted(_DTYPES)}")
    return np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False))


def save_file(tensors: Mapping[str, object], path: str, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write `tensors` (name -> numpy array or torch tensor) to `path`, in the given order."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, value in tensors.items():
        array = _to_numpy(value)
        data = array.tobytes()
        header[name] = {
            "dtype": _NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad the header with spaces so tensor data starts 8-byte aligned (as the reference writer does).
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


def load_file(path: str) -> Dict[str, np.ndarray]:
    """Read every tensor of a safetensors file into numpy arrays (copies, writable)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors header (need 8)")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if 8 + header_len > len(raw):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file ({len(raw)} bytes)")
    header = json.loads(raw[8 : 8 + header_len].decode("utf-8"))
    body = raw[8 + header_len :]
    out: Dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if end - begin != count * dtype.itemsize or end > len(body):
            raise ValueError(f"{path}: tensor {name} byte range {begin}..{end} does not match shape {info['shape']}")
        out[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(info["shape"]).copy()
    return out
