"""The paper-style summary of a table run: mean ± std per dataset, prior and selection.

One concern: reading a run's rows (``rows.jsonl``) into ``summary.json`` (:func:`summarize`)
and the Markdown table of ``summary.md`` (:func:`format_summary`: rows are priors and
selections, columns the paper's dataset x metric), and the success test of a separation
(:func:`beats_mixture`). Selections: "blind" (the run's ``select``, by default "auto": the
stopping rule's choice), "last" (the last iterate) and "oracle" (the iteration with the best SNR
against the clean reference; not available in real use). Taught in notebooks 07-10.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..baselines import BASELINES
from ..priors import DESCRIPTIONS
from ..spectral import HOP
from ..separation import DEFAULT_SEPARATION
from .ledger import read_config, read_rows
from .tables import METRICS, PAPER_COLUMNS, PAPER_RESULTS, TABLES, run_hop

# a success must beat the mixture's SDR by more than this: a collapsed estimate is a faint scaled copy of
# the mixture, which BSS Eval (gain-invariant) scores as the mixture itself up to rounding
BEAT_MARGIN_DB = 0.05
SELECTIONS = ("input", "blind", "last", "oracle")
SEPARATION_METRICS = ("sdr", "sir", "spectral_snr", "envelope_distance")


def summarize(out, write: bool = True) -> dict:
    """Mean +- std over clips, per dataset, prior and selection; writes summary.json / summary.md
    into the run folder unless ``write`` is False."""
    out = Path(out)
    rows = read_rows(out)
    cfg = read_config(out)["config"]
    summary = {"table": cfg["table"], "config": cfg, "n_rows": len(rows),
               # what the oracle was chosen on (rows before 2026-12-03 do not say: the task's own score)
               "oracle_metrics": sorted({r.get("oracle_metric", "permutation_snr" if r["task"] == "separate" else "snr")
                                         for r in rows if "oracle" in r}),
               "fit_seconds_total": float(sum(r["seconds"] for r in rows)), "groups": [
        {"dataset": d, "prior": p, "selection": s, "n": len(next(iter(v.values()))),
         "mean": {k: _nanmean(x) for k, x in v.items()}, "std": {k: _nanstd(x) for k, x in v.items()}}
        for (d, p, s), v in sorted(_groups(rows).items())]}
    if write:
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        (out / "summary.md").write_text(format_summary(summary))
    return summary


def _groups(rows: list[dict]) -> dict:
    """(dataset, prior, selection) -> {metric: values over clips}; the input once per clip, as "(input)"."""
    groups: dict = {}
    seen_inputs = set()
    for r in rows:
        for sel in SELECTIONS:
            if sel not in r or (sel == "input" and r["clip"] in seen_inputs):
                continue
            if sel == "input":
                seen_inputs.add(r["clip"])  # every prior's row repeats the same input
            g = groups.setdefault((r["dataset"], r["prior"] if sel != "input" else "(input)", sel), {})
            for k, v in r[sel].items():
                g.setdefault(k, []).append(v)
            if r["task"] == "separate" and sel != "input":
                g.setdefault("both_beat_mixture", []).append(float(beats_mixture(r, sel)))
            g.setdefault("seconds", []).append(r["seconds"] if sel != "input" else 0.0)
            used = {"blind": r.get("stop_iteration", r["iterations"]), "last": r["iterations"],
                    "oracle": r.get("oracle_iteration", 0)}
            g.setdefault("iterations", []).append(used.get(sel, 0))
    return groups


def label(prior: str) -> str:
    """The row label of a prior or baseline (the paper's names for its priors)."""
    if prior in BASELINES:
        return f"baseline: {BASELINES[prior].description}"
    return DESCRIPTIONS.get(prior, prior)


def beats_mixture(row: dict, selection: str = "blind") -> bool:
    """A separation row's success: BOTH estimates have an SDR more than :data:`BEAT_MARGIN_DB` above
    the mixture's own as the estimate of that source (the row's ``input``).

    Args:
        row (dict): a Table 4 row (or any dict with ``input`` and ``selection`` metric dicts).
        selection (str): which estimate ("blind", "last", "oracle").

    Returns:
        bool
    """
    return all(row[selection][f"sdr_{s}"] > row["input"][f"sdr_{s}"] + BEAT_MARGIN_DB for s in ("piano", "drums"))


def _nanmean(x):
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _nanstd(x):
    x = np.asarray(x, dtype=float)
    return float(np.nanstd(x)) if np.isfinite(x).any() else float("nan")


def format_summary(summary: dict, paper: bool = False) -> str:
    """The paper-style table (rows: priors; columns: dataset x metric), blind and oracle; with
    ``paper``, the paper's own numbers for each prior in a row labelled "the paper" below ours."""
    cfg = summary["config"]
    task = TABLES[cfg["table"]].task
    select = cfg.get("select", "last")
    by = {(g["dataset"], g["prior"], g["selection"]): g for g in summary["groups"]}
    columns = _columns(task, summary["groups"])
    share = task == "separate"  # the share of mixtures where both estimates beat the mixture's SDR
    lines = [f"## {TABLES[cfg['table']].title}", "", _caption(summary, task), ""]
    lines += _header([c[0] for c in columns], share, _datasets(columns))
    priors = [p for p in cfg["priors"] if p not in BASELINES] + [p for p in cfg["priors"] if p in BASELINES]
    for prior in ["(input)"] + priors:
        for sel in (("input",) if prior == "(input)" else ("blind", "last", "oracle")):
            line = _table_row(by, columns, prior, sel, select, share)
            if line is not None:
                lines.append(line)
        if paper and prior in PAPER_RESULTS.get(cfg["table"], {}):
            lines.append(_paper_row(PAPER_RESULTS[cfg["table"]][prior], columns, prior, share))
    return "\n".join(lines) + "\n"


def _paper_row(numbers: dict, columns: list[tuple], prior: str, share: bool) -> str:
    """The paper's mean ± std for one prior in our columns (50 clips, 2000 iterations; "–" where it
    reports no number)."""
    cells = [f"{numbers[d, m][0]:.2f} ± {numbers[d, m][1]:.2f}" if (d, m) in numbers else "–"
             for _, d, m in columns]
    n = _n_cell({d: 50 for _, d, _ in columns}, _datasets(columns))
    return (f"| {label(prior)} | the paper | {n} | " + " | ".join(cells)
            + (" | –" if share else "") + " | 2000 | – |")


def rule_words(settings: dict | None) -> str:
    """A blind rule's recorded settings as words: ``{"loss_window": 50}`` -> ``"loss_window 50"``."""
    return ", ".join(f"{k} {v}" for k, v in (settings or {}).items())


def budget_words(cfg: dict) -> str:
    """The caption's iterations: fixed, or a budget the blind rule stops within."""
    if cfg.get("select", "last") != "auto":
        return f"{cfg['iterations']} iterations"
    settings = (cfg.get("extra") or {}).get("stopping")
    rule = f" with {rule_words(settings)}" if settings else ""
    budget = f"at most {cfg['iterations']} iterations, stopped by the blind rule{rule}"
    if cfg.get("full_budget"):
        budget += " (which chose; the fit went on to the budget so that last and oracle cover it)"
    return budget


ORACLE_METRIC_NAMES = {"snr": "waveform SNR", "spectral_snr": "spectral SNR",
                       "permutation_snr": "the mean SNR of the two sources"}


def oracle_metric_words(summary: dict) -> str:
    """What a run's oracle was chosen on, in words."""
    return " / ".join(ORACLE_METRIC_NAMES.get(m, m) for m in summary.get("oracle_metrics") or ["snr"])


def clip_counts(summary: dict) -> str:
    """The clips a run holds rows of, per dataset, from its input groups: "clips: speech 8, digits 10"."""
    n = {g["dataset"]: g["n"] for g in summary["groups"] if g["selection"] == "input"}
    return "clips: " + ", ".join(f"{d} {k}" for d, k in n.items()) if n else "no rows yet"


def _caption(summary: dict, task: str) -> str:
    """The paragraph under the title: the run's settings and how to read the columns."""
    cfg = summary["config"]
    hop = run_hop(cfg)
    parts = [f"{cfg['data']} data, preset {cfg['preset']}: {budget_words(cfg)}, ",
             f"spectrogram hop {hop} (the paper's: {HOP}), " if hop != HOP else "",
             f"{clip_counts(summary)}, seed {cfg['seed']}, "
             f"blind selection {cfg.get('select', 'last')!r}; mean ± std over clips. "
             "SNR is the waveform SNR (the paper's 'PSNR' column); "
             f"oracle = iteration chosen with the clean reference on {oracle_metric_words(summary)} "
             "(not available in real use); "
             "its = iterations fitted (blind), the last iteration, or the oracle's iteration. "]
    if task == "separate":
        parts += [f"both > mixture = share of mixtures where BOTH estimates have an SDR over {BEAT_MARGIN_DB} dB "
                  "above the mixture's own as that source's estimate. ",
                  f"method {cfg.get('extra', {}).get('method') or DEFAULT_SEPARATION}. "]
    parts.append(f"{summary['n_rows']} fits, {summary.get('fit_seconds_total', 0) / 60:.0f} min of fitting.")
    return "".join(parts)


def _columns(task: str, groups: list[dict]) -> list[tuple]:
    """The table's metric columns: (header, dataset, metric key)."""
    if task == "separate":
        return [(f"{m} ({s})", "piano+drums", f"{m}_{s}") for m in SEPARATION_METRICS for s in ("piano", "drums")]
    datasets = sorted({g["dataset"] for g in groups})
    return [(f"{d}: {m}", d, m) for d in datasets for m in PAPER_COLUMNS[task].get(d, METRICS[task])]


def _datasets(columns: list[tuple]) -> list[str]:
    """The datasets of a table's columns, in their order."""
    return list(dict.fromkeys(d for _, d, _ in columns))


def _header(names: list[str], share: bool, datasets: list[str] = ()) -> list[str]:
    """The Markdown header and rule lines; with several datasets, n is given per dataset in their order."""
    n = "n" if len(datasets) < 2 else f"n ({' / '.join(datasets)})"
    return [f"| prior | selection | {n} | " + " | ".join(names) + (" | both > mixture" if share else "")
            + " | its | s/clip |", "|---|---|---|" + "---|" * (len(names) + 2 + share)]


def _n_cell(counts: dict, datasets: list[str]) -> str:
    """The clips behind a row: one number, or one per dataset ("10 / 7 / 8"; "–" where it has none)."""
    if len(datasets) < 2:
        return str(max(counts.values()))
    return " / ".join(str(counts[d]) if d in counts else "–" for d in datasets)


def _table_row(by: dict, columns: list[tuple], prior: str, sel: str, select: str, share: bool) -> str | None:
    """One prior and selection: mean ± std of each column, iterations, seconds; None without data."""
    cells, found, counts = [], [], {}
    for _, dataset, metric in columns:
        g = by.get((dataset, prior, sel))
        if g is None or metric not in g["mean"]:
            cells.append("–")
            continue
        found.append(g)
        counts[dataset] = g["n"]
        cells.append(f"{g['mean'][metric]:.2f} ± {g['std'][metric]:.2f}")
    if not found:
        return None
    its = np.mean([g["mean"].get("iterations", float("nan")) for g in found])
    seconds = np.mean([g["mean"]["seconds"] for g in found])
    if share:
        cells.append(_share_cell(by.get((columns[0][1], prior, sel)), sel))
    how = {"input": "input", "blind": f"blind ({select})", "last": "last iterate", "oracle": "oracle"}[sel]
    if prior in BASELINES:
        how = "blind (no fitting)"
    it_cell = "–" if sel == "input" or prior in BASELINES or not np.isfinite(its) else f"{its:.0f}"
    return (f"| {label(prior)} | {how} | {_n_cell(counts, _datasets(columns))} | " + " | ".join(cells)
            + f" | {it_cell} | {_seconds(seconds)} |")


def _seconds(s: float) -> str:
    """Seconds per clip: whole seconds, or two significant digits below 10 s (the baselines)."""
    return f"{s:.0f}" if s >= 10 or s == 0 else f"{s:.2g}"


def _share_cell(g: dict | None, sel: str) -> str:
    """The share of mixtures where both estimates beat the mixture: "80 % (8/10)"."""
    b = g["mean"].get("both_beat_mixture") if g else None
    if b is None or sel == "input":
        return "–"
    return f"{100 * b:.0f} % ({round(b * g['n'])}/{g['n']})"
