"""studies/paper_grid/gap_along_fits.py: the gap between two priors along their fits' monitoring curves."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gap_along_fits", ROOT / "studies" / "paper_grid" / "gap_along_fits.py")
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)


def _row(prior, clip, scores, every=100):
    return {"prior": prior, "dataset": "speech", "clip": clip,
            "curve": {"score_iteration": [every * (i + 1) for i in range(len(scores))], "score": scores}}


def test_the_gap_is_paired_per_checkpoint_over_the_clips_both_fits_reached(tmp_path, capsys):
    rows = [_row("plain", "c0", [1.0, 2.0, 3.0]), _row("exp_dense", "c0", [2.0, 2.5, 3.0]),
            _row("plain", "c1", [0.0, 1.0, 2.0]), _row("exp_dense", "c1", [1.0, 2.0]),  # stopped at 200
            _row("plain", "other", [9.0, 9.0, 9.0])]  # no exp_dense fit: left out
    assert G.scores_at(rows, "exp_dense", "speech", 300) == {"c0": 3.0}
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    G.main([str(tmp_path), "--dataset", "speech", "--at", "100,200,300,400"])
    out = capsys.readouterr().out.splitlines()
    assert "| 100 | 2 | 0.50 | 1.50 | +1.00 [+1.00, +1.00] | 2/2 |" in out
    assert "| 200 | 2 | 1.50 | 2.25 | +0.75 [" in "\n".join(out)
    assert "| 300 | 1 | 3.00 | 3.00 | +0.00 (one clip, no interval) | 0/1 |" in out
    assert "| 400 | 0 | – | – | – | – |" in out
