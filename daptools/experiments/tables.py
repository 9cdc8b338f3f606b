"""The paper's tables as data: Table, TABLES, the metrics and columns of each task, RunConfig.

One concern: *what* a table run is (task x datasets x priors x clips, and the settings of one
run, all recorded in its config.json). Building the problems, running and reporting live in the
sibling modules. Taught in notebooks 07-10 (07 denoising, 08 inpainting, 09 separation,
10 convergence and the paper's tables).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .._checks import DapError
from ..baselines import baseline_names
from ..presets import get_preset
from ..priors import prior_names
from ..separation.recipes import RECIPES
from ..spectral import HOP
from ..stopping import HOP_RULES, Stopping

FOUR = ("plain", "dilated", "exp", "exp_dense")


@dataclass(frozen=True)
class Table:
    """One of the paper's tables.

    Attributes:
        task (str): "denoise", "denoise_env", "inpaint" or "separate".
        datasets (tuple[str]): tutorial categories (mapped to the paper's datasets with --data paper).
        priors (tuple[str]): the priors the paper lists for this table (a run may add others, and
            baselines of :mod:`daptools.baselines`, which are rows like a prior's).
        title (str): caption.
        oracle (str): the metric the oracle iteration is chosen on, the table's headline metric
            ("snr": waveform SNR; "spectral_snr" for inpainting; separation: the mean SNR of the
            sources under their best ordering, :func:`daptools.separation.permutation_snr`).
    """
    task: str
    datasets: tuple
    priors: tuple
    title: str
    oracle: str = "snr"

    @property
    def rule_task(self) -> str:
        """The task whose blind rule its fits run (:func:`daptools.stopping.task_rule`)."""
        return "denoise" if self.task == "denoise_env" else self.task


TABLES = {
    "table1": Table("denoise", ("speech", "digits", "piano"), FOUR,
                    "Table 1: denoising, Gaussian noise (std 0.1)"),
    "table2": Table("denoise_env", ("speech", "digits", "piano"), ("plain", "exp", "exp_dense"),
                    "Table 2: denoising, environmental noise (SNR 5-9 dB)"),
    "table3": Table("inpaint", ("speech", "digits"), FOUR, "Table 3: inpainting, gaps of 0.1-0.25 s",
                    oracle="spectral_snr"),
    "table4": Table("separate", ("piano+drums",), FOUR, "Table 4: two-source separation (piano + drums)",
                    oracle="permutation_snr"),
}
# the paper's clip lengths: 2 s for LJSpeech, 1 s for the rest
PAPER_SECONDS = {"speech": 2.0}
METRICS = {
    "denoise": ("snr", "psnr", "pesq", "si_sdr"),
    "denoise_env": ("snr", "psnr", "pesq", "si_sdr"),
    "inpaint": ("spectral_snr", "envelope_distance", "snr"),
    "separate": ("sdr", "sir", "spectral_snr", "envelope_distance"),
}
# the columns the paper prints (PESQ only for speech; its "PSNR" is our waveform SNR, see metrics.py)
PAPER_COLUMNS = {
    "denoise": {"speech": ("pesq", "snr"), "digits": ("pesq", "snr"), "piano": ("snr",)},
    "inpaint": {"speech": ("spectral_snr", "envelope_distance"), "digits": ("spectral_snr", "envelope_distance")},
    "separate": {"piano": ("sdr", "sir", "spectral_snr", "envelope_distance"),
                 "drums": ("sdr", "sir", "spectral_snr", "envelope_distance")},
}
PAPER_COLUMNS["denoise_env"] = PAPER_COLUMNS["denoise"]


def _paper(datasets_metrics, lines):
    """{prior: {(dataset, metric): (mean, std)}} from the paper's rows, written as in its tables."""
    out = {}
    for prior, cells in lines.items():
        out[prior] = {dm: tuple(float(v) for v in cell.split("+-"))
                      for dm, cell in zip(datasets_metrics, cells.split("|"))}
    return out


# The paper's Tables 1-4 (Narayanaswamy et al. 2021; 50 clips or mixtures each, 2000 iterations, hop 64,
# widths 35/70/140 with a 70-filter bottleneck; its "PSNR" is our waveform "snr"), copied from the paper:
# mean +- std per (dataset, metric). Shown beside our rows, labelled, never mixed into our statistics.
_D = [("speech", "pesq"), ("speech", "snr"), ("digits", "pesq"), ("digits", "snr"), ("piano", "snr")]
_S = [("piano+drums", f"{m}_{s}") for m in ("sdr", "sir", "spectral_snr", "envelope_distance")
      for s in ("piano", "drums")]
PAPER_RESULTS = {
    "table1": _paper(_D, {
        "plain": "1.73+-0.17|6.85+-1.47|1.99+-0.47|9.54+-2.96|9.17+-1.34",
        "dilated": "1.76+-0.21|7.18+-1.55|2.08+-0.47|10.85+-2.72|9.11+-1.49",
        "exp": "2.00+-0.19|7.68+-1.76|2.20+-0.45|11.52+-2.89|10.68+-1.47",
        "exp_dense": "2.07+-0.16|8.15+-1.94|2.23+-0.47|11.55+-2.91|12.50+-1.11"}),
    "table2": _paper(_D, {
        "plain": "1.91+-0.26|4.36+-1.29|2.23+-0.58|6.39+-1.81|5.73+-1.06",
        "exp": "2.04+-0.24|5.03+-1.27|2.31+-0.69|6.95+-1.92|6.40+-1.12",
        "exp_dense": "2.31+-0.22|5.58+-1.34|2.46+-0.58|7.19+-1.82|7.30+-1.12"}),
    "table3": _paper([("speech", "spectral_snr"), ("speech", "envelope_distance"), ("digits", "spectral_snr"),
                      ("digits", "envelope_distance")], {
        "plain": "7.27+-1.43|0.08+-0.02|7.34+-1.91|0.12+-0.03",
        "dilated": "7.18+-1.06|0.08+-0.02|7.78+-1.88|0.11+-0.03",
        "exp": "7.95+-1.16|0.07+-0.02|9.02+-1.96|0.10+-0.03",
        "exp_dense": "10.01+-1.78|0.06+-0.02|10.80+-2.52|0.09+-0.03"}),
    "table4": _paper(_S, {
        "plain": "2.56+-1.71|-0.28+-1.45|13.17+-6.62|-6.41+-8.18|2.75+-1.59|0.01+-0.97|0.28+-0.09|0.18+-0.07",
        "dilated": "2.54+-1.63|0.02+-1.47|13.09+-7.47|-3.41+-9.09|2.75+-1.39|0.04+-0.74|0.26+-0.08|0.15+-0.05",
        "exp": "3.07+-1.38|0.15+-1.87|11.84+-8.64|1.12+-5.25|3.26+-1.64|0.17+-1.65|0.25+-0.06|0.14+-0.05",
        "exp_dense": "4.84+-2.61|0.61+-3.09|12.57+-7.62|1.93+-5.64|5.43+-2.04|0.54+-1.77|0.21+-0.08|0.14+-0.04"}),
}
# where the paper claims exp_dense beats plain (the goal of docs/results.md): (table, dataset, metric)
# (Tables 1-2 on both metrics the paper prints, SNR and, for speech and digits, PESQ; Table 3 on the spectral SNR;
# Table 4 on each source's SDR; the other metrics of Tables 3-4 are in their tables' sections)
PAPER_CLAIMS = [(t, d, m) for t in ("table1", "table2") for d in ("speech", "digits", "piano")
                for m in PAPER_COLUMNS["denoise"][d][::-1]] + \
    [("table3", d, "spectral_snr") for d in ("speech", "digits")] + \
    [("table4", "piano+drums", f"sdr_{s}") for s in ("piano", "drums")]


def run_hop(cfg: dict) -> int:
    """A run's spectrogram hop, from its recorded settings (config.json's ``config``): :meth:`RunConfig.resolved`
    records it in ``extra["hop"]`` when the preset changes it, else the fits ran at the paper's."""
    return cfg.get("extra", {}).get("hop", HOP)


@dataclass
class RunConfig:
    """Settings of one table run (all recorded in config.json)."""
    table: str
    preset: str = "lab"
    iterations: int | None = None
    n_clips: int | None = None
    duration: float | None = None
    priors: tuple | None = None
    datasets: tuple | None = None
    seed: int = 0
    device: str = "auto"
    precision: str | None = None
    select: str = "auto"
    full_budget: bool = False
    batch: int | None = None
    data: str = "tutorial"
    noise_std: float = 0.1
    snr_range: tuple = (5.0, 9.0)
    gaps_per_second: float = 1.0
    extra: dict = field(default_factory=dict)

    def rule_settings(self) -> dict | None:
        """The blind rule's settings the run records: the preset's, over what the table's task sets at the preset's
        hop (:data:`daptools.stopping.HOP_RULES`) and the run's own (``extra["stopping"]``, ``--stopping``), so that a
        run made under other settings is not resumed with these; None: the task's own."""
        p = get_preset(self.preset)
        settings = {**HOP_RULES.get((TABLES[self.table].rule_task, p.hop), {}), **(p.stopping or {}),
                    **(self.extra.get("stopping") or {})}
        Stopping.coerce(settings)  # bad settings fail here, before any fit
        return settings or None

    def resolved(self) -> "RunConfig":
        """Fill unset fields from the table and the preset."""
        if self.table not in TABLES:
            raise DapError(f"unknown table {self.table!r}; choose one of {', '.join(TABLES)}")
        t, p = TABLES[self.table], get_preset(self.preset)
        priors = tuple(t.priors if self.priors is None else self.priors)
        if not priors:
            raise DapError("no priors to run: give at least one (or None for the table's own)")
        known = [*prior_names(), *baseline_names(t.task)]
        bad = [x for x in priors if x not in known]
        if bad:
            raise DapError(f"unknown prior(s) {', '.join(bad)} for {self.table}; choose from {', '.join(known)}")
        if self.data not in ("tutorial", "paper"):
            raise DapError(f"--data must be 'tutorial' or 'paper', got {self.data!r}")
        fitting = {"lr": p.lr, "schedule": p.schedule}
        if t.task == "separate":
            # separation fits with its method's own lr and schedule (the preset's are denoising's), unless
            # given in extra; extra["method"] picks the method of daptools.separate (default its default)
            fitting = {"lr": None, "schedule": None, "method": None}
            if self.extra.get("method") in RECIPES:
                # a run of a named method records its recipe: rows fitted with another one do not resume it
                fitting["recipe"] = asdict(RECIPES[self.extra["method"]])
        return replace(self, iterations=self.iterations or p.iterations, n_clips=self.n_clips or p.n_clips,
                       duration=self.duration or p.duration, priors=priors,
                       datasets=tuple(self.datasets or t.datasets), precision=self.precision or p.precision,
                       extra={**fitting, "prior_options": p.prior_options(), **({"hop": p.hop} if p.hop != HOP else {}),
                              **self.extra, "stopping": self.rule_settings()})

