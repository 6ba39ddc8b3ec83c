"""The progress throttle between an executor's step callback and the database."""

from worker.progress import ThrottledProgress


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_writes_at_most_once_per_interval_counted_from_the_start():
    clock, writes = ManualClock(), []
    progress = ThrottledProgress(lambda *report: writes.append(report), interval_seconds=1.0, clock=clock)

    for step in range(1, 11):
        clock.now += 0.3
        progress(step, 10)

    # Made at t=100.0; steps at 100.3, 100.6, ...: writes at 101.2 (step 4), 102.4 (step 8).
    assert writes == [(4, 10), (8, 10)]


def test_a_job_shorter_than_the_interval_writes_no_progress():
    clock, writes = ManualClock(), []
    progress = ThrottledProgress(lambda *report: writes.append(report), interval_seconds=1.0, clock=clock)

    for step in range(1, 4):
        clock.now += 0.2
        progress(step, 3)

    assert writes == []


def test_zero_interval_writes_every_step():
    writes = []
    progress = ThrottledProgress(lambda *report: writes.append(report), interval_seconds=0, clock=lambda: 5.0)

    for step in range(1, 4):
        progress(step, 3)

    assert writes == [(1, 3), (2, 3), (3, 3)]
