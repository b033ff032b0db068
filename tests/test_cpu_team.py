"""The worker team of the split passes (kernels/cpu/team.py) and its spin waits (kernels/cpu/spin.py).

Correctness only: every share runs once with its own arguments, the caller returns after all of them
(however late a worker is), errors reach the caller, and a worker that went to sleep is woken.
"""

import _thread
import gc
import threading
import time
import weakref

import numpy as np
import pytest

from fastrnn.kernels import config
from fastrnn.kernels.cpu import spin, team
from fastrnn.kernels.cpu.team import Team


@pytest.fixture
def fresh_team():
    """``make(size=1)``: a new team of ``size`` workers, retired after the test."""
    made = []

    def make(size=1):
        made.append(Team(size))
        return made[-1]

    yield make
    for t in made:
        t.retire()


def _write(out, k, value, *more):
    """A share: ``out[k] = value``, after ``more[0]`` seconds when given (``more[-1]``: ``started``)."""
    spin.count_up(more[-1])
    if len(more) == 2:
        time.sleep(more[0])
    out[k] = value


def _raising(message):
    """A share that raises ``ValueError(message)``."""
    def fail(started):
        raise ValueError(message)

    return fail


def test_spin_sees_a_store_from_another_thread():
    counters = np.zeros(16, np.int64)
    timer = threading.Timer(0.01, lambda: counters.__setitem__(3, 7))
    timer.start()
    assert spin.spin_while_equal(counters, 3, 0, 10**12) == 7  # returns once it changes, not at the budget
    timer.join()


def test_spin_gives_up_after_its_budget_and_post_stores():
    counters = np.zeros(4, np.int64)
    assert spin.spin_while_equal(counters, 1, 0, 1000) == 0
    assert spin.post_and_spin(counters, 2, 5, counters, 1, 0, 10) == 0
    assert counters[2] == 5
    spin.count_up(counters[3:])
    assert counters[3] == 1
    assert spin.turns_per_second(counters) > 0


@pytest.mark.parametrize("size", [1, 3])
def test_every_share_runs_once_with_its_arguments(fresh_team, size):
    crew = fresh_team(size)
    out = np.zeros(size + 1)
    for round_ in range(200):  # back to back: the workers are found spinning
        crew.run([(_write, (out, k, round_ * 10 + k)) for k in range(size + 1)])
        np.testing.assert_array_equal(out, round_ * 10 + np.arange(size + 1))


def test_a_sleeping_worker_is_woken(fresh_team, monkeypatch):
    monkeypatch.setattr(config, "WORKER_SPIN_SECONDS", 0.0)  # workers block at once after a task
    crew = fresh_team(1)
    out = np.zeros(2)
    for round_ in range(5):
        time.sleep(0.01)
        crew.run([(_write, (out, 0, round_)), (_write, (out, 1, -round_))])
        assert list(out) == [round_, -round_]


def test_the_caller_waits_for_a_late_worker(fresh_team):
    crew = fresh_team(1)
    out = np.zeros(2)
    crew.run([(_write, (out, 0, 1.0)), (_write, (out, 1, 2.0, 0.05))])  # past the caller's spin: it polls
    assert list(out) == [1.0, 2.0]


def test_errors_reach_the_caller_after_every_share_ended(fresh_team):
    crew = fresh_team(1)
    out = np.zeros(2)
    with pytest.raises(ValueError, match="caller's share"):
        crew.run([(_raising("caller's share"), ()), (_write, (out, 1, 3.0, 0.05))])
    assert out[1] == 3.0  # the worker's share had ended when the error came out

    def fail_late(started):
        time.sleep(0.01)
        raise RuntimeError("worker's share")

    with pytest.raises(RuntimeError, match="worker's share"):
        crew.run([(_write, (out, 0, 4.0)), (fail_late, ())])
    crew.run([(_write, (out, 0, 5.0)), (_write, (out, 1, 6.0))])  # the error is not raised again
    assert list(out) == [5.0, 6.0]


