"""GET /api/v1/jobs/<id>/loss: a training job's loss series, one [step, loss]
point per optimisation step recorded so far (db/losses.py). The job's owner only."""

import uuid
from typing import Any

from db import contract
from db.losses import loss_series
from web.api import api
from web.api.jobs import NO_JOB, owned_job
from web.api.operations import Answer, operation
from web.context import db_session


@api.get("/jobs/<uuid:job_id>/loss")
@operation(
    "A training job's loss series",
    {
        200: Answer("one [step, loss] per optimisation step so far; empty for other kinds", contract.LossSeries),
        404: NO_JOB,
    },
)
def job_loss(job_id: uuid.UUID) -> dict[str, Any]:
    job = owned_job(job_id)
    points = [[step, loss] for step, loss in loss_series(db_session(), job.id)]
    return contract.LossSeries(points=points).model_dump(mode="json")
