"""Sorting for the analytics' NumPy code: an argsort that runs at the speed of a plain sort.

NumPy's ``sort`` of integers uses SIMD code on an AVX2 machine (like this project's laptops and CI) while its
``argsort`` does not. When the keys are non-negative and small enough, each key and its position are packed into
one int64 (key in the high bits), sorted, and unpacked, which gives the stable argsort's order at close to the
plain sort's speed: on 31.8M int64 keys here, 0.97 s, against 0.74 s for the plain sort and 4.5 s for a stable
argsort.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sorted_with_order"]


def sorted_with_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys sorted, the positions that sort them), as ``keys[o], o`` with ``o = np.argsort(keys, kind="stable")``:
    equal keys keep their input order. The keys keep their dtype; the order is int64."""
    n = len(keys)
    pos_bits = max(1, (n - 1).bit_length())
    if n and np.issubdtype(keys.dtype, np.integer) and int(keys.min()) >= 0 \
            and int(keys.max()).bit_length() + pos_bits <= 63:
        packed = keys.astype(np.int64) << pos_bits
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        order = packed & ((1 << pos_bits) - 1)
        packed >>= pos_bits
        return packed.astype(keys.dtype, copy=False), order
    order = np.argsort(keys, kind="stable")
    return keys[order], order
