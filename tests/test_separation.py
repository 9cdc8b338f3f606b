"""The separation recipes (daptools.separation): models, losses, restarts, blind choice, baseline."""
import pytest
import torch

import daptools as dap
from daptools import separation as S
from conftest import TINY


@pytest.fixture(scope="module")
def pair(speech, piano):
    mixture, sources = dap.mix([speech, piano])
    return mixture, sources, dap.to_spectrogram(mixture)


@pytest.mark.parametrize("sources", S.SOURCES)
@pytest.mark.parametrize("masks", S.MASKS)
@pytest.mark.parametrize("combine", S.COMBINES)
def test_every_model_returns_two_estimates_and_two_masks(pair, sources, masks, combine):
    _, _, spec = pair
    if sources == "mixture" and combine == "independent":
        with pytest.raises(dap.DapError, match="masks that sum to one"):
            S.Recipe(sources=sources, masks=masks, combine=combine)
        return
    net = S.MaskedSources(spec, S.Recipe(sources=sources, masks=masks, combine=combine), "plain", seed=0, **TINY)
    z = torch.randn(1, net.in_channels, *spec.shape[2:])
    with torch.no_grad():
        out = net(z)
    assert out.shape == (1, 8 if sources == "magnitude" else 6, *spec.shape[2:])
    m = S.masks_of(out)
    assert float(m.min()) >= 0 and float(m.max()) <= 1
    if combine != "independent":
        assert torch.allclose(m.sum(1), torch.ones_like(m[:, 0]), atol=1e-6)
    if masks == "frame":  # one gain per frame: constant along frequency
        assert float((m - m[:, :, :1]).abs().max()) == 0
    e1, e2 = S.estimates(out)
    if sources == "mixture":  # the masks share out the mixture itself
        assert torch.allclose(e1 + e2, spec, atol=1e-4 * float(spec.abs().max()))
    if sources == "magnitude":  # non-negative magnitudes with the mixture's phase
        mix_phase = torch.atan2(spec[:, 1], spec[:, 0])
        live = dap.magnitude(e1) > 1e-3 * float(dap.magnitude(e1).max())
        d = torch.atan2(e1[:, 1], e1[:, 0]) - mix_phase
        assert float(torch.cos(d)[live].min()) > 0.999
        # the sound priors' own magnitudes follow, and the estimates are them masked
        sounds = S.sound_magnitudes(out)
        assert sounds.shape == m.shape and float(sounds.min()) >= 0
        assert torch.allclose(dap.magnitude(e1), m[:, 0] * sounds[:, 0], rtol=1e-4, atol=1e-6)
    else:
        assert S.sound_magnitudes(out) is None


def test_smoothness_acts_on_the_sound_priors_before_masking(pair):
    """Tian et al.'s temporal term smooths what the sound priors output; the masks may carry the onsets.
    A mask that switches on and off along time must not cost smoothness when the sounds are constant."""
    _, _, spec = pair
    recipe = S.Recipe(sources="magnitude", combine="complement", temporal=1.0)
    obj = S.Objective(spec, recipe, 10)
    F_, T = spec.shape[2:]
    sounds = torch.ones(1, 2, F_, T)
    mask = (torch.arange(T) % 2).float().expand(1, 1, F_, T)     # on, off, on, ...
    m = torch.cat([mask, 1 - mask], 1)
    e = [m[:, i:i + 1] * sounds[:, i:i + 1] * torch.tensor([1.0, 0.0])[None, :, None, None] for i in range(2)]
    out = torch.cat([*e, m, sounds], 1)
    assert float(obj.terms(out)["temporal"][0]) == pytest.approx(0.0, abs=1e-6)
    assert float(obj.terms(out[:, :6])["temporal"][0]) > 0.1   # on the masked estimates it would cost


def test_bad_recipes_are_one_line_errors():
    with pytest.raises(dap.DapError, match="sources must be one of"):
        S.Recipe(sources="waveform")
    with pytest.raises(dap.DapError, match="unknown separation option"):
        S.RECIPES["hp"].with_options(wieght=1)
    with pytest.raises(dap.DapError, match="binary_from"):
        S.Recipe(binary_from=2.0)
    with pytest.raises(dap.DapError, match="term_scale must be one of mixture, level"):
        S.Recipe(term_scale="raw")


