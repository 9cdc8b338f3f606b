import pytest
import torch

import daptools as dap
from daptools.priors import DilatedConv2d
from conftest import TINY

# parameter counts of the paper-size networks (35/70/140 filters); exp_dense matches the authors'
# network (about 1.09 M), the same skeleton without dense connections about 0.62 M (REFERENCE.md)
EXPECTED = {"plain": 618_907, "dilated": 618_907, "exp": 618_907, "exp_dense": 1_092_912}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts(name):
    assert dap.count_parameters(dap.build_prior(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", dap.prior_names())
@pytest.mark.parametrize("size", [(37, 23), (64, 64), (5, 9)])
def test_any_size_in_same_size_out(name, size):
    net = dap.build_prior(name, seed=0, **TINY)
    z = torch.randn(2, 2, *size)
    assert net(z).shape == (2, 2, *size)


def test_one_definition_two_switches():
    plain, exp, dense = (dap.build_prior(n).config for n in ("plain", "exp", "exp_dense"))
    assert plain.dense is False and exp.dense is False and dense.dense is True
    assert exp.dilations == dense.dilations == ((1, 2), (4, 8), (16, 32), (32, 16), (8, 4))
    assert set(d for blk in dap.build_prior("dilated").config.dilations for d in blk) == {4}
    assert set(d for blk in plain.dilations for d in blk) == {1}


def test_layer_dilations_follow_the_schedule():
    net = dap.build_prior("exp_dense")
    dil = [m.dilation[0] for n, m in net.named_modules()
           if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] == 3 and "up_conv" not in n]
    assert dil == [1, 2, 4, 8, 16, 32, 32, 16, 8, 4]


def test_dense_block_widths_match_the_authors_network():
    net = dap.build_prior("exp_dense")
    assert [b.features for b in net.down] == [72, 175, 350]
    assert [u.block.features for u in net.up] == [385, 177]


def test_seeded_initialisation_is_deterministic():
    a, b = dap.build_prior("exp", seed=3, **TINY), dap.build_prior("exp", seed=3, **TINY)
    c = dap.build_prior("exp", seed=4, **TINY)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize("d", [2, 4, 32])
def test_space_to_batch_dilated_conv_equals_native(d):
    torch.manual_seed(0)
    conv = DilatedConv2d(3, 5, 3, d)
    x = torch.randn(2, 3, 37, 23, requires_grad=True)
    fast = conv(x)
    g_fast = torch.autograd.grad(fast.square().sum(), [x, conv.weight])
    conv.space_to_batch = False
    ref = conv(x)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, conv.weight])
    assert torch.allclose(fast, ref, atol=1e-5)
    for a, b in zip(g_fast, g_ref):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_receptive_field_grows_with_dilation():
    sizes = {n: int(dap.receptive_field(dap.build_prior(n, **TINY), size=(256, 256)).sum())
             for n in ("plain", "dilated", "exp")}
    assert sizes["plain"] < sizes["dilated"] < sizes["exp"] == 256 * 256  # exp sees the whole input


def test_bad_prior_requests():
    with pytest.raises(dap.DapError, match="unknown prior 'unet'"):
        dap.build_prior("unet")
    with pytest.raises(dap.DapError, match="unknown prior option"):
        dap.build_prior("plain", widths=(1, 2, 3))
    with pytest.raises(dap.DapError, match="one tuple per block"):
        dap.build_prior("plain", dilations=((1, 1),))
    with pytest.raises(dap.DapError, match="conv must be one of"):
        dap.build_prior("plain", conv="fancy")
