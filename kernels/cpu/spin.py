"""Waiting for another thread by spinning on a counter, without the GIL.

:func:`spin_while_equal` reads a counter in a loop until another thread changes it or a budget of
reads runs out, with the GIL released: the waiting thread stays on its core and sees the change a
fraction of a microsecond after it happens, where a thread blocked on a lock is woken by the
operating system (tens of microseconds on the 2-core development VM, more when its idle virtual CPU
has been halted). The counter is read with an atomic acquire load, so that the compiler reads it
again at every turn instead of once; on x86 each turn also runs ``pause``, the processor's hint that
it is in a spin loop (it frees the core's resources for a sibling hyper-thread and saves power).

Used by :mod:`.team`, whose worker threads spin for a short while after a pass before they block.
"""

import time

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .. import config
from ..cache import drop_stale_cache
from ..config import JIT_OPTIONS
from .denormals import X86

drop_stale_cache(__file__, [config.__file__])


def _is_counter_array(counters, writable=False):
    """An aligned int64 array (and a writable one for a store)."""
    return (isinstance(counters, types.Array) and counters.dtype == types.int64 and counters.aligned
            and (counters.mutable or not writable))


def _element_pointer(context, builder, signature, args):
    """The address of ``counters[index]`` from an intrinsic's first two arguments."""
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, array_type, array, [args[1]])


@intrinsic
def load_acquire(typingctx, counters, index):
    """``counters[index]`` (a C-contiguous int64 array) read with an atomic load of acquire order."""
    if not _is_counter_array(counters):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_element_pointer(context, builder, signature, args), "acquire", 8)

    return types.int64(counters, types.intp), codegen


@intrinsic
def store_release(typingctx, counters, index, value):
    """``counters[index] = value`` (a C-contiguous int64 array) by an atomic store of release order."""
    if not _is_counter_array(counters, writable=True):
        return None

    def codegen(context, builder, signature, args):
        builder.store_atomic(args[2], _element_pointer(context, builder, signature, args), "release", 8)
        return context.get_dummy_value()

    return types.none(counters, types.intp, types.int64), codegen


@intrinsic
def cpu_relax(typingctx):
    """The x86 ``pause`` instruction (nothing on other processors)."""
    def codegen(context, builder, signature, args):
        if X86:
            function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                      "llvm.x86.sse2.pause")
            builder.call(function, [])
        return context.get_dummy_value()

    return types.none(), codegen


@njit(**JIT_OPTIONS)
def spin_while_equal(counters, index, value, max_turns):
    """Read ``counters[index]`` until it differs from ``value``, at most ``max_turns`` times; returns
    the last value read (``value`` when the budget ran out). ``counters: (n,) int64``."""
    current = load_acquire(counters, index)
    turns = 0
    while current == value and turns < max_turns:
        cpu_relax()
        current = load_acquire(counters, index)
        turns += 1
    return current


@njit(**JIT_OPTIONS)
def post_and_spin(posted, posted_index, posted_value, watched, watched_index, watched_value, max_turns):
    """``posted[posted_index] = posted_value`` (atomic, release), then :func:`spin_while_equal` on
    ``watched[watched_index]`` and ``watched_value``; returns what that returns.

    The store happens with the GIL already released, so the thread that sees it and takes the GIL
    finds it free instead of blocking on it (a blocked thread is woken by the operating system: tens
    of microseconds on the 2-core development VM)."""
    store_release(posted, posted_index, posted_value)
    return spin_while_equal(watched, watched_index, watched_value, max_turns)


@njit(**JIT_OPTIONS)
def count_up(counter):
    """``counter[0] += 1`` (atomic load and store: only one thread writes it)."""
    store_release(counter, 0, load_acquire(counter, 0) + 1)


def turns_per_second(counters, sample_turns=20_000):
    """How many turns of :func:`spin_while_equal` this processor runs per second (one timed spin over
    a counter that does not change; ``pause`` alone takes from ~10 to ~140 cycles, by processor)."""
    spin_while_equal(counters, 0, counters[0], 10)  # compile or load before timing
    start = time.perf_counter()
    spin_while_equal(counters, 0, counters[0], sample_turns)
    return sample_turns / max(time.perf_counter() - start, 1e-9)
