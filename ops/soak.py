"""The full soak under faults (tests/support/soak.py; `make test` runs a 100-job
plan in tests/faults/test_soak.py): by default 1,000 jobs of every kind through 4
workers, on a Postgres, a redis-server and a moto S3 server of its own, while
30 faults (worker SIGKILL and SIGTERM, Redis restarted empty, Postgres stopped
for a while, storage cut off, the retention sweeper) strike at random times.
Prints the report; exits 1 if a job was lost, run twice, stuck or failed without
a code, if the web answered 500, or if an object is left that no row references.

  python -m ops.soak                        # 1,000 jobs, 30 faults
  python -m ops.soak --jobs 200 --faults 8 --seed 3 --directory soak-logs
"""

import argparse
import sys
import tempfile
from pathlib import Path

from tests.support.soak import SoakPlan, run_soak
from worker.tiny_clip_models import build_tiny_clip
from worker.tiny_models import build_tiny_sd
from worker.tiny_speech_models import build_tiny_vits
from worker.tiny_text_models import build_tiny_gpt2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--faults", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--outage-seconds", type=float, default=4.0)
    parser.add_argument("--submit-seconds", type=float, default=None, help="default: 0.4 s per job")
    parser.add_argument("--directory", type=Path, default=None, help="keep the logs here (default: a temporary one)")
    args = parser.parse_args()
    plan = SoakPlan(
        jobs=args.jobs,
        workers=args.workers,
        faults=args.faults,
        seed=args.seed,
        outage_seconds=args.outage_seconds,
        submit_seconds=args.submit_seconds or 0.4 * args.jobs,
        # Generous: on a busy 2-core machine a tiny job takes several seconds.
        timeout_seconds=max(900.0, 6.0 * args.jobs),
    )
    with tempfile.TemporaryDirectory(prefix="genq-soak-") as scratch:
        root = args.directory or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        models = root / "models"
        build_tiny_sd(models / "tiny-sd")
        build_tiny_gpt2(models / "tiny-text")
        build_tiny_vits(models / "tiny-speech")
        build_tiny_clip(models / "tiny-clip")
        report = run_soak(plan, root, models)
    print(report.summary())
    problems = report.problems()
    for problem in problems:
        print(f"PROBLEM {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
