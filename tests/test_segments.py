"""Segmenting long recordings and joining them with cross-fades (daptools.segments), on real speech."""
from __future__ import annotations

import functools
import itertools

import pytest
import torch

import daptools as dap
from daptools.segments import align_sources, plan_segments

SR = dap.SAMPLE_RATE


@functools.lru_cache(maxsize=1)
def _speech_pool() -> torch.Tensor:
    """Real speech: the tutorial set's speech clips (LibriVox, CMU ARCTIC, CMU) end to end."""
    return torch.cat([c.audio for c in dap.data.load_clips("speech", n=50)])


def real_speech(seconds: float, index: int = 0) -> torch.Tensor:
    """``seconds`` of real speech, 16 kHz, peak 1; ``index`` picks a different excerpt."""
    pool = _speech_pool()
    a, n = index * 3 * SR, int(seconds * SR)
    wav = pool.repeat((a + n) // pool.numel() + 1)[a:a + n]
    return dap.peak_normalize(wav)


def coverage(plan, fade="linear", power=1) -> torch.Tensor:
    """Sum over segments of weight**power at every sample of the recording."""
    total, w = torch.zeros(plan.length), plan.weights(fade)
    for k, s in enumerate(plan.starts):
        total[s:s + plan.size] += w[k] ** power
    return total


@pytest.mark.parametrize("length", [500, 8000, 8001, 9000, 14000, 14001, 3 * SR + 17, 61 * 997])
def test_plan_covers_the_recording_with_weights_summing_to_one(length):
    plan = plan_segments(length, 8000, 1000)
    assert all(0 <= s <= length - plan.size for s in plan.starts)
    assert plan.starts[0] == 0 and plan.starts[-1] + plan.size == length
    assert torch.allclose(coverage(plan), torch.ones(length), atol=1e-6)
    assert len(plan.fades) == len(plan) - 1
    assert all(b - a == 1000 for a, b in plan.fades)


def test_a_recording_shorter_than_a_segment_is_one_segment():
    plan = plan_segments(5000, 8000, 1000)
    assert (len(plan), plan.size, plan.fades) == (1, 5000, ())


def test_segments_advance_by_segment_minus_overlap():
    plan = plan_segments(10 * SR, 2 * SR, SR // 4)
    steps = {b - a for a, b in zip(plan.starts, plan.starts[1:-1])}
    assert steps == {2 * SR - SR // 4}
    assert len(plan) == 6  # ceil((10 - 0.25) / 1.75)


def test_split_then_linear_join_gives_back_a_real_recording_exactly():
    wav = real_speech(5.3)
    plan = plan_segments(wav.numel(), SR, SR // 4)
    pieces = plan.split(wav)
    assert pieces.shape == (len(plan), SR)
    assert torch.allclose(plan.join(pieces), wav, atol=1e-6)


def test_equal_power_fade_keeps_power_but_boosts_correlated_content():
    wav = real_speech(3.0)
    plan = plan_segments(wav.numel(), SR, SR // 4)
    assert torch.allclose(coverage(plan, "equal_power", power=2), torch.ones(wav.numel()), atol=1e-6)
    joined = plan.join(plan.split(wav), fade="equal_power")
    a, b = plan.fades[0]
    mid = (a + b) // 2
    # identical content in the overlap: sin + cos = sqrt(2) in the middle of the fade (+3 dB)
    ratio = joined[mid - 20:mid + 20].abs().sum() / wav[mid - 20:mid + 20].abs().sum()
    assert abs(float(ratio) - 2 ** 0.5) < 0.01


def test_join_handles_extra_axes_and_checks_shapes():
    wav = real_speech(2.5)
    plan = plan_segments(wav.numel(), SR, 2000)
    pieces = torch.stack([plan.split(wav), -plan.split(wav)], 1)  # (n, 2, size)
    joined = plan.join(pieces)
    assert joined.shape == (2, wav.numel())
    assert torch.allclose(joined[1], -wav, atol=1e-6)
    with pytest.raises(dap.DapError, match="segments"):
        plan.join(pieces[1:])
    with pytest.raises(dap.DapError, match="cross-fade"):
        plan.weights("cosine")


@pytest.mark.parametrize("gaps", [[(15000, 17000)], [(7600, 9000), (9800, 10400)], [(3000, 3800), (30000, 34000)]])
def test_fades_avoid_gaps_so_each_gap_is_inside_one_fully_weighted_segment(gaps):
    margin = dap.N_FFT
    plan = plan_segments(3 * SR, SR, 2000, keep_out=gaps, margin=margin)
    w = plan.weights()
    for a, b in gaps:
        for fa, fb in plan.fades:
            assert fb <= a - margin or fa >= b + margin
        owners = [k for k, s in enumerate(plan.starts) if s <= a and b <= s + plan.size
                  and bool((w[k, a - s:b - s] == 1).all())]
        assert len(owners) == 1
    assert torch.allclose(coverage(plan), torch.ones(3 * SR), atol=1e-6)


def test_local_gaps_are_in_segment_samples():
    plan = plan_segments(3 * SR, SR, 2000)
    s = plan.starts[1]
    assert plan.local_gaps(1, [(s - 100, s + 50), (s + 400, s + 500), (0, 10)]) == [(0, 50), (400, 500)]


def test_a_gap_too_long_for_the_segments_is_refused():
    with pytest.raises(dap.DapError, match="does not fit inside one segment"):
        plan_segments(5 * SR, SR, 2000, keep_out=[(SR, 2 * SR)], margin=dap.N_FFT)


@pytest.mark.parametrize("args", [(0, 100, 10), (1000, 0, 0), (1000, 100, 60), (1000, 100, -1)])
def test_bad_sizes_are_refused(args):
    with pytest.raises(dap.DapError):
        plan_segments(*args)


def test_align_sources_undoes_per_segment_swaps_of_real_sources():
    s1, s2 = real_speech(4.0, 0), real_speech(4.0, 1)
    plan = plan_segments(s1.numel(), SR, SR // 4)
    pieces = torch.stack([plan.split(s1), plan.split(s2)], 1)  # (n, 2, size)
    swapped = pieces.clone()
    flips = [k % 2 == 1 for k in range(len(plan))]
    for k, flip in enumerate(flips):
        if flip:
            swapped[k] = pieces[k, [1, 0]]
    assert any(flips)
    joined = plan.join(align_sources(swapped, plan))
    assert torch.allclose(joined, torch.stack([s1, s2]), atol=1e-6)


def test_align_sources_keeps_a_consistent_order_of_three():
    clips = [real_speech(3.0, i) for i in range(3)]
    plan = plan_segments(clips[0].numel(), SR, SR // 4)
    pieces = torch.stack([plan.split(c) for c in clips], 1)
    perms = list(itertools.permutations(range(3)))
    shuffled = torch.stack([pieces[k, list(perms[k % len(perms)])] for k in range(len(plan))])
    aligned = align_sources(shuffled, plan)
    first = perms[0]
    assert torch.allclose(plan.join(aligned), torch.stack([clips[i] for i in first]), atol=1e-6)
