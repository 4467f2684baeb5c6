"""safetensors writing for the fixture scripts, without the safetensors package (Debian has
none): an 8-byte little-endian header length, a JSON header, raw little-endian data."""
import json
import os
import struct

import numpy as np

_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64",
           np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("uint8"): "U8"}


def save(path, tensors, metadata=None):
    """tensors: dict name -> torch tensor or numpy array; metadata: dict str -> str-able."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)  # torch or numpy
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(len(h) + 8)) % 64)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)

    os.replace(path + ".tmp", path)


def load(path):
    """Returns (dict name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    inv = {v: k for k, v in _DTYPES.items()}
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(data[b:en], dtype=inv[e["dtype"]]).reshape(e["shape"]).copy()
    return out, meta
