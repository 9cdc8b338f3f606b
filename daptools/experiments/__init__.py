"""The paper's experiments: Tables 1-4 and Figure 2 (notebooks 07-10).

A *table* is a task x datasets x priors x clips grid. Every (clip, prior) pair
is one *row*: the corrupted input, the fit, and every metric the paper reports
for that task, for the blind output (``select="auto"`` by default: the
iteration the blind stopping rule chooses, what a real user gets), for the last
iterate ("last"), and, because the clean reference exists here, for the oracle
output (the iteration with the best SNR against the clean signal, as the
paper's authors selected; labelled as such). Rows are appended to
``rows.jsonl`` as they finish, so a rerun skips them: a long run survives
interruption.

    python -m daptools.experiments table1 --preset lab --out runs/table1
    python -m daptools.experiments figure2 --preset lab --out runs/figure2
    daptools paper table3 --preset paper --data paper --out runs/paper_table3
    daptools paper table1 --preset paper --executor ray    # the fits as Ray tasks (daptools.executors)

Outputs in ``--out``: ``config.json`` (settings and package versions),
``rows.jsonl``, ``summary.md`` / ``summary.json`` (mean +- std per prior and
dataset, as in the paper), and for Figure 2 ``figure2.png`` + ``figure2.json``.

Modules, one concern each:

* :mod:`.tables`: the tables (:data:`TABLES`, :class:`Table`), metrics, columns, :class:`RunConfig`;
* :mod:`.problems`: the corrupted inputs (:func:`problems`, :func:`corrupt`, :func:`mixtures`)
  and :func:`score`;
* :mod:`.runner`: :func:`run_table` (placement, jobs, fits, rows); :mod:`.ledger`: ``rows.jsonl``;
* :mod:`.report`: :func:`summarize`, :func:`format_summary`, :func:`beats_mixture`;
* :mod:`.figure2`: :func:`convergence`, :func:`plot_convergence`;
* :mod:`.command`: the command line (:func:`main`).
"""
from .command import main
from .figure2 import convergence, plot_convergence
from .ledger import read_rows
from .page import headline, precomputed, write_page
from .paired import Paired, paired
from .problems import corrupt, mixtures, problems, score, score_input
from .report import BEAT_MARGIN_DB, beats_mixture, format_summary, summarize
from .runner import fit_rows, placement, plan_jobs, run_table, versions
from .tables import FOUR, METRICS, PAPER_COLUMNS, PAPER_SECONDS, TABLES, RunConfig, Table

__all__ = ["BEAT_MARGIN_DB", "FOUR", "METRICS", "PAPER_COLUMNS", "PAPER_SECONDS", "TABLES", "RunConfig", "Table",
           "beats_mixture", "convergence", "corrupt", "fit_rows", "format_summary", "main", "mixtures",
           "Paired", "headline", "paired", "placement", "plan_jobs", "precomputed", "write_page", "plot_convergence", "problems", "read_rows", "run_table", "score",
           "score_input", "summarize", "versions"]
