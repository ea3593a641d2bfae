#!/usr/bin/env bash
# Every GPU check of the project in one script (docs/gpu.md): install from this checkout, the
# tests marked `cuda`, training and sampling throughput CPU vs GPU, fine-tuning overlapped with
# the CPU kernels against the sequential loop, GCD base 30 log-uniform against a wall-clock
# budget, and one-set vs two-set training. Everything it prints goes to
# one results file, $OUT/<name>.txt ($OUT: the device tool's output folder; unset, it is
# benchmarks/out/gpu/), to be committed under benchmarks/results/.
#
#   bash benchmarks/gpu/run_all.sh                         # all phases, inside one 10-minute call
#   bash benchmarks/gpu/run_all.sh --phases install,gcd --gcd-minutes 8
#   bash benchmarks/gpu/run_all.sh --toy                   # every phase at toy size, on a CPU
#
# Options:
#   --toy                 tiny models and counts; skips the install (uses this checkout's src/
#                         and the _core already built there); runs anywhere in a couple of minutes
#   --phases LIST         comma-separated, in this order: install,tests,throughput,overlap,gcd,twoset
#   --deadline-min M      the whole script's wall-clock budget (default 9.5: one device call is
#                         at most 10 minutes); the GCD and two-set phases shrink to fit it
#   --gcd-minutes M       GCD training budget (default 8, the issue's), cut to what is left
#   --two-set-minutes M   both arms together (default 0 = off unless time is left over)
#   --name NAME           results file stem (default gpu_run_all, with --toy gpu_run_all_toy_cpu)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

TOY=0; PHASES=install,tests,throughput,overlap,gcd,twoset; DEADLINE_MIN=9.5; GCD_MIN=8; TWOSET_MIN=0; NAME=
while [ $# -gt 0 ]; do
  case "$1" in
    --toy) TOY=1 ;;
    --phases) PHASES=$2; shift ;;
    --deadline-min) DEADLINE_MIN=$2; shift ;;
    --gcd-minutes) GCD_MIN=$2; shift ;;
    --two-set-minutes) TWOSET_MIN=$2; shift ;;
    --name) NAME=$2; shift ;;
    *) echo "run_all.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$NAME" ] || { [ $TOY = 1 ] && NAME=gpu_run_all_toy_cpu || NAME=gpu_run_all; }
OUT_DIR=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT_DIR"
RESULT=$OUT_DIR/$NAME.txt
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
START=$(date +%s)

minutes_left() { "$PY" -c "print(round($DEADLINE_MIN - ($(date +%s) - $START) / 60, 2))"; }
min_of() { "$PY" -c "print(round(max(0.0, min($1, $2)), 2))"; }
has_phase() { [[ ",$PHASES," == *",$1,"* ]]; }
STATUS=()

# phase NAME TIMEOUT_S CMD...: a header, the command under a timeout, its exit code and time
phase() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  echo
  echo "=== $name ($(date -u +%H:%M:%S) UTC, $(( t0 - START )) s in, limit ${limit} s) ==="
  echo "\$ $*"
  timeout --signal=TERM --kill-after=10 "$limit" "$@"
  local rc=$?
  echo "--- $name: exit $rc after $(( $(date +%s) - t0 )) s"
  STATUS+=("$name=$rc")
  return $rc
}

install_project() {
  # Wheels for what the image lacks (benchmarks/gpu/fetch_wheels.sh), then this checkout,
  # built against the image's torch, pybind11, scikit-build-core and cmake, into /tmp/site.
  local site=/tmp/site
  if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
      || return 1
  else
    echo "no .whl/ folder: relying on the image for pydantic, tomli-w and pynauty"
  fi
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
    --no-cache-dir --upgrade --target "$site" . || return 1
  PYTHONPATH=$site "$PY" -c "import loopengine, loopengine._core; print('installed', loopengine.__file__)"
}

build_in_place() {
  # fallback: compile _core with cmake into src/loopengine and import the checkout's src/
  local build=/tmp/build-loopengine
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v "$PY")" \
    -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" > /dev/null \
    && cmake --build "$build" -j "$(nproc)" > /dev/null && cp "$build"/_core*.so src/loopengine/
}

