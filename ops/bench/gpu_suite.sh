#!/usr/bin/env bash
# The GPU benchmark suite on the device machine, in one command (docs/performance.md):
# installs the wheels `make bench-gpu-prepare` put in .whl/ (what the device's image
# lacks), then runs ops/bench/gpu_suite.py, its results in $OUT as they come.
#   device run, carry [".whl"]:  bash ops/bench/gpu_suite.sh [--budget SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/genq-site .whl/*.whl
export PYTHONPATH="$PWD:/tmp/genq-site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# Only the log and the summary go to $OUT (a few files come back); images stay in /tmp.
exec python3 -m ops.bench.gpu_suite --out "${OUT:-var/bench/gpu-suite}" --workdir /tmp/genq-bench "$@"
