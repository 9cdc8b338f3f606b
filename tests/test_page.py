"""The results page (daptools paper report) and its paired statistics."""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from daptools import DapError
from daptools import experiments as E
from daptools.experiments import page as P
from daptools.experiments.ledger import record_sitting
from daptools.experiments.paired import comparisons, interval, paired
from daptools.experiments.runner import _open_run

ROOT = Path(__file__).resolve().parents[1]


def _rows(diffs, a="exp_dense", b="plain", dataset="speech", base=10.0):
    """Rows of two priors on len(diffs) clips: a = b + diff on each clip (blind), oracle 1 dB higher."""
    rows = []
    for i, d in enumerate(diffs):
        for prior, v in ((b, base + i), (a, base + i + d)):
            m = {"snr": v, "psnr": v + 10, "pesq": 1.5, "si_sdr": v}
            rows.append({"table": "table1", "task": "denoise", "dataset": dataset, "clip": f"{dataset}/c{i}",
                         "prior": prior, "seed": 0, "iterations": 100, "seconds": 2.0, "selection": "auto",
                         "input": {**m, "snr": 5.0}, "blind": m, "last": m, "oracle": {**m, "snr": v + 1}})
    return rows


def test_paired_difference_mean_interval_and_wins():
    diffs = [1.0, 2.0, 3.0, -0.5, 1.5]
    p = paired(_rows(diffs), "exp_dense", "plain", "speech", "snr")
    assert p.n == 5 and p.mean == pytest.approx(np.mean(diffs)) and p.wins == 4
    assert p.low < p.mean < p.high and p.low > -0.5 and p.high < 3.0  # within the range of the differences
    assert p.above_zero  # 4 of 5 clips gain, by 1.4 dB on average: the interval lies above zero
    q = paired(_rows([-d for d in diffs]), "exp_dense", "plain", "speech", "snr")
    assert q.mean == pytest.approx(-p.mean) and not q.above_zero and q.wins == 1
    assert paired(_rows(diffs), "exp_dense", "plain", "digits", "snr") is None  # no such clips


