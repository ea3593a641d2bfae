"""The model, training, sampling, checkpoints and reproducibility on an NVIDIA GPU.

Marked `cuda`: skipped where torch sees no GPU (tests/conftest.py), run with `pytest -m cuda`
on a GPU machine (benchmarks/gpu/run_all.sh does). tests/test_device.py checks the
device-independent half of this on any machine."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from archives import checkpoint_tensors, resume, run, same_candidates
from loopengine.learn.data import TokenMix
from loopengine.learn.model import DEVICE_ENV, ModelShape, Transformer, adamw_options, shape_for
from loopengine.learn.train import prompt_tokens, sample, token_set, train_steps
from loopengine.problems import make_problem
from loopengine.rundir.archive import complete_generations

pytestmark = pytest.mark.cuda

ROOT = Path(__file__).resolve().parent.parent
GPU = torch.device("cuda")


def gcd_problem():
    return make_problem("gcd", {"base": 30, "max_operand": 1_000_000, "test_size": 200}, "gcd.toml")


def test_model_trains_and_samples_on_cuda():
    """Training steps on the GPU lower the loss and leave every weight and optimizer moment
    there; sampling on the GPU answers every prompt and agrees with the same weights on the CPU."""
    problem = gcd_problem()
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    answer = problem.codec.max_answer_tokens()
    shape = ModelShape(len(problem.codec.vocabulary()) + 4, problem.max_prompt_tokens() + answer + 3,
                       layers=2, heads=4, width=64)
    model = Transformer(shape).to(GPU)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, **adamw_options())
    mix = TokenMix(token_set(problem, problem.fresh_examples(rng, 64 * 60), shape.context), 1.0, None)
    losses = []
    tail = train_steps(model, optimizer, mix, 60, 64, rng, GPU, on_step=lambda s, loss: losses.append(loss))
    assert all(loss.device.type == "cuda" for loss in losses)
    assert np.isfinite(tail)
    assert float(np.mean([float(x) for x in losses[-10:]])) < float(np.mean([float(x) for x in losses[:10]]))
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert all(t.device.type == "cuda" for s in optimizer.state.values() for t in s.values()
               if isinstance(t, torch.Tensor) and t.dim() > 0)

    prompts = problem.target_prompts(rng, 300)
    tokens = prompt_tokens(problem, prompts, len(prompts))
    generator = torch.Generator(device=GPU).manual_seed(1)
    on_gpu = sample(model, tokens, answer, 0.0, 128, generator, GPU)
    on_cpu = sample(model.cpu(), tokens, answer, 0.0, 128, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert len(on_gpu) == len(prompts)
    # greedy decoding of the same weights: float differences may flip a near-tie, rarely
    assert np.mean([a == b for a, b in zip(on_gpu, on_cpu)]) >= 0.95
    model.to(GPU)
    hot = sample(model, tokens, answer, 1.0, 128, torch.Generator(device=GPU).manual_seed(2), GPU)
    again = sample(model, tokens, answer, 1.0, 128, torch.Generator(device=GPU).manual_seed(2), GPU)
    assert hot == again  # the GPU generator makes sampling reproducible


def test_same_seed_same_archive_on_cuda(tiny_task_any, tmp_path, monkeypatch):
    """Two runs of one task and seed on the GPU write byte-identical candidates and equal
    weights (C4-free: its decoding constraint runs on the GPU too; GCD: the C++ token path)."""
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    same_candidates(run(tiny_task_any, tmp_path / "a"), run(tiny_task_any, tmp_path / "b"))


def test_overlapped_training_on_cuda_equals_sequential(tiny_task_any, tmp_path, monkeypatch):
    """On a GPU train.overlap = "auto" is on: the fine-tuning runs in a thread beside the
    next generation's CPU search; "off" trains first. Both write the same candidates."""
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    same_candidates(run(tiny_task_any, tmp_path / "auto"),
                    run(tiny_task_any, tmp_path / "off", "--set", 'train.overlap="off"'))


def test_resume_on_cuda_equals_uninterrupted(tiny_task_any, tmp_path, monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    full = run(tiny_task_any, tmp_path / "full")
    part = run(tiny_task_any, tmp_path / "part", "--generations", "1")
    resume(part, 3)
    same_candidates(full, part)


def test_checkpoint_written_on_cuda_resumes_on_cpu_and_back(tiny_task_any, tmp_path, monkeypatch):
    """A run started on the GPU, continued on the CPU, finished on the GPU: its checkpoints
    hold host tensors (plus the GPU RNG state) and every generation is complete and sane."""
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    run_dir = run(tiny_task_any, tmp_path / "r", "--generations", "1")
    raw = torch.load(run_dir / "gen_0000" / "model.pt", weights_only=True)
    assert {t.device.type for t in checkpoint_tensors(raw)} == {"cpu"}
    assert raw["rng"]["cuda"] is not None
    for device, until in (("cpu", 2), ("cuda", 3)):
        monkeypatch.setenv(DEVICE_ENV, device)
        resume(run_dir, until)
    assert complete_generations(run_dir) == [0, 1, 2]
    for g in (1, 2):
        metrics = json.loads((run_dir / f"gen_{g:04d}" / "metrics.json").read_text())
        assert metrics["samples"] > 0
        assert np.isfinite(metrics["train_loss"])


def test_sample_command_on_cuda_and_cpu(tiny_gcd_task, tmp_path, monkeypatch):
    """`loopengine sample` from a model trained on the GPU, on the GPU and on the CPU."""
    from loopengine.inspection.sample import draw

    monkeypatch.setenv(DEVICE_ENV, "cuda")
    run_dir = run(tiny_gcd_task, tmp_path / "runs", "--generations", "2")
    answers = {}
    for device in ("cuda", "cpu"):
        monkeypatch.setenv(DEVICE_ENV, device)
        pool = draw(run_dir, None, 50, 0.0, seed=3)
        assert len(pool) == 50
        answers[device] = pool.objects.reshape(-1).tolist()
    assert np.mean(np.equal(answers["cuda"], answers["cpu"])) >= 0.9


def test_model_shape_of_a_task_builds_on_cuda():
    """The 4x512 model the GPU benchmarks use fits and steps (bf16 autocast) on the GPU."""
    from loopengine.config import load_task

    task, _ = load_task(ROOT / "tasks" / "gcd_loguniform.toml", ["model.layers=4", "model.width=512",
                                                                   "model.heads=8"])
    problem = gcd_problem()
    model = Transformer(shape_for(task, problem)).to(GPU)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, **adamw_options())
    rng = np.random.default_rng(0)
    mix = TokenMix(token_set(problem, problem.fresh_examples(rng, 256 * 5), model.shape.context), 1.0, None)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = train_steps(model, optimizer, mix, 5, 256, rng, GPU)
    assert np.isfinite(loss)
