"""Worker threads for the split passes, handed work without waiting on the operating system.

A pass split over ``n`` threads (:mod:`.threads`) runs one share in the calling thread and the
others in this team's worker threads. A pool of threads that block on locks between tasks (such as
``concurrent.futures``) costs each split pass two wake-ups by the operating system, the worker's at the
start and the caller's at the end, and a third whenever a thread blocks on the GIL. On the 2-core
development VM each wake-up took 25-40 us, and a worker's virtual CPU, halted while idle, started its
share later still: about 120 us of handoff around an LSTM inference pass of ~470 us (batch 32, T=50,
hidden 64, float32).

So the threads of the team wait by spinning (:mod:`.spin`) for short, bounded times, with the GIL
released, the way OpenMP runtimes keep their threads spinning between parallel regions:

- a worker, after a task, spins for :data:`~fastrnn.kernels.config.WORKER_SPIN_SECONDS` on its request
  counter before it blocks on a condition variable, when passes come back to back (the request for
  that task came within :data:`BACK_TO_BACK_SPINS` spin budgets of the task before): the batches of
  an epoch, the forward and backward pass of a batch, predictions in a loop find it awake, while a
  worker that spun after each of, say, one prediction every 20 ms would only take the core from the
  caller's return (such predictions took 2.4-3.3 ms with a spin after every pass, 1.5-1.9 ms with the
  thread pool this replaced and 1.5-1.7 ms with the rule);
- the caller posts a request from compiled code, after releasing the GIL, and spins until the
  worker's loop has started (the time loops count up a ``started`` counter as their first action), so
  the worker takes the GIL to call its loop without blocking on it, and the caller takes it back once
  the worker has let it go;
- a worker posts the end of its task from compiled code too, after releasing the GIL, and the caller
  spins for it before it sleeps on a condition variable that the worker then notifies. A pass that
  found its worker asleep follows a pause: the caller does not spin for it.

Spinning pays only while the two threads run at the same time. A virtual machine's host may run both
virtual CPUs on one core for a while (on the 2-core development VM: for tens of milliseconds after
an idle spell), and then a spinning thread takes the time the other one needs: LSTM inference at
batch 32 took 1.4-2.6 ms a call there, against 0.95 ms for threads that sleep and 0.6 ms when both
cores run. So the team watches its handoffs: when, in :data:`LATE_PASSES` spinning passes in a row, a
spinning worker has not started its share within :data:`~fastrnn.kernels.config.START_SPIN_SECONDS`
or the caller has waited for a share more than half as long as its own share took (the two ran one
after the other), the threads do not spin for the next
:data:`~fastrnn.kernels.config.CALM_SECONDS`; then they try again.

Every spin is bounded; past its budget each side sleeps on a condition variable instead, so a worker
that the operating system does not run (an oversubscribed machine) costs time, never correctness:
the caller returns only after every worker's task has ended, even when interrupted (a
``KeyboardInterrupt`` waits for the shares handed out, then propagates), and re-raises the first
error. One split pass runs on the team at a time: a second thread that asks meanwhile runs its
shares itself, one after another.
"""

import os
import threading
import time

import numpy as np

from .. import config
from .spin import post_and_spin, spin_while_equal, turns_per_second

#: each worker's counters share a 64-byte cache line, apart from the other workers': the requests
#: the caller posts, the tasks the worker finished and the time loops it started
_LINE = 8
_REQUESTS, _FINISHED, _STARTED = 0, 1, 2
#: spinning passes in a row with a late handoff that make the team stop spinning (one alone can be a
#: hiccup of the machine: an interrupt, another process)
LATE_PASSES = 2
#: a worker spins after a task only when the request for it came within this many spin budgets of the
#: previous task's end: passes then come back to back
BACK_TO_BACK_SPINS = 2


