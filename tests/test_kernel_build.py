"""Compiling user C++ kernels: cache keys, concurrent builds, compile errors, and the
runtime contract of the generated module (dtypes, prompts, parameters, exceptions thrown
on worker threads)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import loopengine
from loopengine.cli import app
from loopengine.errors import ConfigError, KernelError
from loopengine.kernels import build as kb
from loopengine.kernels.resolve import Kernel

runner = CliRunner()

PROBE = r"""
#include <loopengine/kernel.hpp>
#include "probe_helper.hpp"

// int32 objects, int64 prompts: adds prompt[0] to every entry; fails on row `fail_row`
// (from inside the worker threads)
void probe(loopengine::Batch<int32_t, int64_t> &b) {
  const int64_t fail = b.integer("fail_row");
  b.for_each_row([&](int64_t r, loopengine::Rng &rng) {
    if (r == fail) throw std::runtime_error("row " + std::to_string(r) + " is cursed");
    const int32_t add = b.prompt(r) ? int32_t(b.prompt(r)[0]) : 0;
    for (int64_t j = 0; j < b.width; ++j) b.row(r)[j] += add * SCALE;
    b.scores[r] = double(rng.below(1000000));
  });
}

LOOPENGINE_KERNEL(probe, {"fail_row", -1})
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPENGINE_CACHE", str(root))
        mp.setenv("CXXFLAGS", "-O0")  # these kernels are tiny: a faster compile matters more
        yield root


