"""The yardstick of ops/bench/reads.py: a plain Flask route doing one primary-key
lookup of a job on genq's database (genq's engine settings, one session per
request), served by the same gunicorn as `genq web`. No key, no limit, no
serializer: what any Flask app pays to answer from one row.

  python -m ops.bench.bare_read --port 8001     # GENQ_DATABASE_URL names the database
"""

import argparse
import uuid

from flask import Flask, abort
from sqlalchemy.orm import sessionmaker

from cli.webserver import serve
from db.models import Job
from db.session import make_engine
from db.settings import Settings


def create_bare_app(database_url: str) -> Flask:
    sessions = sessionmaker(make_engine(database_url))
    app = Flask(__name__)

    @app.get("/jobs/<uuid:job_id>")
    def read_job(job_id: uuid.UUID) -> dict[str, str]:
        with sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                abort(404)
            return {"id": str(job.id), "status": job.status}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    serve(
        settings,
        "127.0.0.1",
        args.port,
        workers=1,
        application=lambda: create_bare_app(settings.database_url),
    )


if __name__ == "__main__":
    main()
