"""The CI-sized soak (tests/support/soak.py): about a hundred jobs of every kind
through four real workers while every kind of fault strikes once. Nothing is lost,
run twice, stuck or failed without a code; the web answers 503, never 500, while
the database is down; the bucket holds exactly the objects rows reference."""

import pytest

from tests.support.soak import FAULTS, SoakPlan, run_soak

pytestmark = pytest.mark.faults


@pytest.mark.timeout(900)
def test_soak_under_faults(tmp_path, upscaler_models_dir):
    report = run_soak(SoakPlan(jobs=100, workers=4, faults=len(FAULTS), seed=7), tmp_path, upscaler_models_dir)
    print(report.summary())
    assert report.problems() == []
    assert report.submitted == 100
    assert sorted(report.faults) == sorted(FAULTS)
    assert report.answers_while_database_down[503] > 0
    # The faults cost attempts, not jobs: each one is retried on another worker.
    assert report.statuses["succeeded"] >= 95, report.summary()