def test_exclusion_prefers_sources_apart_and_ignores_level(speech, piano):
    a, b = dap.magnitude(dap.to_spectrogram(speech)), dap.magnitude(dap.to_spectrogram(piano))
    same, apart = S.exclusion_loss(a, a.clone()), S.exclusion_loss(a, b)
    assert float(same) > 2 * float(apart)
    assert float(S.exclusion_loss(10 * a, b)) == pytest.approx(float(apart), rel=1e-4)
    assert float(S.exclusion_loss(a, torch.zeros_like(b))) == 0.0  # a silent source shares no edges


def _as_output(e1, e2, m=None):
    m = torch.full_like(e1[:, :2], 0.5) if m is None else m
    return torch.cat([e1, e2, m], 1)


def test_roles_prefer_the_harmonic_percussive_split(pair):
    """With roles, sustained content in the first estimate and broadband content in the second costs
    less than either estimate taking the whole mixture (both of which cost 1 per term)."""
    _, _, spec = pair
    r = S.RECIPES["hp"]
    obj = S.Objective(spec, r, iterations=10)
    terms = lambda out: sum(obj.terms(out).values())  # noqa: E731
    zero = torch.zeros_like(spec)
    all_first, all_second = terms(_as_output(spec, zero)), terms(_as_output(zero, spec))
    assert float(all_first) == pytest.approx(1.0, rel=1e-4) and float(all_second) == pytest.approx(1.0, rel=1e-4)
    h, p = S.hpss(dap.to_waveform(spec, (spec.shape[-1] - 1) * dap.HOP))
    split = _as_output(dap.to_spectrogram(h), dap.to_spectrogram(p))
    assert float(terms(split)) < 0.9


def test_the_binary_loss_starts_late(pair):
    _, _, spec = pair
    obj = S.Objective(spec, S.Recipe(binary=1.0, binary_from=0.5), iterations=4)
    out = _as_output(spec / 2, spec / 2)
    assert [float(obj.regularizer(out)) for _ in range(4)] == [0.0, 0.0, 0.25, 0.25]


def test_mask_sum_penalty_only_for_masks_that_do_not_sum_to_one(pair):
    _, _, spec = pair
    obj = S.Objective(spec, S.Recipe(mask_sum=1.0, combine="independent"), iterations=1)
    ones = torch.ones_like(spec)
    assert float(obj.terms(_as_output(spec, spec, torch.cat([ones[:, :1], 0 * ones[:, :1]], 1)))["mask_sum"]) == 0
    assert float(obj.terms(_as_output(spec, spec, ones))["mask_sum"]) > 0.1


def test_a_fit_of_the_default_recipe_sums_to_the_mixture(pair):
    mixture, sources, spec = pair
    r = dap.separate(mixture, prior="plain", iterations=3, references=sources, monitor_every=1, progress=False,
                     prior_options=TINY, precision="fp32")
    assert r.method == "hp" and r.output.shape == (1, 6, *spec.shape[2:])
    assert r.audio.shape == (2, mixture.numel())
    assert torch.allclose(r.audio.sum(0), mixture, atol=1e-4)  # masks m and 1 - m share out the mixture exactly
    assert set(r.candidates) == {"auto", "last", "oracle"}
    assert len(r.attempts[0]) == r.fits and r.attempts[0][0]["kept"]


def test_collapsed_fits_are_restarted_and_the_blind_choice_kept(pair, monkeypatch):
    mixture, _, _ = pair
    calls = []
    real = S.energy_share

    def collapsing(out):  # the first fit collapses (share 1), later ones are fine
        calls.append(1)
        return torch.ones(out.shape[0]) if len(calls) == 1 else real(out)

    monkeypatch.setattr(S.fitting, "energy_share", collapsing)  # the name fit_recipe reads
    r = dap.separate(mixture, prior="plain", iterations=2, progress=False, prior_options=TINY, precision="fp32",
                     recipe={"restarts": 2})
    a = r.attempts[0]
    assert r.fits == 2 and [x["restart"] for x in a] == [False, True]
    assert [x["seed"] for x in a] == [0, 1000]
    assert [x["kept"] for x in a] == [False, True]  # the collapsed one is never chosen over a usable one


