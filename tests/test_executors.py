"""The experiment grid on Ray: the same rows as the serial runner, and a resumable ledger.

The Ray tests share one local cluster of two workers (starting Ray takes tens of seconds) and
run at smoke settings: 1 dataset, 2 clips, 2 priors, fp32.
"""
import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

import daptools as dap
from daptools import executors as X
from daptools import experiments as E
from daptools.experiments.command import _parser

try:
    import ray
except ImportError:
    ray = None
needs_ray = pytest.mark.skipif(ray is None, reason='ray is not installed (pip install "daptools[cluster]")')

CFG = dict(table="table1", preset="smoke", priors=("plain", "exp"), datasets=("digits",), n_clips=2,
           precision="fp32")
SAME = ("dataset", "iterations", "device", "precision", "auto_iteration", "stop_iteration", "oracle_iteration")


def _by_key(out):
    return {(r["clip"], r["prior"]): r for r in E.read_rows(out)}


def assert_same_rows(a, b):
    """Every field a rerun must reproduce; metrics to 1e-6 (fp32 fits of the same seed on one CPU)."""
    ra, rb = _by_key(a), _by_key(b)
    assert ra.keys() == rb.keys()
    for k, x in ra.items():
        y = rb[k]
        assert [x.get(f) for f in SAME] == [y.get(f) for f in SAME], k
        for sel in ("input", "blind", "last", "oracle"):
            assert x[sel].keys() == y[sel].keys()
            for m, v in x[sel].items():
                w = y[sel][m]
                assert (math.isnan(v) and math.isnan(w)) or v == pytest.approx(w, abs=1e-6), (k, sel, m, v, w)


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    # on the threads of a Ray task (cpus_per_task=1: one torch thread): a fit on 2 threads rounds
    # differently (CI saw 2e-5 dB on an SI-SDR of -37 dB), and the rows would not be the same bytes
    out = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        E.run_table(E.RunConfig(**CFG), out, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, configure_logging=False, log_to_driver=False, runtime_env=X._code_env())
    yield
    ray.shutdown()


class Sabotage(X.RayExecutor):
    """A Ray executor whose jobs number ``kill`` and ``fail`` lose their worker / raise instead of fitting."""

    def __init__(self, kill, fail):
        super().__init__(max_retries=0)  # no retry of the killed worker: its rows are left for the rerun
        self.kill, self.fail = kill, fail

    def run(self, jobs, gpu=False):
        # nested functions travel to the workers by value (this test module is not importable there)
        def die(*args):
            os._exit(9)  # the worker process dies mid-task, as when it is killed

        def fail(*args):
            raise RuntimeError("a fit that fails")
        jobs = [replace(j, fn=die) if i == self.kill else replace(j, fn=fail) if i == self.fail else j
                for i, j in enumerate(jobs)]
        return super().run(jobs, gpu)


@needs_ray
def test_ray_rows_equal_serial_rows(serial_run, cluster, tmp_path):
    with X.RayExecutor() as ex:
        summary = E.run_table(E.RunConfig(**CFG), tmp_path, progress=False, executor=ex)
    assert ray.is_initialized()  # an executor that joined a running cluster leaves it up
    assert len(E.read_rows(tmp_path)) == 4
    assert_same_rows(serial_run, tmp_path)
    serial = json.loads((serial_run / "summary.json").read_text())
    assert len(serial["groups"]) == len(summary["groups"])
    for g, h in zip(serial["groups"], summary["groups"]):
        assert (g["dataset"], g["prior"], g["selection"], g["n"]) == (h["dataset"], h["prior"], h["selection"], h["n"])
        for m, v in g["mean"].items():
            if m != "seconds":
                assert (math.isnan(v) and math.isnan(h["mean"][m])) or v == pytest.approx(h["mean"][m], abs=1e-6)


@needs_ray
def test_interrupted_run_resumes_only_the_missing_rows(serial_run, cluster, tmp_path):
    cfg = E.RunConfig(**CFG)
    computed = []

    def run(executor, **kw):
        before = len(E.read_rows(tmp_path))
        try:
            E.run_table(cfg, tmp_path, progress=False, executor=executor, **kw)
        finally:
            computed.append(len(E.read_rows(tmp_path)) - before)

    with X.RayExecutor() as ex:
        run(ex, max_rows=1)  # a run split part-way
        with open(tmp_path / "rows.jsonl", "a") as f:
            f.write('{"clip": "digits/x", "pri')  # the driver killed mid-write
        with pytest.raises(dap.DapError, match=r"2 of 3 Ray tasks failed .*rerun the same command"):
            run(Sabotage(kill=0, fail=2))  # one worker killed, one fit raising: their rows are not written
        run(ex)
        run(ex)  # nothing left: nothing is fitted again
    print("rows computed by each run:", computed)
    assert computed == [1, 1, 2, 0]
    assert_same_rows(serial_run, tmp_path)
    assert len(E.read_rows(tmp_path)) == 4


def test_jobs_hold_one_dataset_and_respect_max_rows():
    cfg = E.RunConfig(table="table1", preset="smoke", priors=("plain", "exp")).resolved()
    probs = [{"key": f"{ds}/{i}", "dataset": ds} for ds in ("speech", "digits") for i in range(3)]
    batches = {(p, ds): 2 for p in cfg.priors for ds in ("speech", "digits")}
    jobs = E.plan_jobs(cfg, probs, set(), "cpu", batches)
    assert [j.size for j in jobs] == [2, 1, 2, 1, 2, 1, 2, 1]
    assert all(len({p["dataset"] for p in j.args[2]}) == 1 for j in jobs)  # clips of one length per batch
    done = {("speech/0", "plain"), ("speech/1", "plain")}
    jobs = E.plan_jobs(cfg, probs, done, "cpu", batches, max_rows=3)
    assert [[p["key"] for p in j.args[2]] for j in jobs] == [["speech/2"], ["digits/0", "digits/1"]]
    assert [j.args[3] for j in jobs] == ["plain", "plain"]


def test_serial_is_the_default_and_ray_is_only_imported_when_asked(tmp_path):
    code = ("import sys, daptools, daptools.experiments, daptools.executors; "
            "assert 'ray' not in sys.modules, 'ray imported'; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr
    assert _parser().parse_args(["table1"]).executor == "serial"


def test_ray_missing_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert E.main(["table1", "--preset", "smoke", "--executor", "ray", "--out", "/tmp/never_ray"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("daptools paper: error:") and 'pip install "daptools[cluster]"' in err
    assert E.main(["table1", "--preset", "smoke", "--address", "auto", "--out", "/tmp/never_ray"]) == 2
    assert "--executor ray" in capsys.readouterr().err
