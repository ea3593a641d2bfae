import os
from pathlib import Path

import pytest

# Keep torch from oversubscribing the CI machine's two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent

TINY_C4 = """
[task]
name = "tiny"
problem = "c4free"
seed = 3
generations = 3

[problem]
n = 8

[loop]
initial_pool = 40
samples_per_generation = 24
keep = 16
elite_size = 8
elite_reentry = 4

[model]
layers = 1
heads = 2
width = 16

[train]
first_steps = 6
steps = 4
batch_size = 8

[sampling]
batch_size = 16

[execution]
threads = 1
chunk_size = 16

[kernel]
elite_params = { kick = 1 }
"""


# The integer counterpart of TINY_C4 (same run name and seed: runs land in tiny-3): the C++
# token path, no local search, greedy evaluation; and no pynauty, which some machines lack.
TINY_GCD = """
[task]
name = "tiny"
problem = "gcd"
seed = 3
generations = 3

[problem]
base = 30
max_operand = 1_000_000
test_size = 200
classes = 10
per_class = 10

[loop]
initial_pool = 100
samples_per_generation = 100
keep = 100
elite_size = 0

[model]
layers = 1
heads = 2
width = 32

[train]
first_steps = 20
steps = 10
batch_size = 32

[sampling]
batch_size = 100

[selection]
elite_fraction = 0.0

[kernel]
local_search = "none"

[execution]
threads = 1
"""


@pytest.fixture
def tiny_gcd_task(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_gcd.toml"
    path.write_text(TINY_GCD)
    return path


@pytest.fixture(params=["c4free", "gcd"])
def tiny_task_any(request, tmp_path: Path) -> Path:
    """TINY_C4 and TINY_GCD in turn (the C4-free one skips where pynauty is missing)."""
    if request.param == "c4free":
        pytest.importorskip("pynauty")
    path = tmp_path / f"tiny_{request.param}.toml"
    path.write_text(TINY_C4 if request.param == "c4free" else TINY_GCD)
    return path


@pytest.fixture
def tiny_task(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_C4)
    return path


@pytest.fixture(scope="session")
def shared_kernel_cache(tmp_path_factory) -> Path:
    """One kernel cache for test modules that build the same test kernels (with
    CXXFLAGS=-O0), so each is compiled once per session."""
    return tmp_path_factory.mktemp("shared-kernel-cache")


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` need an NVIDIA GPU: skipped (with the reason listed by -ra) where
    torch sees none, so `pytest` passes on CPU machines and `pytest -m cuda` runs them on a GPU."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs an NVIDIA GPU: torch {torch.__version__} sees none")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