def test_tries_keep_the_lowest_blind_loss(pair):
    mixture, _, _ = pair
    r = dap.separate(mixture, prior="plain", iterations=2, progress=False, prior_options=TINY, precision="fp32",
                     recipe={"tries": 3, "restarts": 0})
    a = r.attempts[0]
    assert r.fits == 3 and len(a) == 3
    usable = [x for x in a if min(x["share"], 1 - x["share"]) >= S.COLLAPSE_SHARE] or a
    assert min(usable, key=lambda x: x["blind_loss"])["kept"]
    assert sum(x["kept"] for x in a) == 1


def test_a_batch_of_mixtures_is_separated_problem_by_problem(speech, piano):
    m1, _ = dap.mix([speech, piano])
    m2, _ = dap.mix([piano, speech.flip(0)])
    both = dap.separate(torch.stack([m1, m2]), prior="plain", iterations=2, progress=False, prior_options=TINY,
                        precision="fp32", recipe={"restarts": 0}, select="last")
    alone = dap.separate(m2, prior="plain", iterations=2, progress=False, prior_options=TINY, precision="fp32",
                         recipe={"restarts": 0}, select="last")
    assert both.batch_audio().shape == (2, 2, m1.numel())
    assert torch.allclose(both.batch_audio()[1], alone.audio, atol=1e-4)  # the second mixture's own buffers


def test_the_dap_recipe_runs_with_its_own_settings(pair):
    mixture, _, spec = pair
    r = dap.separate(mixture, prior="plain", method="dap", iterations=2, progress=False, prior_options=TINY,
                     precision="fp32", recipe={"restarts": 0})
    assert r.method == "dap" and r.history["lr"][0] == pytest.approx(3e-4)
    m = S.masks_of(r.output)
    assert float((m - m[:, :, :1]).abs().max()) == 0  # per-frame gains


def test_the_papers_model_is_two_sound_priors_and_one_mask(pair):
    mixture, _, spec = pair
    r = dap.separate(mixture, prior="plain", method="paper", iterations=2, progress=False, prior_options=TINY,
                     precision="fp32", recipe={"restarts": 0})
    assert r.method == "paper" and r.history["lr"][0] == pytest.approx(1e-3)
    net = S.MaskedSources(spec, S.RECIPES["paper"], "plain", **TINY)
    assert len(net.sounds) == 2 and len(net.maskers) == 1
    m = S.masks_of(r.output)
    assert torch.allclose(m.sum(1), torch.ones_like(m[:, 0]), atol=1e-6)  # m and 1 - m
    assert float((m - m[:, :, :1]).abs().max()) > 0  # one value per bin, not per frame


def test_separate_bad_options(pair):
    mixture, _, _ = pair
    with pytest.raises(dap.DapError, match="unknown method"):
        dap.separate(mixture, method="nmf", iterations=1, progress=False)
    with pytest.raises(dap.DapError, match="smooth is a weight of the 'masks' method"):
        dap.separate(mixture, smooth=0.1, iterations=1, progress=False)
    with pytest.raises(dap.DapError, match="recipe= options belong"):
        dap.separate(mixture, method="masks", recipe={"tries": 2}, iterations=1, progress=False)


def test_hpss_baseline_shares_out_the_mixture(pair):
    mixture, sources, _ = pair
    h, p = S.hpss(mixture)
    assert torch.allclose(h + p, mixture, atol=1e-4)
    with pytest.raises(dap.DapError, match="odd"):
        S.hpss(mixture, kernel=4)