class Team:
    """``size`` daemon worker threads and their counters.

    Parameters
    ----------
    size : int
        Worker threads (at least 1); a split over ``n`` threads uses ``n - 1`` of them.
    """

    def __init__(self, size):
        self.size = max(1, int(size))
        self.counters = _line_aligned_zeros(self.size * _LINE)  # (size * 8,): a cache line per worker
        rate = turns_per_second(self.counters)
        self.worker_turns = int(config.WORKER_SPIN_SECONDS * rate)
        self.start_turns = int(config.START_SPIN_SECONDS * rate)
        self.finish_turns = int(config.FINISH_SPIN_SECONDS * rate)
        self._tasks = [None] * self.size
        self._errors = [None] * self.size
        self._sleeping = [False] * self.size
        self._wakes = [threading.Condition(threading.Lock()) for _ in range(self.size)]
        self._finished = [threading.Condition(threading.Lock()) for _ in range(self.size)]
        self._caller_waiting = [False] * self.size  # the caller sleeps on _finished[k] (read under the GIL)
        self._busy = threading.Lock()  # held by the caller of a split pass
        self._retired = False  # set under _busy: the workers have been told to end
        self._spinning = True  # whether the threads spin now (False while calm; read by the workers)
        self._calm_until = 0.0  # perf_counter time until which the threads do not spin
        self._late_passes = 0  # spinning passes in a row whose handoff waited past a spin
        self._threads = [threading.Thread(target=self._work, args=(k,), name=f"fastrnn-worker-{k}", daemon=True)
                         for k in range(self.size)]
        for thread in self._threads:
            thread.start()

    def started_counter(self, k):
        """Worker ``k``'s ``started`` counter, a (1,) int64 view that its time loop counts up."""
        return self.counters[k * _LINE + _STARTED:k * _LINE + _STARTED + 1]

    def run(self, calls):
        """Run ``function(*args, started)`` for every ``(function, args)`` of ``calls``: the first in this
        thread, the others in the workers; return when all have ended, re-raising the first error.

        ``started`` is a (1,) int64 array that the function counts up when its work begins
        (:func:`~fastrnn.kernels.cpu.spin.count_up`; a function that does not is waited for a little
        longer at the start). Runs every call in this thread when there are more than ``size + 1``, or
        while another thread runs a split pass on the team.
        """
        n_workers = len(calls) - 1
        if n_workers == 0 or n_workers > self.size or not self._busy.acquire(blocking=False):
            run_here(calls)
            return
        try:
            if self._retired:  # replaced by a larger team after this caller took it
                run_here(calls)
                return
            self._run_split(calls)
        finally:
            self._busy.release()

    def _run_split(self, calls):
        spinning = time.perf_counter() >= self._calm_until
        self._spinning = spinning
        tokens = []  # the requests handed out so far: each is waited for, whatever happens
        prompt = [True]  # whether every share started and ended without waiting past a spin
        error = None
        try:
            for k, (function, args) in enumerate(calls[1:]):
                if self._hand_out(k, function, args, tokens, spinning, prompt):
                    # a worker was asleep: the pass follows a pause, after which the host may still run
                    # both threads on one core, so the caller does not spin for it (nor judges it)
                    spinning = False
            function, args = calls[0]
            own_start = time.perf_counter()
            function(*args, np.zeros(1, np.int64))
            own_seconds = time.perf_counter() - own_start
        except BaseException as caught:  # noqa: BLE001 - re-raised once the workers are done
            error, own_seconds = caught, 0.0
        for k, token in enumerate(tokens):
            if self.counters[k * _LINE + _REQUESTS] != token:  # interrupted before it was posted
                self._tasks[k] = None
                continue
            while True:  # a worker may still write into the caller's arrays: never stop waiting early
                try:
                    self._wait_finished(k, token, spinning, prompt, own_seconds)
                    break
                except BaseException as caught:  # noqa: BLE001 - a KeyboardInterrupt while sleeping
                    if error is None:
                        error = caught
            if error is None:
                error = self._errors[k]
            self._errors[k] = None
        if spinning:
            self._late_passes = 0 if prompt[0] else self._late_passes + 1
        if self._late_passes >= LATE_PASSES:  # the threads do not run side by side: calm down for a while
            self._calm_until = time.perf_counter() + config.CALM_SECONDS
            self._spinning = False
            self._late_passes = 0
        if error is not None:
            raise error

    def _hand_out(self, k, function, args, tokens, spinning, prompt):
        """Give worker ``k`` a task and wait (bounded, when ``spinning``) until its loop starts; its
        request token is appended to ``tokens`` before it is posted; ``prompt[0]`` becomes False when
        a spinning worker did not start within the budget. Returns whether the worker was asleep (then
        it is woken and not waited for)."""
        line = k * _LINE
        counters = self.counters
        token = int(counters[line + _REQUESTS]) + 1
        started = int(counters[line + _STARTED])
        self._tasks[k] = (function, args)
        tokens.append(token)
        wake = self._wakes[k]
        turns = self.start_turns if spinning else 0
        if self._sleeping[k]:  # blocked on its condition: wake it (read under the GIL, which orders it)
            with wake:
                counters[line + _REQUESTS] = token
                wake.notify()
            return True
        if post_and_spin(counters, line + _REQUESTS, token, counters, line + _STARTED, started, turns) == started:
            # not started within the budget: it may have gone to sleep just before the request came
            with wake:
                wake.notify()
            prompt[0] = False
        return False

    def _wait_finished(self, k, token, spinning, prompt, own_seconds):
        """Wait until worker ``k`` has finished the task of ``token``: spin (when ``spinning``), then
        sleep; ``prompt[0]`` becomes False when the wait took more than half as long as the caller's
        own share (``own_seconds``): then the share ran after the caller's, not beside it."""
        index = k * _LINE + _FINISHED
        wait_start = time.perf_counter()
        if spinning and spin_while_equal(self.counters, index, token - 1, self.finish_turns) == token:
            return
        try:
            self._sleep_until_finished(k, index, token)
        finally:
            if time.perf_counter() - wait_start > 0.5 * own_seconds:
                prompt[0] = False

    def _sleep_until_finished(self, k, index, token):
        """Sleep on worker ``k``'s condition until ``counters[index]`` reaches ``token``. The worker wakes
        the caller when it ends its share after the caller went to sleep (both read ``_caller_waiting``
        under the GIL); a share that ended just before, posted without the condition, is seen at the
        latest after :data:`~fastrnn.kernels.config.FINISH_POLL_SECONDS`."""
        with self._wakes[k]:  # asleep with the request posted (a hand-out cut short): wake it
            self._wakes[k].notify()
        finished = self._finished[k]
        self._caller_waiting[k] = True
        try:
            with finished:
                # each read an acquire load, so that the worker's writes are seen after its count
                while spin_while_equal(self.counters, index, token - 1, 0) != token:
                    finished.wait(config.FINISH_POLL_SECONDS)
        finally:
            self._caller_waiting[k] = False

    def _work(self, k):
        line = k * _LINE
        counters, wake = self.counters, self._wakes[k]
        started = self.started_counter(k)
        token = 0  # the last request taken (and, at the top of the loop, finished)
        back_to_back = False  # whether the last request came soon after the task before it ended
        ended = 0.0  # perf_counter time at which the last task ended
        while True:
            # post the end of the last task with the GIL released, then spin for the next request:
            # only while passes come back to back (a worker that spins after every pass of, say, one
            # prediction every 20 ms only takes the core from the caller's return)
            turns = self.worker_turns if self._spinning and back_to_back else 0
            if post_and_spin(counters, line + _FINISHED, token, counters, line + _REQUESTS, token, turns) == token:
                with wake:
                    self._sleeping[k] = True
                    while counters[line + _REQUESTS] == token:
                        wake.wait()
                    self._sleeping[k] = False
            back_to_back = time.perf_counter() - ended < BACK_TO_BACK_SPINS * config.WORKER_SPIN_SECONDS
            token = int(counters[line + _REQUESTS])
            task, self._tasks[k] = self._tasks[k], None
            if task is None:  # retire()
                counters[line + _FINISHED] = token
                return
            function, args = task
            try:
                function(*args, started)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                self._errors[k] = error
            del task, function, args  # the pass's arrays are not kept alive while the worker waits
            ended = time.perf_counter()
            if self._caller_waiting[k]:  # the caller sleeps on the condition: post under it and wake it
                with self._finished[k]:
                    counters[line + _FINISHED] = token
                    self._finished[k].notify()

    def retire(self):
        """Let the worker threads end (each after its current task); later calls of :meth:`run` run
        every share in the calling thread."""
        with self._busy:
            self._retired = True
            for k in range(self.size):
                self._tasks[k] = None
                with self._wakes[k]:
                    self.counters[k * _LINE + _REQUESTS] += 1
                    self._wakes[k].notify()


def _line_aligned_zeros(n):
    """``n`` int64 zeros starting at a multiple of 64 bytes (numpy aligns to 16 only)."""
    buffer = np.zeros(n + _LINE, np.int64)
    start = (-buffer.ctypes.data % 64) // buffer.itemsize
    return buffer[start:start + n]


def run_here(calls):
    """Run every ``function(*args, started)`` of ``calls`` in this thread, in order."""
    for function, args in calls:
        function(*args, np.zeros(1, np.int64))


_team = None
_team_lock = threading.Lock()


def team(size):
    """The process's team, with at least ``size`` workers (a larger one replaces a smaller one)."""
    global _team
    current = _team
    if current is not None and current.size >= size:
        return current
    with _team_lock:
        if _team is None or _team.size < size:
            if _team is not None:
                _team.retire()
            _team = Team(size)
        return _team


def _forget_team_in_child():
    """After ``fork`` the child has the team object but none of its threads: work handed to it would
    wait forever. The child starts a team of its own at its first split pass instead."""
    global _team, _team_lock
    _team = None
    _team_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_team_in_child)
