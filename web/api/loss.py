"""GET /api/v1/jobs/<id>/loss: a training job's loss series, one [step, loss]
point per optimisation step recorded so far (db/losses.py). The job's owner only."""

import uuid
from typing import Any

from db.losses import loss_series
from web.api import api
from web.api.jobs import owned_job
from web.context import db_session


@api.get("/jobs/<uuid:job_id>/loss")
def job_loss(job_id: uuid.UUID) -> dict[str, Any]:
    job = owned_job(job_id)
    return {"points": [[step, loss] for step, loss in loss_series(db_session(), job.id)]}