@pytest.mark.parametrize("method, unets", [("hp", 1), ("dap", 4), ("paper", 3), ("masks", 3)])
def test_memory_model_is_what_the_method_fits(pair, method, unets):
    from daptools.device import fit_memory_bytes
    _, _, spec = pair
    shape, opts = tuple(spec.shape[1:]), {"channels": (8, 16, 32)}
    model = S.memory_model(method, "plain", shape, **opts)
    fitted = (S.SeparationPrior("plain", **opts) if method == "masks"
              else S.MaskedSources(spec, S.RECIPES[method], "plain", **opts))
    assert dap.count_parameters(model) == dap.count_parameters(fitted) and model.in_channels == fitted.in_channels
    one = fit_memory_bytes(dap.build_prior("plain", **opts), shape)
    assert unets - 0.5 < fit_memory_bytes(model, shape) / one < unets + 0.5  # U-Nets per problem
    assert fit_memory_bytes(S.memory_model(None, "plain", shape, **opts), shape) == one  # denoise, inpaint
    with pytest.raises(dap.DapError, match="unknown method"):
        S.memory_model("nmf", "plain", shape, **opts)


def test_the_top_level_names_the_default_model():
    assert dap.MaskedSources is S.MaskedSources and dap.RECIPES["hp"] == S.RECIPES[S.DEFAULT_SEPARATION]
    assert not hasattr(dap, "SeparationPrior") and not hasattr(dap, "split_sources")
    assert dap.separation.SeparationPrior is S.models.SeparationPrior and callable(dap.separation.split_sources)


def test_warmup_fits_the_reconstruction_alone_first(pair):
    _, _, spec = pair
    recipe = S.Recipe(sources="magnitude", combine="complement", temporal=1.0, exclusion=1.0, warmup=2)
    obj = S.Objective(spec, recipe, 10)
    net = S.MaskedSources(spec, recipe, "plain", seed=0, **TINY)
    with torch.no_grad():
        out = net(torch.randn(1, net.in_channels, *spec.shape[2:]))
    assert [float(obj.regularizer(out)[0]) for _ in range(2)] == [0.0, 0.0]   # steps 1-2: terms off
    assert float(obj.regularizer(out)[0]) > 0                                   # step 3: on
    with pytest.raises(dap.DapError, match="warmup >= 0"):
        S.Recipe(warmup=-1)


def test_tian_losses_never_prefer_a_split_to_one_source_taking_all(pair):
    """Why the paper's model collapses (docs/separation.md, "The paper's model"): under Tian et al.'s losses the
    L1 temporal differences of two sources add up to at least those of their sum, and exclusion is never negative,
    so one sound prior reproducing the whole mixture (mask 1) costs no more than the true split, on either scale
    of the terms. The scales differ in what silence costs: relative to the mixture's own terms ("mixture") a
    silent fit costs 1, as much as the collapse; in the mixture's level units ("level", Tian et al.'s raw terms)
    it costs far more than sharing the mixture out."""
    _, sources, spec = pair
    mag = dap.magnitude(spec)[:, None]
    refs = [dap.to_spectrogram(s) for s in sources]
    m1, m2 = (dap.magnitude(r)[:, None] for r in refs)
    zero, half = torch.zeros_like(spec), torch.full_like(mag, 0.5)

    def output(e1, e2, m, s1, s2):
        return torch.cat([e1, e2, m, 1 - m, s1, s2], 1)

    share = m1 / (m1 + m2 + 1e-9)
    cases = {"silent": output(zero, zero, half, 0 * mag, 0 * mag),
             "halves": output(spec / 2, spec / 2, half, mag / 2, mag / 2),
             "true split": output(refs[0], refs[1], share, m1, m2),
             "one takes all": output(spec, zero, torch.ones_like(mag), mag, 0 * mag)}
    for scale in ("mixture", "level"):
        obj = S.Objective(spec, S.RECIPES["paper"].with_options(term_scale=scale), 10)
        loss = {k: float(obj.blind_loss(v)[0]) for k, v in cases.items()}
        assert loss["one takes all"] <= loss["true split"] + 1e-6 and loss["one takes all"] < loss["halves"]
        assert loss["silent"] == pytest.approx(1.0, abs=1e-4)     # the mixture left unexplained
        if scale == "mixture":
            assert loss["one takes all"] == pytest.approx(1.0, abs=1e-3)   # as cheap as silence
        else:
            assert loss["halves"] < 0.5 * loss["silent"]
