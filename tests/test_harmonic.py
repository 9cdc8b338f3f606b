"""Harmonic convolution layer and the `harmonic` prior (daptools/harmonic.py)."""
import math

import pytest
import torch

import daptools as dap
from daptools.harmonic import HarmonicConv2d, harmonic_conv

TINY = dict(channels=(4, 8, 16))


def reference_harmonic_conv(x, weight, bias, anchors, dilation=1):
    """Direct, slow definition: loops over bins, frames, anchors, harmonics and time taps.

    Y(co, f, t) = bias(co) + sum W[co, ci, n, k, tau] * X(ci, f*k/n, t + d*(tau - kt//2)),
    with X linearly interpolated between bins and zero beyond the last bin and outside the frames.
    """
    B, C, F, T = x.shape
    cout, _, _, K, kt = weight.shape
    out = torch.zeros(B, cout, F, T, dtype=x.dtype)
    if bias is not None:
        out += bias.detach()[None, :, None, None]

    def sample(pos, t):  # (B, C) values of X at fractional bin pos and frame t
        if t < 0 or t >= T:
            return torch.zeros(B, C, dtype=x.dtype)
        lo = math.floor(pos)
        w = pos - lo
        val = torch.zeros(B, C, dtype=x.dtype)
        if lo < F:
            val = val + (1 - w) * x[:, :, lo, t]
        if w > 0 and lo + 1 < F:
            val = val + w * x[:, :, lo + 1, t]
        return val

    for f in range(F):
        for t in range(T):
            for ni, n in enumerate(anchors):
                for k in range(1, K + 1):
                    for tau in range(kt):
                        v = sample(f * k / n, t + dilation * (tau - kt // 2))
                        out[:, :, f, t] += v @ weight.detach()[:, :, ni, k - 1, tau].T
    return out


@pytest.mark.parametrize("order", ["gather_first", "gather_last"])
@pytest.mark.parametrize("anchors,dilation", [(2, 1), ((1, 3), 2)])
def test_layer_matches_direct_reference(order, anchors, dilation):
    torch.manual_seed(0)
    layer = HarmonicConv2d(3, 4, kernel_size=3, harmonics=3, anchors=anchors, dilation=dilation, order=order)
    x = torch.randn(2, 3, 13, 7)
    ref = reference_harmonic_conv(x.double(), layer.weight.double(), layer.bias.double(), layer.anchors, dilation)
    assert torch.allclose(layer(x).double(), ref, atol=1e-5, rtol=1e-5)


def test_orders_agree_and_single_anchor_reads_whole_bins():
    torch.manual_seed(1)
    a = HarmonicConv2d(5, 2, harmonics=4, anchors=1, order="gather_first")
    b = HarmonicConv2d(5, 2, harmonics=4, anchors=1, order="gather_last")
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 5, 11, 6)
    assert torch.allclose(a(x), b(x), atol=1e-5)
    index, weight = dap.harmonic.harmonic_table(11, 4, (1,))
    assert index.shape[0] == 1 and torch.all(weight == 1)  # f*k/1 is always a whole bin


def test_dc_bin_sees_only_dc():
    layer = HarmonicConv2d(1, 1, kernel_size=1, harmonics=5, anchors=3, bias=False)
    x = torch.zeros(1, 1, 9, 1)
    x[0, 0, 1:] = 1.0  # everything but DC
    assert layer(x)[0, 0, 0, 0].item() == 0.0


def test_gradients_reach_weights_and_input():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 5, 3, dtype=torch.float64, requires_grad=True)
    for order in ("gather_first", "gather_last"):
        layer = HarmonicConv2d(2, 3, harmonics=2, anchors=2, order=order).double()
        layer(x).pow(2).sum().backward()
        assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0
        assert torch.autograd.gradcheck(lambda inp, w: _with_weight(layer, inp, w), (x, layer.weight))
    assert x.grad is not None and x.grad.abs().sum() > 0


def _with_weight(layer, inp, w):
    return torch.func.functional_call(layer, {"weight": w, "bias": layer.bias}, (inp,))


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (37, 23), (64, 9)])
def test_output_keeps_input_size(size):
    layer = HarmonicConv2d(2, 3, kernel_size=5, harmonics=7, anchors=2, dilation=3)
    assert layer(torch.randn(2, 2, *size)).shape == (2, 3, *size)


def test_tables_follow_size_and_bad_options_are_one_line_errors():
    layer = HarmonicConv2d(1, 1, anchors=2)
    layer(torch.randn(1, 1, 8, 4))
    layer(torch.randn(1, 1, 10, 4))
    assert {key[0] for key in layer._tables} == {8, 10}
    assert set(layer.state_dict()) == {"weight", "bias"}  # tables are a cache, not state
    for bad in (dict(kernel_size=2), dict(anchors=0), dict(harmonics=0), dict(order="sideways")):
        with pytest.raises(dap.DapError):
            HarmonicConv2d(1, 1, **bad)
    with pytest.raises(dap.DapError, match="unknown harmonic conv option"):
        harmonic_conv(1, 1, 3, 1, kernel=7)


def test_harmonic_prior_builds_and_keeps_odd_sizes():
    assert "harmonic" in dap.prior_names() and "harmonic" in dap.DESCRIPTIONS
    prior = dap.build_prior("harmonic", seed=0, **TINY)
    convs = [m for m in prior.modules() if isinstance(m, HarmonicConv2d)]
    assert len(convs) == 12  # 2 per block x 5 blocks + the up conv of each of the 2 up blocks
    assert isinstance(prior.out, torch.nn.Conv2d)
    z = torch.randn(1, 2, 37, 23)
    assert prior(z).shape == (1, 2, 37, 23)
    # same seed, same weights; a different anchor count changes the parameter count
    again = dap.build_prior("harmonic", seed=0, **TINY)
    assert torch.equal(prior(z), again(z))
    wider = dap.build_prior("harmonic", seed=0, conv_options={"anchors": 2}, **TINY)
    assert dap.count_parameters(wider) > dap.count_parameters(prior)


@pytest.mark.parametrize("batch", [1, 2])
def test_fit_with_harmonic_prior_reduces_loss(batch):
    torch.manual_seed(3)
    obs = torch.randn(batch, 2, 24, 16)
    result = dap.fit("harmonic", obs, iterations=30, lr=1e-2, device="cpu", progress=False,
                     prior_options=TINY)
    loss = result.history["loss"]
    assert loss.shape == (30, batch)
    assert (loss[-1] < 0.85 * loss[0]).all()
    assert len(result.nets) == batch and result.output.shape == obs.shape
