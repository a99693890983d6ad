#!/usr/bin/env bash
# Creates ./.venv and installs panoray into it (editable).
#   --test   also the test dependencies, and the benchmark ones (tests check the
#            benchmarks' own logic, which uses the peer trackers)
#   --bench  also the benchmark dependencies (peer trackers, profilers)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
for arg in "$@"; do
  case "$arg" in
    --test) extras="${extras:+$extras,}test,bench" ;;
    --bench) extras="${extras:+$extras,}bench" ;;
    *) echo "usage: scripts/setup.sh [--test] [--bench]" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
if [ -n "$extras" ]; then
  # trackeval's metadata asks for the GUI build of OpenCV, which would shadow the headless
  # build panoray uses (and needs libGL); its HOTA/CLEAR/Identity code needs only numpy,
  # scipy and tabulate, which are installed above.
  .venv/bin/python -m pip install --quiet --no-deps "trackeval==1.3.0"
fi
.venv/bin/python -c "import cv2, onnxruntime, ray; print('panoray environment ready:', 'ray', ray.__version__, '| onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers(), '| opencv', cv2.__version__)"
