"""Subnormal floats flushed to zero inside the CPU time loops.

Backpropagation through a long sequence multiplies the state gradients by gates below one at every
step, so they decay geometrically and, a few hundred steps back, reach the subnormal range (below
about 1.2e-38 in float32). x86 processors compute with subnormal operands and results through a
microcode assist that costs tens to a hundred cycles per operation: an LSTM epoch at batch 16, T=200,
hidden 128 took 663 ms with them and 112 ms with the flush on (measured on the 2-core development
machine, one thread, float32). So each compiled time loop sets the processor's flush-to-zero and
denormals-are-zero modes (the FTZ and DAZ bits of MXCSR) at its start and puts the caller's modes
back at its end: subnormal values become zero inside the loops only, as TensorFlow and XLA do on the
CPU, and the floating-point environment of the rest of the program (numpy, the user's code) is left
as it was. A value flushed this way is below 1.2e-38 (float32) or 2.2e-308 (float64): nothing a
gradient step or a prediction could resolve. OpenBLAS hands the caller's MXCSR to its worker threads,
so the products run in the same mode.

The two functions are compiled into the loops (Numba intrinsics on LLVM's ``llvm.x86.sse.stmxcsr`` /
``ldmxcsr``); on other processors they do nothing (the loops then run in the platform's default mode).
"""

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: the MXCSR bits of flush-to-zero (FTZ, results) and denormals-are-zero (DAZ, operands)
FLUSH_BITS = 0x8040

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def _mxcsr_call(builder, name, pointer):
    function_type = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    function = cgutils.get_or_insert_function(builder.module, function_type, name)
    builder.call(function, [builder.bitcast(pointer, ir.IntType(8).as_pointer())])


@intrinsic
def flush_subnormals(typingctx):
    """Turn FTZ and DAZ on for this thread; returns the previous MXCSR (0 where not on x86), for
    :func:`restore_float_mode`."""
    def codegen(context, builder, signature, args):
        word = ir.IntType(32)
        if not X86:
            return ir.Constant(word, 0)
        slot = cgutils.alloca_once(builder, word)
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        previous = builder.load(slot)
        builder.store(builder.or_(previous, ir.Constant(word, FLUSH_BITS)), slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return previous

    return types.uint32(), codegen


@intrinsic
def restore_float_mode(typingctx, previous):
    """Put back the MXCSR that :func:`flush_subnormals` returned (nothing where not on x86)."""
    def codegen(context, builder, signature, args):
        if X86:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], slot)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.none(types.uint32), codegen
