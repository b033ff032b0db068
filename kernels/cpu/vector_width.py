"""The SIMD width LLVM vectorizes one compiled function's loops for.

On processors with AVX-512, LLVM vectorizes loops 256 bits wide unless a function asks for more: wide
instructions lowered the clock of older Xeons enough to lose on mixed code. The packed network's
kernels (:mod:`.stream`) spend their time in matrix-vector products from cache and in short pointwise
passes, where twice the lanes pay: on a 2-core Intel Xeon VM with AVX-512 (float32), a 64 x 256
product (an LSTM's recurrent product at hidden 64) took 0.46 instead of 0.59 us.
So those kernels call :func:`prefer_vector_width` first, which sets LLVM's ``prefer-vector-width``
attribute on the function being compiled, and on it alone: the rest of the process, the batched
kernels and the user's own Numba code, keep LLVM's choice. Each lane computes what it computed at 256
bits, in the same order.

The width is :data:`~fastrnn.kernels.config.PACKED_VECTOR_BITS` (0: LLVM's choice). On a processor
without 512-bit vectors the attribute changes nothing: the vectorizer never goes beyond the registers
the processor has.
"""

from numba import types
from numba.extending import intrinsic

from .. import config
from ..cache import drop_stale_cache

drop_stale_cache(__file__, [config.__file__])


@intrinsic
def prefer_vector_width(typingctx):
    """Ask LLVM to vectorize the loops of the compiled function that calls it
    :data:`~fastrnn.kernels.config.PACKED_VECTOR_BITS` bits wide (a function attribute: nothing runs).
    It applies to the function whose code holds the call: called from a function that Numba inlines
    (``inline="always"``), to the function that function is inlined into."""
    def codegen(context, builder, signature, args):
        if config.PACKED_VECTOR_BITS:
            # llvmlite's attribute set accepts only its listed keywords; a string attribute goes in as it is
            set.add(builder.function.attributes, f'"prefer-vector-width"="{int(config.PACKED_VECTOR_BITS)}"')
        return context.get_dummy_value()

    return types.none(), codegen