def test_interval_is_reproducible_and_handles_small_samples():
    d = np.random.default_rng(1).normal(0.3, 1.0, 20)
    assert interval(d) == interval(d)  # fixed seed: a regenerated page is identical
    lo, hi = interval(d)
    assert lo < d.mean() < hi
    assert all(np.isnan(interval([1.0])))
    assert interval([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_the_ablation_comparisons():
    assert comparisons(E.FOUR) == [("dilated", "plain"), ("exp", "plain"), ("exp", "dilated"),
                                   ("exp_dense", "plain"), ("exp_dense", "exp")]
    assert comparisons(("plain", "exp", "exp_dense")) == [("exp", "plain"), ("exp_dense", "plain"), ("exp_dense", "exp")]


def _run(folder, rows, table="table1", priors=("plain", "exp_dense")):
    cfg = E.RunConfig(table=table, preset="smoke", priors=priors, datasets=("speech",), n_clips=len(rows) // 2).resolved()
    _open_run(cfg, folder)
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_page_shows_ours_the_papers_and_the_paired_interval(tmp_path):
    _run(tmp_path / "runs" / "t1", _rows([1.0, 2.0, 3.0, 0.5]))
    text = P.page(tmp_path / "runs")
    assert "## Table 1: denoising, Gaussian noise (std 0.1)" in text
    assert "| the paper | 50 | 1.73 ± 0.17 | 6.85 ± 1.47 |" in text  # the paper's plain row, labelled
    assert "| speech | snr | exp_dense - plain | 4 | +1.62 [" in text
    # the headline: ours beside the paper's difference of means (8.15 - 6.85)
    assert "| table1 (smoke, hop 64) | speech | snr | 4 | +1.62 [" in text and "| 4/4 | yes | +1.30 |" in text
    # and on PESQ, the paper's other metric for speech (2.07 - 1.73); here both priors score 1.5 on every clip
    assert "| table1 (smoke, hop 64) | speech | pesq | 4 | +0.00 [+0.00, +0.00] | 0/4 | no | +0.34 |" in text
    assert "Command (rerun to resume" in text and "daptools paper table1 --preset smoke --priors plain,exp_dense" in text
    assert not (tmp_path / "runs" / "t1" / "summary.json").exists()  # the page writes nothing into the runs


def test_report_writes_once_then_is_unchanged(tmp_path):
    _run(tmp_path / "runs" / "t1", _rows([1.0, -1.0, 0.5]))
    page = tmp_path / "results.md"
    assert not P.write_page(tmp_path / "runs", page)
    first = page.read_text()
    assert P.write_page(tmp_path / "runs", page) and page.read_text() == first
    assert E.main(["report", "--runs", str(tmp_path / "runs"), "--page", str(page), "--check"]) == 0
    page.write_text(first + "hand-written\n")
    assert E.main(["report", "--runs", str(tmp_path / "runs"), "--page", str(page), "--check"]) == 1
    assert E.main(["report", "--runs", str(tmp_path / "empty"), "--page", str(page)]) == 2


def test_the_committed_results_page_is_regenerated_unchanged():
    """docs/results.md is exactly what `daptools paper report` makes of the committed runs."""
    out = subprocess.run([sys.executable, "-m", "daptools.experiments", "report", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("config", sorted((ROOT / "docs" / "results").glob("*/*/config.json")),
                         ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_each_committed_run_s_printed_command_gives_back_its_settings(config):
    """The command under each table resolves to exactly the settings its run recorded (the rule's included: a
    hop-64 denoising run made with the 50-iteration loss window says --stopping loss_window=50), so rerunning it
    resumes that run and does not refit it under other settings."""
    import shlex
    from dataclasses import asdict
    from daptools.experiments.command import _parser, _table_config
    cfg = json.loads(config.read_text())["config"]
    line = P._command(config.parent, cfg).split("`")[1]
    args = _parser().parse_args(shlex.split(line)[2:])
    assert json.loads(json.dumps(asdict(_table_config(args, args.what).resolved()))) == cfg, line


def test_the_rule_s_settings_are_recorded_and_a_run_under_others_is_not_resumed(tmp_path):
    from dataclasses import asdict
    from daptools.experiments.command import parse_settings
    from daptools.experiments.tables import RunConfig
    # at the paper's hop 64 a denoising table records the task's hop-64 window; hop 256 (cpu) and inpainting: none
    assert RunConfig(table="table2", preset="cpu64").resolved().extra["stopping"] == {"loss_window": 150}
    assert RunConfig(table="table1", preset="cpu").resolved().extra["stopping"] is None
    assert RunConfig(table="table3", preset="cpu64").resolved().extra["stopping"] is None
    old = RunConfig(table="table2", preset="cpu64", extra={"stopping": parse_settings("loss_window=50")}).resolved()
    assert old.extra["stopping"] == {"loss_window": 50}
    assert parse_settings("loss_tolerance=0.05, plateau_pick=none") == {"loss_tolerance": 0.05, "plateau_pick": None}
    for bad, words in (("loss_window", "name=value"), ("window_size=3", "unknown stopping option"),
                       ("loss_window=fifty", "not a number")):
        with pytest.raises(DapError, match=words):
            parse_settings(bad)
    with pytest.raises(DapError, match="loss_window"):
        RunConfig(table="table2", preset="cpu64", extra={"stopping": {"loss_window": 12}}).resolved()
    _open_run(old, tmp_path)
    with pytest.raises(DapError, match="other settings"):
        _open_run(RunConfig(table="table2", preset="cpu64").resolved(), tmp_path)
    recorded = json.loads((tmp_path / "config.json").read_text())["config"]
    assert "--stopping loss_window=50" in P._command(tmp_path, recorded)
    assert P._variant(recorded) == ["cpu64, hop 64, loss_window 50"]  # the headline tells it apart
    own = json.loads(json.dumps(asdict(E.RunConfig(table="table2", preset="cpu64").resolved())))
    assert P._variant(own) == ["cpu64, hop 64"] and "--stopping" not in P._command(tmp_path, own)
    longer = dict(own, duration=2.0)  # a run at other clip lengths than its preset's says so, and its command too
    assert P._variant(longer) == ["cpu64, hop 64, 2 s clips"] and "--duration 2" in P._command(tmp_path, longer)
    # a replicate at another seed says which, at the main grid's preset too, and its command gives it back
    main = json.loads(json.dumps(asdict(E.RunConfig(table="table1", preset="cpu").resolved())))
    assert P._variant(main) == [] and P._variant(dict(main, seed=1)) == ["seed 1"]
    assert P._variant(dict(longer, seed=2)) == ["cpu64, hop 64, 2 s clips, seed 2"]
    assert "--seed 1" in P._command(tmp_path, dict(main, seed=1))


def test_the_blind_stop_table_reports_the_gap_to_the_oracle_and_the_time_saved(tmp_path):
    rows = _rows([1.0, 2.0, 3.0, 0.5])
    plain = [r for r in rows if r["prior"] == "plain"]
    plain[2]["oracle"] = {**plain[2]["oracle"], "snr": plain[2]["blind"]["snr"] + 2.5}  # 2.5 dB below: not within
    for r in rows:
        r["iterations"], r["seconds"] = 2, 3.0  # stopped at 2 of the smoke budget of 4: 1.5 s/iteration
    _run(tmp_path / "runs" / "t1", rows)
    text = P.page(tmp_path / "runs")
    # plain: blind - oracle -1, -1, -2.5, -1 -> mean -1.375, worst -2.5 on clip c2, 3 of 4 within 1.5 dB;
    # saved: 2 iterations of the budget of 4 at 1.5 s each
    assert "| speech | plain | snr | 4 | -1.38 | -2.50 (c2) | 3/4 | +0.00 | 2 (2-2) of 4 | 3 | 3 |" in text
    assert "| speech | exp_dense | snr | 4 | -1.00 | -1.00 (c0) | 4/4 |" in text


def test_the_caption_says_when_some_sittings_were_not_recorded(tmp_path):
    folder = tmp_path / "runs" / "t1"
    _run(folder, _rows([1.0, 2.0, 3.0]))  # 6 fits
    record_sitting(folder, time.time() - 120, new_rows=6, executor="SerialExecutor")
    assert "min wall time over 1 sitting(s) (SerialExecutor);" in P.page(tmp_path / "runs")
    (folder / "sittings.jsonl").write_text(json.dumps({"started": "2026-12-04T00:00:00Z", "wall_seconds": 60.0,
                                                       "new_rows": 2, "executor": "RayExecutor"}) + "\n")
    text = P.page(tmp_path / "runs")  # 4 of the 6 fits ran in sittings made before sittings.jsonl was kept
    assert "1 min wall time over 1 sitting(s) (RayExecutor) for 2 of the 6 fits (the sittings of the others were " \
           "not recorded)" in text


def test_a_full_budget_run_is_labelled_and_its_stops_count_up_to_the_rule(tmp_path):
    """A run at another preset that fitted on past the rule's stop (--full-budget): the headline names its
    preset and hop, the command repeats --full-budget, and the stop table counts iterations and seconds up to
    where the rule stopped, not the budget."""
    rows = _rows([1.0, 2.0, 3.0])
    for r in rows:  # the rule stopped at 1 of the smoke budget of 4; the fit ran on to 4, at 1 s/iteration
        r["iterations"], r["seconds"], r["stop_iteration"], r["auto_iteration"] = 4, 4.0, 1, 1
    folder = tmp_path / "runs" / "t1"
    cfg = E.RunConfig(table="table1", preset="smoke", priors=("plain", "exp_dense"), datasets=("speech",),
                      n_clips=3, full_budget=True).resolved()
    _open_run(cfg, folder)
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = P.page(tmp_path / "runs")
    assert "| table1 (smoke, hop 64, full budget) | speech | snr | 3 | +2.00 [" in text
    assert "--full-budget --executor ray" in text
    assert "(which chose; the fit went on to the budget so that last and oracle cover it)" in text
    assert "| speech | plain | snr | 3 | -1.00 | -1.00 (c0) | 3/3 | +0.00 | 1 (1-1) of 4 | 1 | 3 |" in text


def test_a_notebook_sees_the_cpu_run_and_the_headline_of_the_same_table_at_other_settings(tmp_path):
    """precomputed(table) shows the main grid's run (preset cpu) whole, then the headline rows of every other
    committed run of that table (here a hop-64 run), so a notebook shows both; a table with no run says how
    to run it."""
    runs = tmp_path / "runs"
    for name, preset, diffs in (("cpu/t1", "cpu", [1.0, 2.0, 3.0]), ("cpu64/t1", "smoke", [-1.0, -2.0, -3.0])):
        cfg = E.RunConfig(table="table1", preset=preset, priors=("plain", "exp_dense"), datasets=("speech",),
                          n_clips=3).resolved()
        _open_run(cfg, runs / name)
        (runs / name / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(diffs)))
    text = E.precomputed("table1", root=runs)
    assert text.startswith("**Precomputed, not run by this notebook**: the committed rows of `docs/results/cpu/t1`")
    head, _, tail = text.partition("**The same table at other settings, also committed** (`docs/results/cpu64/t1`")
    assert "| speech | snr | exp_dense - plain | 3 | +2.00 [" in head and tail  # the cpu run's own section
    assert "| table1 (smoke, hop 64) | speech | snr | 3 | -2.00 [" in tail and "| 0/3 | no | +1.30 |" in tail
    assert "| table1 | speech | snr |" not in tail  # the cpu run is not repeated in the other runs' rows
    assert E.precomputed("table2", root=runs).startswith("No committed run of table2 in this checkout: run `daptools")
