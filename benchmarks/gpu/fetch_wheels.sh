#!/usr/bin/env bash
# Download, on a machine with network access, the wheels that the GPU machine's image lacks
# (it has torch, numpy, pyarrow, typer, rich, sympy, networkx, matplotlib, pybind11,
# scikit-build-core, cmake, ninja and pytest, and no network). They land in .whl/ at the
# repository root (.gitignore lists it); benchmarks/gpu/run_all.sh installs them from there.
#
#   bash benchmarks/gpu/fetch_wheels.sh            # all of them (a few MB)
#   bash benchmarks/gpu/fetch_wheels.sh tomli-w==1.2.0   # only the packages named
#
# Versions are the ones the project is tested with; pydantic and pydantic-core must match.
# cvxpy, clarabel and scs (Lyapunov problems only) and ray are not fetched: the GPU checks
# do not import them.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES=("$@")
OPTIONAL=()
if [ ${#PACKAGES[@]} -eq 0 ]; then
  PACKAGES=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 tomli-w==1.2.0)
  # C4-free canonical forms; without it the C4-free cuda tests skip and the GCD ones still run
  OPTIONAL=(pynauty==2.8.8.1)
fi
mkdir -p .whl
PY=${PYTHON:-python3}
fetch() {
  # manylinux tags are matched exactly: list the usual ones (see the device notes)
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform any -d .whl "$1"
}
for pkg in "${PACKAGES[@]}"; do fetch "$pkg"; done
for pkg in "${OPTIONAL[@]}"; do fetch "$pkg" || echo "optional $pkg: no wheel found (its tests will skip)"; done
ls -l .whl