main() {
  echo "# benchmarks/gpu/run_all.sh $([ $TOY = 1 ] && echo --toy) --phases $PHASES --deadline-min $DEADLINE_MIN" \
       "--gcd-minutes $GCD_MIN --two-set-minutes $TWOSET_MIN"
  echo "# $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -m), $(nproc) CPUs, load$(uptime | sed 's/.*load average//')"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo '(no git here)')$(git diff --quiet 2>/dev/null || echo ' + local changes')"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    | sed 's/^/# GPU: /'
  "$PY" -c "import sys, torch; print('# python', sys.version.split()[0], '| torch', torch.__version__,
'| CUDA', torch.version.cuda, '| GPU seen:', torch.cuda.is_available())"

  if has_phase install; then
    if [ $TOY = 1 ]; then
      echo; echo "=== install: skipped (--toy uses src/ and its built _core) ==="
      export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH}
    elif phase install 300 install_project; then
      export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    else
      echo "install failed: building _core in place and using src/"
      phase build_in_place 300 build_in_place
      export PYTHONPATH=$ROOT/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
  fi
  "$PY" -c "import os, loopengine; print('# loopengine from', os.path.relpath(loopengine.__file__))" || exit 1

  local toy=(); [ $TOY = 1 ] && toy=(--toy)
  if has_phase tests; then
    # the cuda-marked tests and their CPU half; only these files, so collection imports
    # nothing the GPU image lacks (ray, cvxpy, duckdb)
    phase tests 240 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_device.py
  fi
  if has_phase throughput; then
    phase throughput 240 "$PY" benchmarks/gpu/throughput.py "${toy[@]}"
  fi
  if has_phase overlap; then
    # train.overlap on against off (benchmarks/overlap.py): trees at n = 30 with enough
    # fine-tuning per generation for the overlap to have something to hide, kernels on every core
    local ov=(--generations 5 --repeats 2 --set problem.n=30 --set train.steps=400 --set execution.threads=0)
    [ $TOY = 1 ] && ov=(--generations 3 --repeats 1 --set train.steps=10 --set loop.initial_pool=40
                        --set loop.samples_per_generation=40 --set execution.threads=1)
    phase overlap 150 "$PY" benchmarks/overlap.py tasks/trees.toml "${ov[@]}" --out "$OUT_DIR" --name "${NAME}_trees"
  fi
  if has_phase gcd; then
    local reserve=0; has_phase twoset && reserve=$TWOSET_MIN
    local m; m=$(min_of "$GCD_MIN" "$(minutes_left) - $reserve - 0.7")
    if [ $TOY = 1 ]; then
      phase gcd 120 "$PY" benchmarks/gpu/gcd_timed.py --toy
    elif "$PY" -c "import sys; sys.exit(not $m >= 1)"; then
      phase gcd $("$PY" -c "print(int(60 * $m + 90))") "$PY" benchmarks/gpu/gcd_timed.py --minutes "$m"
    else
      echo; echo "=== gcd: skipped, $m minutes left for it ==="
    fi
  fi
  if has_phase twoset; then
    local m; m=$(min_of "$TWOSET_MIN" "$(minutes_left) - 0.5")
    local common=(--tasks gcd --repeat-size 50000 --repeat-prob 0.25 --test-size 2000 --out "$OUT_DIR"
                  --name "${NAME}_two_set" --set problem.base=1000)
    if [ $TOY = 1 ]; then
      phase twoset 120 "$PY" benchmarks/gpu/with_precision.py fp32 benchmarks/two_set.py "${common[@]}" \
        --generations 3 --steps 20 --batch-size 32 --repeat-size 200 --test-size 200 --minutes 0.1 \
        --set model.layers=1 --set model.width=32 --set model.heads=2 --set execution.threads=1 \
        --set loop.initial_pool=100 --set problem.per_class=5
    elif "$PY" -c "import sys; sys.exit(not $m >= 1)"; then
      # the one-set arm gets half: it fixes the generations, the two-set arm runs as many
      phase twoset $("$PY" -c "print(int(60 * $m + 120))") "$PY" benchmarks/gpu/with_precision.py bf16 \
        benchmarks/two_set.py "${common[@]}" --generations 1000 --steps 500 --batch-size 512 \
        --minutes "$("$PY" -c "print($m / 2)")" --set model.layers=4 --set model.width=512 --set model.heads=8
    else
      echo; echo "=== twoset: skipped, $m minutes left for it (--two-set-minutes $TWOSET_MIN) ==="
    fi
  fi
  echo
  echo "# phases: ${STATUS[*]:-none}; $(( $(date +%s) - START )) s in all; results in $RESULT"
}

main 2>&1 | tee "$RESULT"
