import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import daptools as dap
from daptools import experiments as E
from daptools.experiments.runner import _open_run
from daptools.presets import get_preset

CFG = dict(table="table1", preset="smoke", priors=("plain", "exp"), datasets=("speech", "digits"), n_clips=1)


def _metrics(out):
    return {(r["clip"], r["prior"]): (r["input"], r["blind"], r["oracle"]) for r in E.read_rows(out)}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    summary = E.run_table(E.RunConfig(**CFG), out, progress=False)
    return out, summary


def test_rows_and_summary(full_run):
    out, summary = full_run
    rows = E.read_rows(out)
    assert len(rows) == 4  # 2 datasets x 1 clip x 2 priors
    for r in rows:
        assert set(r["blind"]) == {"snr", "psnr", "pesq", "si_sdr"}
        assert r["oracle"]["snr"] >= r["blind"]["snr"] - 1e-9  # the oracle is the best monitored iterate
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["iterations"] == dap.get_preset("smoke").iterations
    assert "torch" in cfg["versions"] and cfg["versions"]["cpu"] and cfg["versions"]["cpu_count"] >= 1
    from daptools.experiments.ledger import read_sittings
    sittings = read_sittings(out)  # one sitting: its rows and wall time, for the results page
    assert len(sittings) == 1 and sittings[0]["new_rows"] == 4 and sittings[0]["wall_seconds"] > 0
    groups = {(g["dataset"], g["prior"], g["selection"]) for g in summary["groups"]}
    assert ("speech", "plain", "blind") in groups and ("speech", "exp", "oracle") in groups
    assert ("digits", "(input)", "input") in groups
    md = (out / "summary.md").read_text()
    assert "oracle" in md and "Convolution" in md and "± " in md


def test_input_metrics_are_those_of_the_noisy_clip(full_run):
    out, _ = full_run
    cfg = E.RunConfig(**CFG).resolved()
    probs = {p["key"]: p for p in E.problems(cfg)}
    for r in E.read_rows(out):
        p = probs[r["clip"]]
        assert r["input"]["snr"] == pytest.approx(dap.metrics.snr(p["reference"], p["observation"]))
        assert float((p["observation"] - p["reference"]).std()) == pytest.approx(0.1, rel=0.05)


