"""The progress throttle between an executor's step callback and the database."""

from worker.progress import ThrottledProgress


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_writes_at_most_once_per_interval_plus_first_and_last_step():
    clock, writes = ManualClock(), []
    progress = ThrottledProgress(lambda *report: writes.append(report), interval_seconds=1.0, clock=clock)

    for step in range(1, 11):
        progress(step, 10)
        clock.now += 0.3

    # Writes at t=100.0 (step 1), 101.2 (step 5), 102.4 (step 9) and the last step.
    assert writes == [(1, 10), (5, 10), (9, 10), (10, 10)]


def test_zero_interval_writes_every_step():
    writes = []
    progress = ThrottledProgress(lambda *report: writes.append(report), interval_seconds=0, clock=lambda: 5.0)

    for step in range(1, 4):
        progress(step, 3)

    assert writes == [(1, 3), (2, 3), (3, 3)]
