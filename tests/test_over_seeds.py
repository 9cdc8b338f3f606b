"""studies/paper_grid/over_seeds.py: one table at several seeds, pooled clip by clip."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("over_seeds", ROOT / "studies" / "paper_grid" / "over_seeds.py")
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


def _run(folder: Path, seed: int, diffs: list, table="table3"):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": {"table": table, "seed": seed}}))
    rows = []
    for i, d in enumerate(diffs):
        for prior, v in (("plain", 5.0), ("exp_dense", 5.0 + d)):
            rows.append({"dataset": "speech", "clip": f"speech/c{i}", "prior": prior, "blind": {"spectral_snr": v}})
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder)


def test_a_verdict_that_flips_between_seeds_pools_to_the_mean_per_clip(tmp_path, capsys):
    a = _run(tmp_path / "s0", 0, [1.0, 1.0, 2.0])
    b = _run(tmp_path / "s1", 1, [-1.0, -2.0, 1.0])
    S.main([a, b])
    out = capsys.readouterr().out
    # per clip over the seeds: 0, -0.5, +1.5 -> mean +0.33, one clip ahead; ahead at both seeds: clip 2 only
    assert "| speech | spectral_snr | 3 | +1.33 [" in out and "| -0.67 [" in out
    assert "| +0.33 [" in out and "] 1/3 | 1/3 |" in out


def test_runs_of_different_tables_or_one_seed_twice_are_refused(tmp_path):
    a = _run(tmp_path / "s0", 0, [1.0, 2.0])
    with pytest.raises(SystemExit, match="different tables"):
        S.main([a, _run(tmp_path / "t1", 1, [1.0, 2.0], table="table1")])
    with pytest.raises(SystemExit, match="share a seed"):
        S.main([a, _run(tmp_path / "again", 0, [1.0, 2.0])])