def test_resume_after_a_kill_gives_the_same_table(full_run, tmp_path):
    out = tmp_path / "killed"
    code = ("import daptools.experiments as E; "
            f"E.run_table(E.RunConfig(**{CFG!r}), {str(out)!r}, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    rows = out / "rows.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if rows.exists() and rows.read_text().count("\n") >= 1:
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    n_before = len(E.read_rows(out))
    assert 1 <= n_before < 4, "the run should have been killed part-way"
    with open(rows, "a") as f:
        f.write('{"torn": ')  # a half-written line from the kill must not break the resume
    E.run_table(E.RunConfig(**CFG), out, progress=False)
    assert len(E.read_rows(out)) == 4
    assert _metrics(out) == _metrics(full_run[0])


def test_resume_refuses_other_settings(full_run):
    with pytest.raises(dap.DapError, match="other settings"):
        E.run_table(E.RunConfig(**{**CFG, "seed": 1}), full_run[0], progress=False)


def test_every_table_builds_its_problems():
    for table, spec in E.TABLES.items():
        cfg = E.RunConfig(table=table, preset="smoke", n_clips=2).resolved()
        probs = E.problems(cfg)
        assert len(probs) == 2 * len(spec.datasets)
        assert len({p["key"] for p in probs}) == len(probs)
        if spec.task == "denoise_env":
            assert all(5 <= p["input_snr_db"] <= 9 for p in probs)
        if spec.task == "inpaint":
            assert all(0.1 <= b - a <= 0.25 for p in probs for a, b in p["gaps"])
        if spec.task == "separate":
            assert all(p["reference"].shape[0] == 2 for p in probs)
            assert all(np.allclose(p["reference"].sum(0), p["observation"]) for p in probs)


def test_a_table_over_some_of_its_datasets_builds_the_same_problems():
    # a run over piano alone, or piano then digits, must draw the noises (and seeds) of the whole Table 2 for
    # those clips: a partial rerun pairs with the committed rows
    def build(datasets):
        cfg = E.RunConfig(table="table2", preset="smoke", n_clips=2, datasets=datasets).resolved()
        return {p["key"]: p for p in E.problems(cfg)}
    whole = build(None)
    for part in (("piano",), ("piano", "digits")):
        for key, p in build(part).items():
            assert p["noise"] == whole[key]["noise"] and p["input_snr_db"] == whole[key]["input_snr_db"]
            assert np.array_equal(np.asarray(p["observation"]), np.asarray(whole[key]["observation"]))


def test_separation_rows_score_both_sources(tmp_path):
    cfg = E.RunConfig(table="table4", preset="smoke", priors=("plain",), n_clips=1)
    E.run_table(cfg, tmp_path, progress=False)
    (row,) = E.read_rows(tmp_path)
    assert {"sdr_piano", "sdr_drums", "sir_piano", "spectral_snr_drums", "envelope_distance_piano"} <= set(row["blind"])


def test_figure2_convergence_numbers(tmp_path):
    clip = dap.data.load_clip("speech", 0, duration=0.25).audio
    res = E.convergence(clip, priors=("plain", "exp_dense"), iterations=4, monitor_every=2,
                        prior_options={"channels": (4, 8, 16)}, precision="fp32")
    for c in res["curves"].values():
        assert c["iteration"] == [2, 4] and c["seconds_per_iteration"] > 0
        assert c["best_snr"] == max(c["snr"]) and c["best_iteration"] in (2, 4)
    fig = E.plot_convergence(res, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000 and len(fig.axes) == 2


def test_command_line_errors(capsys):
    assert E.main(["table1", "--priors", "unet", "--preset", "smoke", "--out", "/tmp/never"]) == 2
    assert "unknown prior" in capsys.readouterr().err
    assert not Path("/tmp/never/rows.jsonl").exists()


def test_table4_mixtures_pair_every_piano_clip_with_other_drums():
    cfg = E.RunConfig(table="table4", preset="smoke", n_clips=10).resolved()
    probs = E.problems(cfg)
    pairs = [p["key"].split("/", 1)[1].split("#")[0] for p in probs]
    piano = [k.split("+")[0] for k in pairs]
    drums = [k.split("+")[1] for k in pairs]
    assert len(set(drums)) == 10 and len(set(piano)) == 7  # every drum clip once, every piano clip used
    for name in set(piano):  # a piano clip used twice goes with two different drum clips
        assert len({d for p, d in zip(piano, drums) if p == name}) == piano.count(name)
    assert [p["key"] for p in E.problems(E.RunConfig(table="table4", preset="smoke", n_clips=10, seed=3).resolved())] \
        == [p["key"] for p in probs]  # no randomness in the tutorial mixtures
    assert len({p["key"].split("#")[0] for p in E.problems(E.RunConfig(table="table4", preset="smoke",
                                                                          n_clips=70).resolved())}) == 70
    with pytest.raises(dap.DapError, match="makes 70 piano"):
        E.problems(E.RunConfig(table="table4", preset="smoke", n_clips=71).resolved())


def test_a_run_of_a_named_separation_method_records_its_recipe_and_resumes_only_with_it(tmp_path):
    from dataclasses import asdict, replace
    from daptools.separation import RECIPES
    cfg = E.RunConfig(table="table4", preset="smoke", priors=("plain",), extra={"method": "paper"}).resolved()
    assert cfg.extra["method"] == "paper" and cfg.extra["recipe"] == asdict(RECIPES["paper"])
    assert "recipe" not in E.RunConfig(table="table4", preset="smoke").resolved().extra  # the default method: as before
    _open_run(cfg, tmp_path)
    _open_run(cfg, tmp_path)   # the same recipe resumes
    other = replace(cfg, extra={**cfg.extra, "recipe": {**cfg.extra["recipe"], "term_scale": "mixture"}})
    with pytest.raises(dap.DapError, match="holds a run with other settings"):
        _open_run(other, tmp_path)


def test_the_summary_reports_the_share_of_mixtures_both_estimates_beat(tmp_path):
    cfg = E.RunConfig(table="table4", preset="smoke", priors=("plain",), n_clips=2).resolved()
    _open_run(cfg, tmp_path)
    m = {f"{k}_{s}": 0.0 for k in ("sdr", "sir", "spectral_snr", "envelope_distance") for s in ("piano", "drums")}
    rows = []
    for i, (p, d) in enumerate(((1.0, 1.0), (1.0, 0.01))):  # the second beats the mixture on piano only
        rows.append({"table": "table4", "task": "separate", "dataset": "piano+drums", "clip": f"c{i}", "prior": "plain",
                     "seed": 0, "iterations": 4, "seconds": 1.0, "selection": "auto", "input": dict(m),
                     "blind": {**m, "sdr_piano": p, "sdr_drums": d}, "oracle": {**m, "sdr_piano": p, "sdr_drums": p}})
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = E.summarize(tmp_path)
    g = {x["selection"]: x for x in summary["groups"] if x["prior"] == "plain"}
    assert g["blind"]["mean"]["both_beat_mixture"] == 0.5 and g["oracle"]["mean"]["both_beat_mixture"] == 1.0
    text = E.format_summary(summary)
    assert "both > mixture" in text and "50 % (1/2)" in text and "100 % (2/2)" in text
    assert not E.beats_mixture({"input": m, "blind": {**m, "sdr_piano": 0.01, "sdr_drums": 1.0}})  # within the margin


def test_a_table_over_datasets_of_different_sizes_gives_n_per_dataset(tmp_path):
    cfg = E.RunConfig(table="table2", preset="smoke", priors=("plain",), datasets=("digits", "piano"),
                      n_clips=3).resolved()
    _open_run(cfg, tmp_path)
    m = {"snr": 1.0, "psnr": 1.0, "pesq": 1.0, "si_sdr": 1.0}
    rows = [{"table": "table2", "task": "denoise_env", "dataset": d, "clip": f"{d}/{i}", "prior": "plain", "seed": 0,
             "iterations": 4, "seconds": 1.0, "selection": "auto", "input": m, "blind": m, "last": m, "oracle": m}
            for d, k in (("digits", 3), ("piano", 2)) for i in range(k)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = E.format_summary(E.summarize(tmp_path), paper=True)
    assert "| prior | selection | n (digits / piano) |" in text
    assert "| Convolution (U-Net, no dilation) | blind (auto) | 3 / 2 |" in text
    assert "| Convolution (U-Net, no dilation) | the paper | 50 / 50 |" in text


def test_inpainting_oracle_is_chosen_on_spectral_snr(tmp_path):
    # Table 3's headline metric is the spectral SNR, so its oracle is the iterate best on it (not on the
    # waveform SNR, which peaks much earlier in a gap); the last iterate is one the oracle saw
    cfg = E.RunConfig(table="table3", preset="smoke", priors=("plain",), datasets=("digits",), n_clips=1,
                      select="last")
    summary = E.run_table(cfg, tmp_path, progress=False)
    (row,) = E.read_rows(tmp_path)
    assert row["oracle_metric"] == "spectral_snr"
    assert row["oracle"]["spectral_snr"] >= row["blind"]["spectral_snr"] - 1e-9
    assert summary["oracle_metrics"] == ["spectral_snr"]
    assert "chosen with the clean reference on spectral SNR" in (tmp_path / "summary.md").read_text()


def test_the_cpu64_preset_is_the_cpu_preset_at_hop_64_on_the_same_problems():
    """cpu64 changes only the hop (to the paper's 64) and the clip length (1 s everywhere) of the cpu preset, so
    on the 1 s datasets a cpu64 run fits the very problems of the cpu run, and the two pair clip by clip."""
    cpu, cpu64 = get_preset("cpu"), get_preset("cpu64")
    assert (cpu64.hop, cpu.hop, cpu64.duration, cpu.duration) == (64, 256, 1.0, None)
    assert replace(cpu64, hop=cpu.hop, duration=cpu.duration) == cpu
    for table, datasets in (("table2", ("digits", "piano")), ("table3", ("digits",)), ("table4", None)):
        a, b = ({p["key"]: p for p in E.problems(E.RunConfig(table=table, preset=name, n_clips=2,
                                                            datasets=datasets).resolved())}
                for name in ("cpu", "cpu64"))
        assert a.keys() == b.keys() and len(a) >= 2, table
        for key, p in a.items():
            assert np.array_equal(np.asarray(p["observation"]), np.asarray(b[key]["observation"])), (table, key)
            assert p.get("gaps") == b[key].get("gaps"), (table, key)


def test_a_row_keeps_the_curves_that_replay_its_own_stop(tmp_path):
    """A row's curve holds the loss where the rule watched it and the monitored score: replaying the task's own
    rule on it gives back the row's stop, and the score curve's best is the row's oracle."""
    from daptools.stopping import Stopping, replay, task_rule
    # full budget: the fits go on after the rule's stop, so the replay has to find the stop inside the curve; the
    # run's own rule settings (--stopping: the 50-iteration window, which stops within this short budget at hop 64)
    cfg = E.RunConfig(**{**CFG, "iterations": 160, "datasets": ("digits",), "full_budget": True,
                         "extra": {"stopping": {"loss_window": 50}}}).resolved()
    assert cfg.extra["stopping"] == {"loss_window": 50}
    E.run_table(cfg, tmp_path, progress=False)
    rows = E.read_rows(tmp_path)
    reasons = set()
    for r in rows:
        c = r["curve"]
        assert c["loss_every"] == Stopping.every and len(c["loss"]) == r["iterations"] // Stopping.every
        assert len(c["score"]) == len(c["score_iteration"]) and c["score_iteration"][-1] == r["iterations"]
        best = int(np.argmax(c["score"]))
        assert c["score"][best] == pytest.approx(r["oracle"]["snr"], abs=0.006)
        assert c["score_iteration"][best] == r["oracle_iteration"]
        rule = task_rule("denoise", cfg.extra["stopping"], floor=c["floor"], hop=64)  # the rule denoising hands the fit
        it, stop, reason = replay(rule, c["loss"], floor=c["floor"], iterations=r["iterations"])
        assert (it, stop) == (r["auto_iteration"], r["stop_iteration"])
        reasons.add(reason)
    assert reasons - {"budget"}, "no fit stopped before its budget: the replay was not tested"


def test_replay_stops_at_the_floor_and_at_a_plateau_of_the_loss():
    from daptools.stopping import Stopping, replay
    falling = 1.0 / np.arange(1, 121)                       # loss at iterations 5, 10, ..., 600
    assert replay(Stopping(loss_plateau=False), falling, floor=0.02) == (250, 250, "floor")   # 1/50 at 250
    flat = np.r_[np.linspace(1.0, 0.5, 40), np.full(80, 0.5)]
    it, stop, reason = replay(Stopping(loss_plateau=True, loss_window=50, loss_tolerance=0.1), flat)
    assert reason == "loss plateau" and it == stop and 200 <= stop <= 300
    steady = np.exp(-np.arange(5, 605, 5) / 200)             # 22 % lower every 50 iterations: never flat
    assert replay(Stopping(loss_plateau=True), steady) == (600, 600, "budget")
    with pytest.raises(dap.DapError, match="replay watches the loss only"):
        replay(Stopping(plateau_average=0.98), falling)
    # losses kept every 5 iterations replay a rule that watches every 10 on every other one
    every10 = Stopping(loss_plateau=False, every=10)
    assert replay(every10, falling, floor=0.0195, loss_every=5) == replay(every10, falling[1::2], floor=0.0195)
    assert replay(every10, falling, floor=0.0195, loss_every=5)[0] == 260   # the first multiple of 10 past 1/0.0195
    with pytest.raises(dap.DapError, match="every 5 iterations, which the losses given every 10"):
        replay(Stopping(), falling, loss_every=10)


def test_the_caption_names_the_hop_only_where_it_is_not_the_paper_s(tmp_path):
    m = {"snr": 1.0, "psnr": 1.0, "pesq": 1.0, "si_sdr": 1.0}
    for preset, words in (("cpu", "spectrogram hop 256 (the paper's: 64), "), ("smoke", None)):
        folder = tmp_path / preset
        _open_run(E.RunConfig(table="table2", preset=preset, priors=("plain",), datasets=("digits",),
                              n_clips=1).resolved(), folder)
        row = {"table": "table2", "task": "denoise_env", "dataset": "digits", "clip": "digits/0", "prior": "plain",
               "seed": 0, "iterations": 4, "seconds": 1.0, "selection": "auto", "input": m, "blind": m, "last": m,
               "oracle": m}
        (folder / "rows.jsonl").write_text(json.dumps(row) + "\n")
        text = E.format_summary(E.summarize(folder))
        assert (words in text) if words else ("spectrogram hop" not in text), (preset, text[:400])
        assert "clips: digits 1, seed 0" in text  # the clips it holds, not the preset's cap of clips per dataset
