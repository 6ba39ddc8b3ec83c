"""The job vocabulary is one enum each, and what is written from it agrees: the
status CHECK constraint lists exactly JobStatus, and the README names every
FailureCode a job can end with."""

import re
from pathlib import Path

from sqlalchemy import inspect

from db.failures import FailureCode
from db.models import JobStatus

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_status_check_constraint_of_the_migrated_database_allows_exactly_the_enum(sessions):
    with sessions() as session:
        [check] = [
            constraint
            for constraint in inspect(session.connection()).get_check_constraints("jobs")
            if constraint["name"] == "ck_jobs_status"
        ]
    assert set(re.findall(r"'([a-z_]+)'", check["sqltext"])) == {str(status) for status in JobStatus}


def test_the_readme_lists_every_failure_code():
    listed = set(re.findall(r"`([a-z_]+)`", README.read_text()))
    assert {str(code) for code in FailureCode} - listed == set()


def test_the_compatible_apis_answer_4xx_only_for_the_callers_own_faults():
    callers = {code for code in FailureCode if code.callers_fault}
    assert FailureCode.INVALID_PARAMS in callers
    assert not callers & {code for code in FailureCode if code.retryable}
    assert FailureCode.of("not_a_code_of_this_version") is None
