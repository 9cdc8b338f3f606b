"""dap.viz: pictures, players, tables, the live curve, recorded results and the explorer."""
from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

import daptools as dap  # noqa: E402
from daptools import viz  # noqa: E402

SR = dap.SAMPLE_RATE


@pytest.fixture
def tone():
    t = torch.arange(SR // 4) / SR
    return 0.5 * torch.sin(2 * torch.pi * 1000 * t)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_specshow_accepts_every_representation(tone):
    spec = dap.to_spectrogram(tone)
    images = [viz.specshow(x) for x in (tone, tone.numpy(), spec, spec[0], dap.to_complex(spec)[0], dap.magnitude(spec)[0])]
    first = images[0].get_array()
    for im in images[1:]:
        np.testing.assert_allclose(im.get_array(), first, atol=1e-3)
    # a 1 kHz tone: the brightest row sits at 1 kHz on the frequency axis (in kHz)
    row = int(np.argmax(first.mean(1)))
    lo, hi = images[0].get_extent()[2:]
    assert abs(lo + (hi - lo) * (row + 0.5) / first.shape[0] - 1.0) < 0.05
    assert images[0].get_extent()[1] == pytest.approx(spec.shape[-1] * dap.HOP / SR)


def test_specshow_db_range_and_shared_scale(tone):
    im = viz.specshow(tone, db_range=60, vmax_db=10)
    assert im.get_clim() == (-50, 10)


def test_specshow_rejects_other_shapes():
    with pytest.raises(dap.DapError, match="cannot show shape"):
        viz.specshow(torch.zeros(3, 4, 5))


def test_waveshow_time_axis(tone):
    ax = viz.waveshow(tone, title="tone")
    x = ax.lines[0].get_xdata()
    assert x[-1] == pytest.approx((tone.numel() - 1) / SR) and ax.get_title() == "tone"


def test_compare_spectrograms_shares_one_scale(tone):
    fig = viz.compare_spectrograms({"loud": tone, "quiet": 0.1 * tone, "more": tone}, waveforms=True, ncols=2)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    assert len({im.get_clim() for im in images}) == 1, "panels must share the colour scale"
    assert images[1].get_array().max() == pytest.approx(images[0].get_array().max() - 20, abs=0.01)
    with pytest.raises(dap.DapError):
        viz.compare_spectrograms({})


def test_audio_player_table_embeds_wav_and_keeps_relative_levels(tone):
    table = viz.audio_player_table({"a": tone, "b": 0.5 * tone, "missing": None}, max_seconds=0.1)
    assert table.data.count("<audio") == 2 and "missing" in table.data
    assert "scaled" not in table.data
    loud = viz.audio_player_table({"x": 4 * tone})
    assert "scaled by 0.50" in loud.data
    rows = viz.audio_player_table({"row 1": {"a": tone}, "row 2": {"a": tone, "b": tone}})
    assert rows.data.count("<audio") == 3 and "row 2" in rows.data
    with pytest.raises(dap.DapError):
        viz.audio_player_table([1, 2])


def test_wav_bytes_roundtrip(tone):
    data, rate = sf.read(io.BytesIO(viz.wav_bytes(tone)), dtype="float32")
    assert rate == SR and data.shape == tone.shape
    np.testing.assert_allclose(data, tone.numpy(), atol=2 / 32767)  # 16-bit quantisation


def test_metrics_table_formats_and_orders():
    t = viz.metrics_table({"plain": {"SNR": 1.234, "n": 1234567, "x": float("nan")}, "exp": {"SNR": 2.0}},
                          index="prior", caption="c")
    assert t.columns == ["prior", "SNR", "n", "x"]
    assert "1.23" in t.text and "1,234,567" in t.text and "n/a" in t.text
    assert t._repr_html_().count("<tr>") == 3
    md = t.to_markdown().splitlines()
    assert md[0].startswith("| prior") and set(md[1]) <= set("|- ") and len(md) == 4
    assert viz.metrics_table([{"a": 1}], digits=3).rows == [{"a": 1}]
    with pytest.raises(dap.DapError):
        viz.metrics_table("not rows")


def test_record_roundtrip(tmp_path):
    path = viz.record({"snr": torch.tensor(3.5), "curve": np.arange(3), "bad": float("nan"), "nested": {"k": np.float32(1.5)}},
                      "07_example", tmp_path / "results")
    assert path == tmp_path / "results" / "07_example.json"
    raw = json.loads(path.read_text())
    assert raw["snr"] == 3.5 and raw["curve"] == [0, 1, 2] and raw["bad"] is None and raw["nested"] == {"k": 1.5}
    assert viz.load_record("07_example", tmp_path / "results")["notebook"] == "07_example"
    with pytest.raises(dap.DapError, match="plain file name"):
        viz.record({}, "../escape", tmp_path)
    with pytest.raises(dap.DapError, match="no recorded results"):
        viz.load_record("missing", tmp_path)
    with pytest.raises(dap.DapError):
        viz.record([1, 2], "x", tmp_path)


def test_live_curve_records_silently_outside_a_notebook(capsys):
    curve = viz.LiveCurve(labels=["a", "b"])
    assert curve.show is False
    curve({"loss": np.array([[2.0, 3.0], [1.0, 2.5]]), "score": np.array([[0.5, 0.1]]), "score_iteration": [2]})
    curve({"loss": np.array([[2.0, 3.0], [1.0, 2.5], [0.5, 2.0]]), "score": None, "score_iteration": []})
    assert curve.loss.shape == (3, 2) and curve.score.shape == (1, 2)
    assert capsys.readouterr().out == "" and curve.draw_seconds == 0
    png = curve.png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_live_curve_with_fit_and_by_hand():
    curve = viz.LiveCurve()
    wav = 0.1 * torch.randn(1600, generator=torch.Generator().manual_seed(0))
    res = dap.denoise(wav, prior="plain", iterations=4, reference=wav, monitor_every=2, callback=curve, every=2,
                      prior_options={"channels": (4, 4, 4)}, progress=False)
    np.testing.assert_allclose(curve.loss[:, 0], res.history["loss"][:, 0])
    np.testing.assert_array_equal(curve.score_iteration, [2, 4])
    by_hand = viz.LiveCurve()
    for i in range(3):
        by_hand.add(i + 1, 1.0 / (i + 1), score=float(i))
    assert by_hand.loss[:, 0].tolist() == [1.0, 0.5, 1 / 3] and by_hand.score_iteration.tolist() == [1, 2, 3]


def test_plot_history_needs_scores():
    wav = 0.1 * torch.randn(1600, generator=torch.Generator().manual_seed(0))
    res = dap.denoise(wav, prior="plain", iterations=2, prior_options={"channels": (4, 4, 4)}, progress=False)
    ax = viz.plot_history({"a": res})
    assert len(ax.lines) == 1 and ax.get_yscale() == "log"
    with pytest.raises(dap.DapError, match="no 'score' history"):
        viz.plot_history({"a": res}, key="score")


def test_explorer_fits_only_when_asked():
    pytest.importorskip("ipywidgets")
    clean = dap.data.load_clip("digits", index=0, duration=0.1).audio
    ex = viz.DenoiseExplorer(clean, iterations=2, prior_options={"channels": (4, 4, 4)})
    assert ex.runs == [] and ex.last is None  # building it runs nothing
    ex.prior.value, ex.noise.value = "plain", 0.2
    res = ex.run()
    assert res is ex.last and res.iterations == 2
    row = ex.runs[0]
    assert row["prior"] == "plain" and row["noise std"] == pytest.approx(0.2)
    noisy = dap.add_gaussian_noise(clean, std=0.2, seed=0)
    assert row["noisy SNR (dB)"] == pytest.approx(dap.metrics.snr(clean, noisy))
    # the output is the rule's choice (auto, blind); the final iterate is always monitored, so the oracle is at least it
    assert row["output SNR (dB), blind"] == pytest.approx(float(res.scores["auto"][0]))
    assert row["best SNR (dB), oracle"] >= row["last iterate SNR (dB)"]
    assert not ex.button.disabled


def test_prior_layout_is_read_from_the_configuration():
    """The Fig. 1 picture is drawn from the built network: its dilations, widths and transitions are the config's."""
    for name in ("plain", "dilated", "exp", "exp_dense"):
        cfg = dap.PRIOR_CONFIGS[name]
        layout = viz.prior_layout(name)
        assert [b["dilations"] for b in layout] == [list(d) for d in cfg.dilations], name
        assert [b["width"] for b in layout] == [35, 70, 140, 70, 35]
        assert [b["level"] for b in layout] == [0, 1, 2, 1, 0]
        assert all(b["dense"] == cfg.dense and (b["transition"] is not None) == cfg.dense for b in layout), name
    dense = viz.prior_layout("exp_dense")
    # the channel table of the authors' code (notebook 06): 72, 175, 350, 385, 177 before the transitions
    assert [b["features"] for b in dense] == [72, 175, 350, 385, 177]
    assert dense[1]["inputs"] == [35, 35 + 70]  # each conv sees the block input and every earlier output
    assert viz.prior_layout("plain", channels=(8, 16, 32))[2]["width"] == 32


def test_prior_diagram_draws_every_conv_with_its_dilation():
    fig = viz.prior_diagram(["exp", "exp_dense"], channels=(8, 16, 32))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("exp:") and titles[1].startswith("exp_dense:")
    for ax, name in zip(fig.axes, ["exp", "exp_dense"]):
        labels = [t.get_text() for t in ax.texts if t.get_text().startswith("d") and t.get_text()[1:].isdigit()]
        assert labels == [f"d{d}" for block in dap.PRIOR_CONFIGS[name].dilations for d in block]
        assert sum(t.get_text() == "1×1" for t in ax.texts) == (5 if name == "exp_dense" else 0)
