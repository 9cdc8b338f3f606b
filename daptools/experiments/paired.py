"""Paired comparisons of two priors over the same clips: the mean difference, its 95 % bootstrap
interval and the share of clips where the first wins.

One concern: the statistics a reader needs to trust a ranking. Every prior of a table is fitted to
the same corrupted clips, so two priors are compared clip by clip (a paired difference), which
removes the clip-to-clip spread that dominates the mean ± std of each prior (speech clips differ
by several dB among themselves, priors by a fraction of that). The interval is scipy's percentile
bootstrap of the mean difference over clips (10 000 resamples, a fixed seed, so a regenerated
report is identical). Used by :mod:`daptools.experiments.page`; taught in notebook 10.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap

RESAMPLES = 10_000
CONFIDENCE = 0.95
# the paper's ablation, one step at a time: plain -> constant dilation -> exponential -> + dense
ABLATION = ("plain", "dilated", "exp", "exp_dense")


@dataclass(frozen=True)
class Paired:
    """``a`` minus ``b`` on ``metric`` over the clips both were fitted to.

    Attributes:
        a, b (str): the priors compared (a - b).
        dataset, metric, selection (str): what was compared ("blind", "oracle", ...).
        n (int): clips in the pair.
        mean (float): mean difference (dB for SNR-like metrics; PESQ points).
        low, high (float): the 95 % bootstrap interval of the mean (nan below 2 clips).
        wins (int): clips where ``a`` is higher.
    """
    a: str
    b: str
    dataset: str
    metric: str
    selection: str
    n: int
    mean: float
    low: float
    high: float
    wins: int

    @property
    def above_zero(self) -> bool:
        """True when the whole interval lies above zero (``a`` better on these clips)."""
        return bool(self.low > 0)


def paired(rows: list[dict], a: str, b: str, dataset: str, metric: str, selection: str = "blind") -> Paired | None:
    """The paired difference ``a - b`` of one metric over the clips of one dataset.

    Args:
        rows (list[dict]): a run's rows (``rows.jsonl``).
        a, b (str): prior names (row ``prior``).
        dataset (str): row ``dataset``.
        metric (str): a key of the selection's metrics (e.g. "snr", "sdr_piano").
        selection (str): "blind", "last" or "oracle".

    Returns:
        Paired | None: None when no clip has both priors.
    """
    per_clip = differences(rows, a, b, dataset, metric, selection)
    if not per_clip:
        return None
    d = np.array(list(per_clip.values()), dtype=float)
    low, high = interval(d)
    return Paired(a, b, dataset, metric, selection, len(d), float(d.mean()), low, high, int((d > 0).sum()))


def differences(rows: list[dict], a: str, b: str, dataset: str, metric: str,
                selection: str = "blind") -> dict[str, float]:
    """``{clip: a - b}`` on one metric, in clip order, over the clips of ``dataset`` where both priors have a finite
    value (arguments as in :func:`paired`)."""
    def values(prior):
        return {r["clip"]: r[selection].get(metric) for r in rows
                if r["prior"] == prior and r["dataset"] == dataset and selection in r}
    va, vb = values(a), values(b)
    clips = sorted(c for c in va.keys() & vb.keys()
                   if va[c] is not None and vb[c] is not None and np.isfinite(va[c]) and np.isfinite(vb[c]))
    return {c: float(va[c] - vb[c]) for c in clips}


def interval(d: np.ndarray) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of the mean of ``d`` (nan, nan below 2 values;
    a single point when every value is the same)."""
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        return float("nan"), float("nan")
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    res = bootstrap((d,), np.mean, n_resamples=RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                    rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def comparisons(priors) -> list[tuple[str, str]]:
    """The pairs a table reports: each prior of the ablation against plain, and against the step
    before it (plain -> dilated -> exp -> exp_dense, among the table's priors); other priors
    (harmonic, baselines) against exp_dense."""
    steps = [p for p in ABLATION if p in priors]
    out = []
    for i, p in enumerate(steps[1:], start=1):
        if "plain" in steps:
            out.append((p, "plain"))
        if steps[i - 1] != "plain":
            out.append((p, steps[i - 1]))
    if "exp_dense" in priors:
        out += [("exp_dense", p) for p in priors if p not in ABLATION]
    return out
