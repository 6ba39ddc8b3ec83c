"""The HTML pages: the image and text forms with recent jobs (generation.py), the
job list and a job's live page (jobs.py), the fine-tuning form, a training job's
loss curve as SVG and the owner's adapters (training.py), the speech form and an
audio artifact's waveform as SVG (speech.py), and the queues' administration for
admin keys (admin.py).

Forms carry a CSRF token; the pages hold no inline script (web/static/job.js
follows the job's event stream). Validation is web.submission's and uploads are
db.uploads', the same as the API's; forms.py shows a refusal (db/refusals.py) as
messages next to the inputs, with its status.
"""

from flask import Blueprint

pages = Blueprint("pages", __name__)


def pages_blueprint() -> Blueprint:
    """The blueprint with every page on it: each view module adds its own when imported."""
    from web.pages import admin, generation, jobs, speech, training  # noqa: F401

    return pages