def test_concurrent_callers_each_get_every_share_run(fresh_team):
    crew = fresh_team(1)
    outs = [np.zeros(2) for _ in range(4)]
    errors = []

    def caller(out, seed):
        try:
            for round_ in range(50):
                value = seed * 1000 + round_
                crew.run([(_write, (out, 0, value)), (_write, (out, 1, -value))])
                assert list(out) == [value, -value]
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    callers = [threading.Thread(target=caller, args=(out, k)) for k, out in enumerate(outs)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(60)
    assert not errors


def test_more_shares_than_workers_run_in_the_caller(fresh_team):
    crew = fresh_team(1)
    out = np.zeros(3)
    crew.run([(_write, (out, k, k + 1.0)) for k in range(3)])
    assert list(out) == [1.0, 2.0, 3.0]


def test_the_process_team_grows_and_retired_workers_end():
    small = team.team(1)
    assert team.team(1) is small
    larger = team.team(small.size + 1)
    assert larger.size == small.size + 1 and team.team(1) is larger
    for thread in small._threads:
        thread.join(5)
        assert not thread.is_alive()


def test_a_sleeping_worker_is_woken_however_the_request_and_its_sleep_interleave(fresh_team, monkeypatch):
    monkeypatch.setattr(config, "WORKER_SPIN_SECONDS", 0.0)  # the worker goes to sleep after every task...
    monkeypatch.setattr(config, "START_SPIN_SECONDS", 1e-7)  # ...often just as the next request comes
    crew = fresh_team(1)
    out = np.zeros(2)
    for round_ in range(300):
        crew.run([(_write, (out, 0, round_)), (_write, (out, 1, -round_))])
        assert list(out) == [round_, -round_]


def test_an_error_in_one_worker_waits_for_the_others(fresh_team):
    crew = fresh_team(3)
    out = np.zeros(4)
    with pytest.raises(ValueError, match="second worker"):
        crew.run([(_write, (out, 0, 1.0)), (_write, (out, 1, 2.0, 0.05)), (_raising("second worker"), ()),
                  (_write, (out, 3, 4.0, 0.05))])
    assert list(out) == [1.0, 2.0, 0.0, 4.0]


def test_an_interrupted_caller_still_waits_for_the_workers(fresh_team):
    crew = fresh_team(1)
    out = np.zeros(2)
    timer = threading.Timer(0.02, _thread.interrupt_main)  # a Ctrl-C while the caller polls for the worker
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        crew.run([(_write, (out, 0, 1.0)), (_write, (out, 1, 2.0, 0.2))])
    timer.join()
    assert out[1] == 2.0  # the worker's share had ended: nothing writes into out after run returned
    crew.run([(_write, (out, 0, 3.0)), (_write, (out, 1, 4.0))])  # and nothing stale is raised next time
    assert list(out) == [3.0, 4.0]


def test_a_retired_team_runs_the_shares_in_the_caller(fresh_team):
    crew = fresh_team(1)
    crew.retire()
    for thread in crew._threads:
        thread.join(5)
    out = np.zeros(2)
    crew.run([(_write, (out, 0, 1.0)), (_write, (out, 1, 2.0))])  # a caller that took it before it was replaced
    assert list(out) == [1.0, 2.0]


def test_a_worker_keeps_no_reference_to_the_last_pass(fresh_team):
    crew = fresh_team(1)
    out = np.zeros(2)
    watched = np.zeros(3)
    crew.run([(_write, (out, 0, 1.0)), (_write, (watched, 1, 2.0))])
    gone = weakref.ref(watched)
    del watched
    gc.collect()
    assert gone() is None


def test_late_handoffs_stop_the_spinning_for_a_while(fresh_team, monkeypatch):
    monkeypatch.setattr(config, "CALM_SECONDS", 60.0)
    monkeypatch.setattr(config, "WORKER_SPIN_SECONDS", 0.2)  # the worker is found spinning, however slow the machine
    monkeypatch.setattr(config, "START_SPIN_SECONDS", 1.0)  # and starts within the caller's spin
    crew = fresh_team(1)
    out = np.zeros(2)

    def pass_(worker_seconds=None):  # the caller's share takes 20 ms; the worker's ends at once, or late
        worker = (out, 1, 1.0) if worker_seconds is None else (out, 1, 1.0, worker_seconds)
        crew.run([(_write, (out, 0, 1.0, 0.02)), (_write, worker)])

    for _ in range(3):  # back to back, the worker's share ending first: never late
        pass_()
    assert crew._spinning and crew._late_passes == 0
    pass_(0.1)  # the worker's share ends 80 ms after the caller's: the two did not run side by side
    assert crew._spinning  # one late pass can be a hiccup
    # A second late pass calms the team. On a loaded machine a pass may find the worker asleep, or
    # the caller's own share may be held up until the worker's has ended: such a pass is not judged
    # late, so a few more are allowed; it is the count of judged late passes that must calm it.
    for _ in range(5):
        pass_(0.1)
        if not crew._spinning:
            break
    assert not crew._spinning and crew._calm_until > time.perf_counter()
    for round_ in range(20):  # calm: the worker sleeps between passes, results as before
        crew.run([(_write, (out, 0, round_)), (_write, (out, 1, -round_))])
        assert list(out) == [round_, -round_]
    assert not crew._spinning
    monkeypatch.setattr(crew, "_calm_until", 0.0)  # the calm spell over: spinning again
    crew.run([(_write, (out, 0, 5.0)), (_write, (out, 1, 6.0))])
    assert crew._spinning and list(out) == [5.0, 6.0]


def test_a_worker_spins_only_while_passes_come_back_to_back(fresh_team, monkeypatch):
    monkeypatch.setattr(config, "WORKER_SPIN_SECONDS", 0.2)  # long: the checks below do not race it
    monkeypatch.setattr(team, "LATE_PASSES", 10**9)  # no calm spell, however loaded the machine
    crew = fresh_team(1)
    out = np.zeros(2)
    for _ in range(3):
        crew.run([(_write, (out, 0, 1.0)), (_write, (out, 1, 2.0))])
    assert not crew._sleeping[0]  # spinning for the next pass
    time.sleep(team.BACK_TO_BACK_SPINS * 0.2 + 0.1)  # a pause: the worker went to sleep
    assert crew._sleeping[0]
    crew.run([(_write, (out, 0, 3.0)), (_write, (out, 1, 4.0))])
    time.sleep(0.05)  # after a pass that followed a pause it does not spin: asleep long before 0.2 s
    assert crew._sleeping[0] and list(out) == [3.0, 4.0]