@pytest.fixture(scope="module")
def probe_file(cache, tmp_path_factory) -> Path:
    """Built by two processes at once: both must succeed and leave one build behind."""
    src = tmp_path_factory.mktemp("src")
    (src / "probe_helper.hpp").write_text("#pragma once\nconstexpr int SCALE = 1;\n")
    path = src / "probe.cpp"
    path.write_text(PROBE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "loopengine.cli", "kernels", "build", str(path)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    entries = [p.name for p in cache.iterdir()]
    assert len([e for e in entries if e.startswith("probe-")]) == 1, entries
    assert not [e for e in entries if e.startswith(".")], entries  # no temporary build left
    return path


@pytest.fixture(scope="module")
def probe(probe_file):
    with pytest.MonkeyPatch.context() as mp:
        # already built by the fixture above: loading must not compile again
        mp.setattr(kb, "_compile", lambda *a: pytest.fail("a cached build was compiled again"))
        fn = kb.load_cpp_kernel(probe_file)
    return Kernel(probe_file.name, fn)


@pytest.mark.slow
def test_batch_contract(probe):
    objects = np.arange(40 * 3, dtype=np.int32).reshape(40, 3)
    prompts = np.arange(40, dtype=np.int64).reshape(40, 1) * 10
    before = objects.copy()
    out = probe(objects, prompts, 7, 2, {})
    assert (out == before + prompts).all()
    assert out.dtype == np.int32
    assert (objects == before).all()  # the kernel worked on its own copy
    assert (probe(objects, None, 7, 1, {}) == before).all()
    # per-row seeding: the same numbers whatever the thread count
    _, s1 = probe.fn.search(objects, prompts, 7, 1)
    _, s2 = probe.fn.search(objects, prompts, 7, 2)
    _, s3 = probe.fn.search(objects, prompts, 8, 2)
    assert np.array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    assert probe.fn.params == {"fail_row": -1.0}


@pytest.mark.slow
def test_contract_violations_are_clear_errors(probe):
    objects = np.zeros((40, 3), dtype=np.int32)
    with pytest.raises(KernelError, match=r"probe.cpp.*row 5 is cursed"):
        probe(objects, None, 0, 2, {"fail_row": 5})  # thrown on a worker thread
    with pytest.raises(KernelError, match="probe takes int32 objects but was given uint8"):
        probe(objects.astype(np.uint8), None, 0, 1, {})
    with pytest.raises(KernelError, match="probe takes int64 prompts but was given int32"):
        probe(objects, objects[:, :1], 0, 1, {})
    with pytest.raises(KernelError, match="3 prompts for 40 objects"):
        probe(objects, np.zeros((3, 1), dtype=np.int64), 0, 1, {})
    with pytest.raises(KernelError, match=r"unknown parameter 'fail_rows' \(it accepts: fail_row\)"):
        probe(objects, None, 0, 1, {"fail_rows": 1})
    with pytest.raises(KernelError, match="'fail_row' must be an integer"):
        probe(objects, None, 0, 1, {"fail_row": 0.5})
    with pytest.raises(KernelError, match="must be 2-D"):
        probe(objects[0], None, 0, 1, {})
    # still usable afterwards
    assert probe(objects, None, 0, 2, {}).shape == (40, 3)


@pytest.mark.slow
def test_kernels_list_shows_the_build(probe_file, probe):
    result = runner.invoke(app, ["kernels", "list"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "c4free" in result.output
    assert str(probe_file) in result.output
    assert "current" in result.output


def test_key_covers_what_is_known_before_compiling(tmp_path, monkeypatch):
    src = tmp_path / "k.cpp"
    src.write_text('#include "helper.hpp"\nint x;\n')
    keys = [kb.build_key(src)]
    assert kb.build_key(src) == keys[0]  # deterministic
    src.write_text('#include "helper.hpp"\nint y;\n')
    keys.append(kb.build_key(src))  # the file changed
    headers = tmp_path / "headers"
    shutil.copytree(loopengine.include_dir(), headers)
    monkeypatch.setattr(loopengine, "include_dir", lambda: headers)
    keys.append(kb.build_key(src))  # same header contents elsewhere: same key
    assert keys[-1] == keys[-2]
    with (headers / "loopengine" / "kernel.hpp").open("a") as f:
        f.write("\n// edited\n")
    keys.append(kb.build_key(src))  # the engine's header changed
    monkeypatch.setenv("CXXFLAGS", "-O1")
    keys.append(kb.build_key(src))  # other flags
    assert len(set(keys)) == 4, keys


def test_depfile_parsing():
    text = "out.so: /a/k.cpp /usr/include/x.h \\\n  /my\\ dir/h.hpp /b/$$c.h\n"
    assert kb.parse_depfile(text) == ["/a/k.cpp", "/usr/include/x.h", "/my dir/h.hpp", "/b/$c.h"]


SCALED = r"""
#include <loopengine/kernel.hpp>
#include "scale.hpp"

void scaled(loopengine::Batch<int32_t> &b) {
  b.for_each_row([&](int64_t r, loopengine::Rng &) {
    for (int64_t j = 0; j < b.width; ++j) b.row(r)[j] += SCALE;
  });
}
LOOPENGINE_KERNEL(scaled)
"""


@pytest.mark.slow
def test_header_found_through_cxxflags_include_is_never_stale(cache, tmp_path, monkeypatch):
    inc = tmp_path / "inc"  # not next to the source: only the compiler knows it is included
    inc.mkdir()
    (inc / "scale.hpp").write_text("#pragma once\nconstexpr int SCALE = 1;\n")
    src = tmp_path / "src" / "scaled.cpp"
    src.parent.mkdir()
    src.write_text(SCALED)
    monkeypatch.setenv("CXXFLAGS", f"-O0 -I{inc}")
    objects = np.zeros((3, 2), dtype=np.int32)
    assert (kb.load_cpp_kernel(src)(objects, None, 0, 1) == 1).all()
    (inc / "scale.hpp").write_text("#pragma once\nconstexpr int SCALE = 2;\n")
    assert (kb.load_cpp_kernel(src)(objects, None, 0, 1) == 2).all()  # rebuilt, not the stale build
    states = [r["state"] for r in kb.cached_builds() if r["source"] == src.resolve()]
    assert sorted(states) == ["current", "outdated"]


EVIL = r"""
#include <cstdio>
#include <cstdlib>
// runs when the library is loaded, before anything could look for a Python module in it
__attribute__((constructor)) static void planted() {
  if (const char *path = std::getenv("LOOPENGINE_TEST_MARKER")) std::fclose(std::fopen(path, "w"));
}
"""


@pytest.mark.slow
def test_planted_module_under_an_existing_key_is_not_loaded(probe_file, probe, tmp_path, monkeypatch):
    import ctypes

    evil_src = tmp_path / "evil.cpp"
    evil_src.write_text(EVIL)
    evil = tmp_path / "evil.so"
    subprocess.run([kb.compiler(), "-shared", "-fPIC", str(evil_src), "-o", str(evil)], check=True)
    monkeypatch.setenv("LOOPENGINE_TEST_MARKER", str(tmp_path / "proof"))
    ctypes.CDLL(str(evil))  # the planted library is live: loading it does create a file
    assert (tmp_path / "proof").exists()

    built = kb.load_cpp_kernel(probe_file).build
    shutil.copyfile(evil, built)  # planted under the existing key, in place of the real build
    marker = tmp_path / "planted-ran"
    monkeypatch.setenv("LOOPENGINE_TEST_MARKER", str(marker))
    with pytest.warns(RuntimeWarning, match="not the module that was built there"):
        again = kb.load_cpp_kernel(probe_file)  # rebuilt from the source
    assert not marker.exists()
    assert again.build.read_bytes() != evil.read_bytes()
    objects = np.arange(6, dtype=np.int32).reshape(3, 2)
    assert (Kernel("probe.cpp", again)(objects, None, 0, 1, {}) == objects).all()


@pytest.mark.slow
def test_compile_error_names_the_file_and_shows_the_compiler(tmp_path, cache):
    bad = tmp_path / "wrong_signature.cpp"
    bad.write_text("#include <loopengine/kernel.hpp>\nvoid search(int rows) {}\nLOOPENGINE_KERNEL(search)\n")
    result = runner.invoke(app, ["kernels", "build", str(bad)])
    assert result.exit_code == 2
    text = result.output + (getattr(result, "stderr", "") or "")
    assert f"compiling C++ kernel {bad} failed" in text
    assert "fn must be declared `void fn(loopengine::Batch<T> &batch)`" in text  # the compiler's own message
    assert not [p for p in cache.iterdir() if p.name.startswith(("wrong_signature", ".build"))]


def test_missing_file_and_missing_compiler(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not found"):
        kb.load_cpp_kernel(tmp_path / "absent.cpp", "t.toml")
    src = tmp_path / "k.cpp"
    src.write_text("int x;\n")
    monkeypatch.setenv("CXX", "no-such-compiler-anywhere")
    with pytest.raises(KernelError, match="no C\\+\\+ compiler found"):
        kb.load_cpp_kernel(src)


def test_builtin_kernel_in_the_public_form_matches_the_hand_bound_one():
    from loopengine import _core

    if not hasattr(_core, "c4free_batch"):
        pytest.skip("loopengine._core predates c4free_batch; reinstall")
    objects = (np.random.default_rng(0).random((30, 45)) < 0.3).astype(np.uint8)
    out, scores = kb.builtin_form("c4free_batch").search(objects, None, 11, 2, kick=1, rounds=2)
    assert np.array_equal(out, _core.c4_local_search(objects, 11, 2, 1, 2, 2))
    assert np.array_equal(scores, out.sum(axis=1))
