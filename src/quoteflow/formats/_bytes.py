"""Unaligned eight-byte loads and stores for compiled byte copying (two numba intrinsics).

Compiled loops that build Arrow string data (:mod:`quoteflow.enrich._arrow`,
:mod:`quoteflow.formats._json_columns`) copy texts a word at a time with these. They are
unchecked: a caller leaves eight bytes to spare past the end of both arrays.
This assumes a little-endian machine (x86-64, ARM64).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["copy_bytes", "put_word", "word_at"]


@intrinsic
def word_at(typingctx, data, index):
    """Return the eight bytes of a uint8 array from ``index`` on as one little-endian integer."""

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        address = builder.gep(array.data, [args[1]])
        return builder.load(builder.bitcast(address, ir.IntType(64).as_pointer()), align=1)

    return types.uint64(data, index), codegen


@intrinsic
def put_word(typingctx, data, index, word):
    """Write eight bytes into a uint8 array from ``index`` on, little-endian, unchecked."""

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        address = builder.gep(array.data, [args[1]])
        builder.store(args[2], builder.bitcast(address, ir.IntType(64).as_pointer()), align=1)
        return context.get_dummy_value()

    return types.none(data, index, types.uint64), codegen


@numba.njit(cache=True, inline="always")
def copy_bytes(target, at, source, begin, length):
    """Copy ``source[begin:begin + length]`` to ``target[at:]`` eight bytes at a time.

    Both arrays need eight bytes to spare past the copy: the last word runs over.
    Positions are unsigned (numba checks signed indexes for wrapping, which
    tripled the cost of these copies).
    """
    for b in range(np.uint64(0), length, np.uint64(8)):
        put_word(target, at + b, word_at(source, begin + b))
