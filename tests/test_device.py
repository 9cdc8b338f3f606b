"""The batch size chosen from free memory (no GPU needed: torch.cuda.mem_get_info is replaced)."""
import argparse

import pytest
import torch

import daptools as dap
from daptools import restore
from daptools.device import auto_batch_size, fit_memory_bytes
from daptools.separation import SeparationPrior, memory_model

MIB = 2 ** 20
CUDA = torch.device("cuda")


def fake_memory(monkeypatch, free_mib, total_mib=1000):
    seen = []

    def mem_get_info(device=None):
        seen.append(device)
        return free_mib * MIB, total_mib * MIB
    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    return seen


def test_batch_fills_the_free_memory_less_the_reserve(monkeypatch):
    seen = fake_memory(monkeypatch, free_mib=900, total_mib=1000)
    # (900 - 0.1 * 1000) MiB free for fits of 100 MiB each
    assert auto_batch_size(CUDA, 100 * MIB) == 8
    assert auto_batch_size(CUDA, 100 * MIB, reserve=0.0) == 9
    assert auto_batch_size(CUDA, 30 * MIB, cap=64) == 26
    assert seen == [CUDA] * 3  # the free memory of the device the fits run on


def test_batch_is_capped_and_at_least_one(monkeypatch):
    fake_memory(monkeypatch, free_mib=140_000, total_mib=141_000)
    assert auto_batch_size(CUDA, 100 * MIB) == 16  # the measured best (docs/performance.md)
    assert auto_batch_size(CUDA, 100 * MIB, cap=64) == 64
    fake_memory(monkeypatch, free_mib=50, total_mib=1000)  # less free than one fit needs: still one at a time
    assert auto_batch_size(CUDA, 100 * MIB) == 1


def test_cpu_and_other_devices_do_not_ask_cuda(monkeypatch):
    def boom(device=None):
        raise AssertionError("mem_get_info called off CUDA")
    monkeypatch.setattr(torch.cuda, "mem_get_info", boom)
    assert auto_batch_size(torch.device("cpu"), 100 * MIB) == 1
    assert auto_batch_size(torch.device("mps"), 100 * MIB) == 8
    with pytest.raises(dap.DapError, match="per_fit_bytes"):
        auto_batch_size(CUDA, 0)


@pytest.mark.parametrize("prior, measured_mib", [("plain", 407), ("exp_dense", 911), ("harmonic", 1047)])
def test_estimate_covers_the_peaks_measured_on_an_h200(prior, measured_mib):
    # fp32 peaks of one paper-size fit (1 s clip, batch 1) from docs/performance.md; the estimate
    # must cover them without wasting most of the card (at most twice the measured peak)
    est = fit_memory_bytes(dap.build_prior(prior), (2, 512, 251)) / MIB
    assert measured_mib <= est <= 2 * measured_mib


def test_estimate_grows_with_the_problem():
    small, long = (fit_memory_bytes(dap.build_prior("exp_dense", channels=(8, 16, 32)), (2, 512, t))
                   for t in (126, 501))
    assert 3.5 < long / small < 4.5  # activations scale with the frames
    one = fit_memory_bytes(dap.build_prior("plain", channels=(8, 16, 32)), (2, 512, 126))
    three = fit_memory_bytes(SeparationPrior("plain", channels=(8, 16, 32)), (2, 512, 126))
    assert 2.5 < three / one < 3.5  # separation fits three U-Nets per problem


def test_command_line_batches_segments_by_free_memory(monkeypatch):
    fake_memory(monkeypatch, free_mib=1000, total_mib=1000)
    run = argparse.Namespace(segment=1.0, overlap=0.25, channels=(8, 16, 32), preset="lab", prior="plain",
                             command="denoise", hop=None, method=None)  # the lab preset's hop, 64: 251 frames for 1 s
    per_fit = fit_memory_bytes(dap.build_prior("plain", channels=(8, 16, 32)), (2, 512, 251))
    expected = int((900 * MIB) // per_fit)
    assert 1 < expected < 64
    assert restore.gpu_batch_size(run, CUDA) == expected
    # separation counts the networks its method fits: hp one mask prior (about a denoising fit),
    # masks three U-Nets (about a third as many segments)
    run.command = "separate"
    hp = restore.gpu_batch_size(run, CUDA)
    assert hp == int((900 * MIB) // fit_memory_bytes(memory_model("hp", "plain", (2, 512, 251), channels=(8, 16, 32)),
                                                        (2, 512, 251)))
    assert expected // 2 < hp <= expected
    run.method = "masks"
    assert restore.gpu_batch_size(run, CUDA) in range(expected // 3 - 1, expected // 3 + 2)
