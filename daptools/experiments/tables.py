"""The paper's tables as data: Table, TABLES, the metrics and columns of each task, RunConfig.

One concern: *what* a table run is (task x datasets x priors x clips, and the settings of one
run, all recorded in its config.json). Building the problems, running and reporting live in the
sibling modules. Taught in notebooks 07-10 (07 denoising, 08 inpainting, 09 separation,
10 convergence and the paper's tables).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .._checks import DapError
from ..presets import get_preset
from ..priors import prior_names
from ..spectral import HOP

FOUR = ("plain", "dilated", "exp", "exp_dense")


@dataclass(frozen=True)
class Table:
    """One of the paper's tables.

    Attributes:
        task (str): "denoise", "denoise_env", "inpaint" or "separate".
        datasets (tuple[str]): tutorial categories (mapped to the paper's datasets with --data paper).
        priors (tuple[str]): the priors the paper lists for this table.
        title (str): caption.
    """
    task: str
    datasets: tuple
    priors: tuple
    title: str


TABLES = {
    "table1": Table("denoise", ("speech", "digits", "piano"), FOUR,
                    "Table 1: denoising, Gaussian noise (std 0.1)"),
    "table2": Table("denoise_env", ("speech", "digits", "piano"), ("plain", "exp", "exp_dense"),
                    "Table 2: denoising, environmental noise (SNR 5-9 dB)"),
    "table3": Table("inpaint", ("speech", "digits"), FOUR, "Table 3: inpainting, gaps of 0.1-0.25 s"),
    "table4": Table("separate", ("piano+drums",), FOUR, "Table 4: two-source separation (piano + drums)"),
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

    def resolved(self) -> "RunConfig":
        """Fill unset fields from the table and the preset."""
        if self.table not in TABLES:
            raise DapError(f"unknown table {self.table!r}; choose one of {', '.join(TABLES)}")
        t, p = TABLES[self.table], get_preset(self.preset)
        priors = tuple(t.priors if self.priors is None else self.priors)
        if not priors:
            raise DapError("no priors to run: give at least one (or None for the table's own)")
        bad = [x for x in priors if x not in prior_names()]
        if bad:
            raise DapError(f"unknown prior(s) {', '.join(bad)}; choose from {', '.join(prior_names())}")
        if self.data not in ("tutorial", "paper"):
            raise DapError(f"--data must be 'tutorial' or 'paper', got {self.data!r}")
        fitting = {"lr": p.lr, "schedule": p.schedule}
        if t.task == "separate":
            # separation fits with its method's own lr and schedule (the preset's are denoising's), unless
            # given in extra; extra["method"] picks the method of daptools.separate (default its default)
            fitting = {"lr": None, "schedule": None, "method": None}
        return replace(self, iterations=self.iterations or p.iterations, n_clips=self.n_clips or p.n_clips,
                       duration=self.duration or p.duration, priors=priors,
                       datasets=tuple(self.datasets or t.datasets), precision=self.precision or p.precision,
                       extra={**fitting, "prior_options": p.prior_options(), "stopping": p.stopping,
                              **({"hop": p.hop} if p.hop != HOP else {}), **self.extra})

