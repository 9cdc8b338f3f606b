"""The benchmark's batched step timing (tiny networks, a few steps)."""
import torch

from daptools import bench

TINY = {"channels": (4, 8, 16)}


def test_batched_step_time_is_per_batch_and_per_problem():
    row = bench.time_steps("plain", "eager", device="cpu", frames=32, steps=2, warmup=1, options=TINY, batch=3)
    assert row["batch"] == 3 and row["steps"] == 2
    assert row["median_ms"] > 0 and row["ms_per_problem"] == row["median_ms"] / 3


def test_bf16_with_channels_last_is_a_cuda_path():
    assert bench._path_options("bf16_channels_last", torch.device("cpu")) is None
    assert bench._path_options("bf16_channels_last", torch.device("cuda")) == (
        {"precision": "bf16", "channels_last": True}, False)
    assert bench.time_steps("plain", "bf16_channels_last", device="cpu", batch=4)["skipped"]


def test_bad_batches_are_refused(capsys):
    assert bench.main(["--batches", "1,x"]) == 2
    assert "--batches must be whole numbers" in capsys.readouterr().err


def test_step_seconds_per_setting_and_length():
    assert bench.frames_of(1.0) == 251 and bench.frames_of(0.5, hop=256) == 32
    setting = {"prior": "plain", "channels": [4, 8, 16], "lr": 3e-3, "schedule": None, "hop": 256}
    out = bench.step_seconds([setting], lengths=(0.25,), steps=1, warmup=1)
    assert list(out["steps"]) == ["plain 4/8/16 lr 0.003 constant hop 256"]
    assert out["steps"]["plain 4/8/16 lr 0.003 constant hop 256"]["0.25"] > 0
