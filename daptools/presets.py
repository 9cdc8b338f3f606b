"""Named run settings shared by the experiment runner, the command line and the notebooks.

* ``paper``: the paper's protocol (2000 Adam iterations at lr 1e-3, 50 clips, fp32).
* ``lab``: a few minutes per four-prior comparison on a 2-core laptop CPU (about 6 min:
  300 iterations x 1.15 s for the four priors): U-Net widths 16/32/64 instead of
  35/70/140, 0.5 s clips, 300 iterations at lr 3e-3. The widths, length and learning
  rate were chosen from the measurement in docs/performance.md, where the quality lost
  against the paper's settings is stated.
* ``smoke``: seconds, for CI (tiny networks, 4 iterations); numbers from it only show
  that the code runs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ._checks import DapError


@dataclass(frozen=True)
class Preset:
    """Run settings.

    Attributes:
        iterations (int): Adam steps per fit.
        lr (float): Adam learning rate.
        schedule (str | None): lr schedule (see :func:`daptools.make_scheduler`).
        n_clips (int): clips per dataset in a table.
        precision (str): "fp32", "bf16" or "auto".
        duration (float | None): clip length override in seconds (None: the paper's lengths).
        channels (tuple | None): U-Net widths override (None: the paper's 35, 70, 140).
        stopping (dict | None): settings of the blind stopping rule (None: the defaults of
            :class:`daptools.stopping.Stopping`); the iterations are then a maximum.
    """
    iterations: int
    lr: float = 1e-3
    schedule: str | None = None
    n_clips: int = 50
    precision: str = "auto"
    duration: float | None = None
    channels: tuple | None = None
    stopping: dict | None = None

    def prior_options(self) -> dict:
        """Options for :func:`daptools.build_prior` (empty: the paper's network)."""
        return {} if self.channels is None else {"channels": tuple(self.channels)}

    def fit_options(self) -> dict:
        """Keyword arguments for :func:`daptools.fit` and the tasks."""
        return {"iterations": self.iterations, "lr": self.lr, "schedule": self.schedule,
                "precision": self.precision, "prior_options": self.prior_options(), "stopping": self.stopping}

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "paper": Preset(iterations=2000, lr=1e-3, schedule=None, n_clips=50, precision="fp32"),
    # lab: chosen from scripts/lab_sweep.py (docs/performance.md): at widths 16/32/64 on 0.5 s clips,
    # lr 3e-3 beat 1e-3 (slow) and 1e-2 (unstable) at 300 iterations on all three test clips
    "lab": Preset(iterations=300, lr=3e-3, schedule=None, n_clips=3, precision="auto", duration=0.5,
                  channels=(16, 32, 64)),
    "smoke": Preset(iterations=4, lr=1e-3, schedule=None, n_clips=1, precision="auto", duration=0.5,
                    channels=(8, 16, 32)),
}


def get_preset(name: str) -> Preset:
    """Look up a preset by name ("paper", "lab", "smoke")."""
    if name not in PRESETS:
        raise DapError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
