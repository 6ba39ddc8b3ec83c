"""The HTML pages: the image and text forms with recent jobs (generation.py), the
job list and a job's live page (jobs.py), the fine-tuning form, a training job's
loss curve as SVG and the owner's adapters (training.py).

Forms carry a CSRF token; the pages hold no inline script (web/static/job.js
follows the job's event stream). Validation is web.submission's and uploads are
db.uploads', the same as the API's; forms.py turns refusals into messages by input.
"""

from flask import Blueprint

pages = Blueprint("pages", __name__)

# Importing the view modules registers their routes on the blueprint.
from web.pages import generation, jobs, training  # noqa: E402, F401
