"""Pictures, players and tables for the notebooks (introduced in notebook 01, used by all).

* :func:`specshow`, :func:`waveshow`, :func:`compare_spectrograms`: dB magnitude
  spectrograms and waveforms with time / frequency axes (matplotlib only).
* :func:`audio_player_table`: an HTML table of audio players (as FMP's
  ``audio_player_list``); the audio is embedded as 16-bit WAV, so keep clips short.
* :class:`LiveCurve`: a ``callback`` for :func:`daptools.fit` that redraws the loss
  (and SNR) curve in place in Jupyter and only records elsewhere.
* :func:`metrics_table`: a small table that renders as HTML in Jupyter and as text
  elsewhere (the project does not depend on pandas).
* :func:`record` / :func:`load_record`: a notebook's key metrics as JSON, read back by
  the notebook tests (tests/test_notebooks.py).
* :class:`DenoiseExplorer`: an ipywidgets explorer (notebook 06); it fits only when
  its button is clicked.

matplotlib is imported inside the functions so ``import daptools`` stays light.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import torch

from ._checks import DapError, as_waveform
from .spectral import HOP, N_FFT, SAMPLE_RATE, magnitude, to_spectrogram


# ---------------------------------------------------------------- spectrograms and waveforms

def _magnitude(x, n_fft: int, hop: int) -> np.ndarray:
    """Waveform, (B, 2, F, T) / (2, F, T) real-imaginary, complex (F, T) or magnitude (F, T) -> |S|."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    x = x.detach().cpu()
    if x.is_complex():
        return x.reshape(x.shape[-2:]).abs().numpy() if x.ndim in (2, 3) else _shape_error(x)
    if x.ndim == 1 or (x.ndim == 2 and 1 in x.shape):
        return magnitude(to_spectrogram(as_waveform(x), n_fft, hop))[0].numpy()
    if x.ndim == 3 and x.shape[0] == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[1] == 2:
        return magnitude(x[:1])[0].numpy()
    if x.ndim == 2 and x.shape[0] == n_fft // 2 + 1:
        return x.float().abs().numpy()
    return _shape_error(x)


def _shape_error(x):
    raise DapError(f"cannot show shape {tuple(x.shape)}: give a waveform (samples,), a spectrogram "
                   "(batch, 2, freq, frames) or a magnitude (freq, frames)")


def to_db(mag: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Magnitude -> 20*log10(|S|) in dB (``floor`` avoids log of zero)."""
    return 20 * np.log10(np.maximum(np.asarray(mag, dtype=np.float64), floor))


def specshow(spec_or_wav, ax=None, sr: int = SAMPLE_RATE, hop: int = HOP, n_fft: int = N_FFT,
             db_range: float = 80.0, vmax_db: float | None = None, title: str | None = None,
             cmap: str = "magma", colorbar: bool = False, max_khz: float | None = None):
    """Show a spectrogram's magnitude in dB with time (s) and frequency (kHz) axes.

    Args:
        spec_or_wav: a waveform (samples,), a real/imaginary spectrogram (batch, 2, F, T) or
            (2, F, T) (the first item is shown), a complex (F, T) STFT or a magnitude (F, T).
        ax (matplotlib Axes | None): where to draw (default: a new figure).
        sr (int), hop (int), n_fft (int): the STFT settings (defaults: the package's).
        db_range (float): dynamic range shown below the maximum (default 80 dB).
        vmax_db (float | None): top of the colour scale; pass the same value to several
            plots to compare them on one scale (default: this plot's maximum).
        title (str | None): axes title.
        cmap (str): matplotlib colour map (default "magma").
        colorbar (bool): add a colour bar in dB.
        max_khz (float | None): upper frequency limit of the plot in kHz.

    Returns:
        matplotlib AxesImage (its ``.axes`` is the Axes).
    """
    import matplotlib.pyplot as plt

    db = to_db(_magnitude(spec_or_wav, n_fft, hop))
    top = float(db.max()) if vmax_db is None else float(vmax_db)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    frames = db.shape[1]
    im = ax.imshow(db, origin="lower", aspect="auto", cmap=cmap, vmin=top - db_range, vmax=top,
                   extent=(0, frames * hop / sr, 0, sr / 2000), interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    if max_khz is not None:
        ax.set_ylim(0, max_khz)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="dB")
    return im


def waveshow(wav, ax=None, sr: int = SAMPLE_RATE, title: str | None = None, **plot_options):
    """Plot a waveform against time in seconds.

    Args:
        wav (Tensor | ndarray): mono waveform (samples,).
        ax (matplotlib Axes | None): where to draw (default: a new figure).
        sr (int): sample rate (default 16000).
        title (str | None): axes title.
        **plot_options: passed to ``ax.plot`` (color, alpha, label, linewidth...).

    Returns:
        matplotlib Axes
    """
    import matplotlib.pyplot as plt

    x = as_waveform(wav).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2))
    plot_options.setdefault("linewidth", 0.6)
    ax.plot(np.arange(x.size) / sr, x, **plot_options)
    ax.set_xlim(0, x.size / sr)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    if title:
        ax.set_title(title)
    return ax


def compare_spectrograms(wavs: dict, sr: int = SAMPLE_RATE, db_range: float = 80.0, ncols: int | None = None,
                         waveforms: bool = False, shared_scale: bool = True, width: float = 3.6,
                         max_khz: float | None = None):
    """Spectrograms (and optionally waveforms) of several clips side by side, on one dB scale.

    Args:
        wavs (dict[str, Tensor]): title -> waveform (or anything :func:`specshow` accepts).
        sr (int): sample rate (default 16000).
        db_range (float): dynamic range in dB (default 80).
        ncols (int | None): panels per row (default: all in one row, at most 4).
        waveforms (bool): add each clip's waveform under its spectrogram.
        shared_scale (bool): one colour scale for all panels (default True), so a quieter
            or cleaner output looks quieter or cleaner.
        width (float): inches per panel.
        max_khz (float | None): upper frequency limit in kHz.

    Returns:
        matplotlib Figure
    """
    import matplotlib.pyplot as plt

    if not wavs:
        raise DapError("compare_spectrograms needs at least one clip")
    mags = {k: _magnitude(v, N_FFT, HOP) for k, v in wavs.items()}
    top = max(float(to_db(m).max()) for m in mags.values()) if shared_scale else None
    n = len(mags)
    ncols = ncols or min(n, 4)
    nrows = math.ceil(n / ncols)
    rows_per = 2 if waveforms else 1
    fig, axes = plt.subplots(nrows * rows_per, ncols, figsize=(width * ncols, (2.6 + 1.4 * waveforms) * nrows),
                             squeeze=False, gridspec_kw={"height_ratios": [3, 1.4] * nrows if waveforms else None})
    for i, (name, mag) in enumerate(mags.items()):
        r, c = divmod(i, ncols)
        specshow(mag, ax=axes[r * rows_per, c], sr=sr, db_range=db_range, vmax_db=top, title=name, max_khz=max_khz)
        if waveforms:
            src = wavs[name]
            if isinstance(src, (torch.Tensor, np.ndarray)) and np.ndim(src) == 1:
                waveshow(src, ax=axes[r * rows_per + 1, c], sr=sr)
    for j in range(n, nrows * ncols):  # hide unused panels of the last row
        r, c = divmod(j, ncols)
        for k in range(rows_per):
            axes[r * rows_per + k, c].axis("off")
    fig.tight_layout()
    return fig


def plot_history(results: dict, key: str = "loss", ax=None, logy: bool | None = None, relative_to=None):
    """Curves of several fits on one axes: loss or monitored score against iterations.

    Args:
        results (dict[str, FitResult]): label -> result of :func:`daptools.fit` (or its ``history``).
        key (str): "loss" (per iteration) or "score" (monitored SNR against the reference).
        ax (matplotlib Axes | None): where to draw.
        logy (bool | None): log y axis (default: True for loss).
        relative_to (dict[str, float] | None): label -> divisor (e.g. the target's power), to
            compare losses of different targets.

    Returns:
        matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    for label, res in results.items():
        hist = res if isinstance(res, dict) else res.history
        if key not in hist:
            raise DapError(f"{label!r} has no {key!r} history; monitor with a reference to get scores")
        y = np.asarray(hist[key], dtype=float)
        x = hist["iteration"] if key == "loss" else hist["monitor_iteration"]
        y = y / relative_to[label] if relative_to else y
        ax.plot(x, y.reshape(len(x), -1)[:, 0], label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss" if key == "loss" else "SNR (dB)")
    if logy if logy is not None else key == "loss":
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax


# ---------------------------------------------------------------- players and tables

class HTML:
    """A piece of HTML that Jupyter renders (``_repr_html_``) and a console prints as text."""

    def __init__(self, data: str, text: str = ""):
        self.data = data
        self.text = text or re.sub(r"<[^>]+>", " ", data)

    def _repr_html_(self) -> str:
        return self.data

    def __repr__(self) -> str:
        return self.text


def wav_bytes(wav, sr: int = SAMPLE_RATE) -> bytes:
    """A mono waveform in [-1, 1] as the bytes of a 16-bit PCM WAV file."""
    x = np.clip(as_waveform(wav).numpy(), -1.0, 1.0)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(np.round(x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _player(wav, sr: int, scale: float) -> str:
    data = base64.b64encode(wav_bytes(as_waveform(wav) * scale, sr)).decode("ascii")
    return f'<audio controls preload="none" style="width:190px" src="data:audio/wav;base64,{data}"></audio>'


def _rows(items) -> list[tuple[str, dict]]:
    """dict label->wav (one row), dict row->dict or list of dicts -> [(row label, {col: wav})]."""
    if isinstance(items, dict) and items and all(isinstance(v, dict) for v in items.values()):
        return [(str(k), v) for k, v in items.items()]
    if isinstance(items, dict):
        return [("", items)]
    if isinstance(items, (list, tuple)) and items and all(isinstance(v, dict) for v in items):
        return [("", v) for v in items]
    raise DapError("audio_player_table takes a dict {label: waveform}, a dict {row: {label: waveform}} "
                   "or a list of such dicts")


def audio_player_table(items, sr: int = SAMPLE_RATE, max_seconds: float = 6.0, caption: str | None = None) -> HTML:
    """An HTML table of audio players, one column per label (FMP's ``audio_player_list`` style).

    All clips share one gain so their loudness can be compared: nothing is normalised
    unless some clip exceeds [-1, 1], and then the whole table is scaled down together.

    Args:
        items: {label: waveform} (one row), {row label: {label: waveform}} or a list of
            {label: waveform} rows. A ``None`` waveform leaves an empty cell.
        sr (int): sample rate of the waveforms (default 16000).
        max_seconds (float): clips are cut to this length to keep the notebook small
            (16 kHz 16-bit audio costs about 43 kB per second once embedded).
        caption (str | None): a caption above the table.

    Returns:
        HTML: displays as the table in Jupyter.
    """
    rows = _rows(items)
    keep = int(max_seconds * sr)
    cut = {(r, c): as_waveform(w)[:keep] for r, (_, row) in enumerate(rows) for c, w in row.items() if w is not None}
    peak = max((float(w.abs().max()) for w in cut.values()), default=1.0)
    scale = 1.0 / peak if peak > 1.0 else 1.0
    cols = list(dict.fromkeys(c for _, row in rows for c in row))
    labelled = any(label for label, _ in rows)
    head = ("<th></th>" if labelled else "") + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for r, (label, _) in enumerate(rows):
        cells = "".join(f"<td>{_player(cut[(r, c)], sr, scale) if (r, c) in cut else ''}</td>" for c in cols)
        body.append("<tr>" + (f"<th>{html.escape(label)}</th>" if labelled else "") + cells + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    note = f"<br><small>all players scaled by {scale:.2f} to stay within [-1, 1]</small>" if scale < 1 else ""
    text = f"audio players: {len(rows)} row(s) x {len(cols)} column(s): {', '.join(map(str, cols))}"
    return HTML(f"<table>{cap}<tr>{head}</tr>{''.join(body)}</table>{note}", text)


def _fmt(value, digits: int) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)) and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "n/a" if not math.isfinite(value) else f"{float(value):.{digits}f}"
    return "" if value is None else str(value)


class Table(HTML):
    """A small table (see :func:`metrics_table`); ``.rows`` keeps the raw values."""

    def __init__(self, columns: list, rows: list, digits: int, caption: str | None):
        self.columns, self.rows, self.caption = columns, rows, caption
        self.cells = [[_fmt(r.get(c), digits) for c in columns] for r in rows]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.cells)
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        super().__init__(f"<table>{cap}<tr>{head}</tr>{body}</table>", self._lines(" | ", "-|-"))

    def _lines(self, sep: str, rule: str, edge: str = "") -> str:
        widths = [max([len(str(c))] + [len(row[i]) for row in self.cells]) for i, c in enumerate(self.columns)]
        lines = [sep.join(str(c).ljust(w) for c, w in zip(self.columns, widths)), rule.join("-" * w for w in widths)]
        lines += [sep.join(v.ljust(w) for v, w in zip(row, widths)) for row in self.cells]
        text = "\n".join(edge + line + edge[::-1] for line in lines)
        return (self.caption + "\n" + text) if self.caption and not edge else text

    def to_markdown(self) -> str:
        """The table as GitHub markdown (without the caption)."""
        return self._lines(" | ", "-|-", "| ")


def metrics_table(rows, columns: list | None = None, digits: int = 2, caption: str | None = None,
                  index: str = "") -> Table:
    """A table of results that renders as HTML in Jupyter and as aligned text elsewhere.

    Args:
        rows: a list of dicts (one per row), or a dict {row label: {column: value}} (the
            label goes in a first column named ``index``).
        columns (list | None): column order (default: order of first appearance).
        digits (int): decimals for floats (default 2); NaN shows as "n/a".
        caption (str | None): a caption.
        index (str): name of the label column for the dict form (default "").

    Returns:
        Table: ``.rows`` holds the values, ``.to_markdown()`` the markdown text.
    """
    if isinstance(rows, dict):
        rows = [{index: label, **values} for label, values in rows.items()]
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise DapError("metrics_table takes a list of dicts or a dict {row label: {column: value}}")
    columns = list(columns or dict.fromkeys(c for r in rows for c in r))
    return Table(columns, list(rows), digits, caption)
# ---------------------------------------------------------------- live curve

def in_notebook() -> bool:
    """True inside a Jupyter kernel (where rich output can be displayed and updated)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class LiveCurve:
    """Loss (and monitored SNR) redrawn in place while a fit runs.

    Pass it as ``dap.fit(..., callback=LiveCurve(), every=10)`` (or to any task); it returns
    False, so it never stops the fit. For a hand-written loop call :meth:`add`. Outside a
    Jupyter kernel it only records the values (no drawing, no output).

    Args:
        labels (list[str] | None): one name per problem of a batched fit (legend).
        title (str | None): figure title.
        iterations (int | None): the planned number of iterations (fixes the x axis).
        logy (bool): log scale for the loss (default True).
        show (bool | None): draw (default: only inside a Jupyter kernel).
        figsize (tuple): figure size in inches.

    Attributes:
        iteration (ndarray), loss (ndarray (n, B)), score_iteration (ndarray), score (ndarray (m, B)).
    """

    def __init__(self, labels=None, title: str | None = None, iterations: int | None = None, logy: bool = True,
                 show: bool | None = None, figsize=(9, 2.8)):
        self.labels, self.title, self.total, self.logy, self.figsize = labels, title, iterations, logy, figsize
        self.show = in_notebook() if show is None else bool(show)
        self.iteration = np.zeros(0, dtype=int)
        self.loss = np.zeros((0, 1))
        self.score_iteration = np.zeros(0, dtype=int)
        self.score = np.zeros((0, 1))
        self._handle = None
        self.draw_seconds = 0.0

    def __call__(self, info: dict) -> bool:
        """The :func:`daptools.fit` callback: take the history so far and redraw."""
        loss = np.asarray(info["loss"], dtype=float)
        self.loss = loss.reshape(len(loss), -1)
        self.iteration = np.arange(1, len(loss) + 1)
        if info.get("score") is not None and len(info["score"]):
            self.score = np.asarray(info["score"], dtype=float).reshape(len(info["score"]), -1)
            self.score_iteration = np.asarray(info["score_iteration"])
        self.draw()
        return False

    def add(self, iteration: int, loss, score=None, draw: bool = True) -> None:
        """Append one point (for a hand-written loop); ``loss``/``score`` may be floats or per-problem arrays."""
        row = np.atleast_1d(np.asarray(loss, dtype=float))[None]
        self.loss = row if len(self.iteration) == 0 else np.vstack([self.loss, row])
        self.iteration = np.append(self.iteration, int(iteration))
        if score is not None:
            srow = np.atleast_1d(np.asarray(score, dtype=float))[None]
            self.score = srow if len(self.score_iteration) == 0 else np.vstack([self.score, srow])
            self.score_iteration = np.append(self.score_iteration, int(iteration))
        if draw:
            self.draw()

    def figure(self):
        """The current curves as a matplotlib Figure (not managed by pyplot)."""
        from matplotlib.figure import Figure

        with_score = len(self.score_iteration) > 0
        fig = Figure(figsize=self.figsize)
        axes = fig.subplots(1, 2 if with_score else 1, squeeze=False)[0]
        names = self.labels or ([""] * self.loss.shape[1])
        for b in range(self.loss.shape[1]):
            axes[0].plot(self.iteration, self.loss[:, b], label=names[b] if b < len(names) else str(b))
            if with_score and b < self.score.shape[1]:
                axes[1].plot(self.score_iteration, self.score[:, b], marker=".", label=names[b] if b < len(names) else str(b))
        axes[0].set_ylabel("loss")
        if self.logy and len(self.loss) and np.all(self.loss > 0) and self.loss.max() > 10 * self.loss.min():
            axes[0].set_yscale("log")  # only when the loss spans a decade; else a log axis hides the change
        if with_score:
            axes[1].set_ylabel("SNR vs clean (dB)")
        for ax in axes:
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
            if self.total:
                ax.set_xlim(0, self.total)
            if self.labels:
                ax.legend(fontsize="small")
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        return fig

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    def draw(self) -> None:
        """Redraw in place (first call: display; later calls: update that display)."""
        if not self.show or len(self.iteration) == 0:
            return
        from IPython.display import Image, display

        start = time.perf_counter()
        image = Image(data=self.png(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
        self.draw_seconds += time.perf_counter() - start


# ---------------------------------------------------------------- recorded results

def _jsonable(value):
    """Tensors, arrays and numpy scalars -> plain Python; NaN / inf -> None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _record_path(name: str, results_dir) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)) or str(name).startswith("."):
        raise DapError(f"record name {name!r} must be a plain file name such as '04_plain_unet'")
    return Path(results_dir) / f"{name}.json"


def record(results: dict, name: str, results_dir="results") -> Path:
    """Write a notebook's key metrics as JSON (``<results_dir>/<name>.json``) for the tests.

    Args:
        results (dict): metric name -> value (numbers, strings, lists, nested dicts; tensors
            and numpy values are converted; NaN and infinities become null).
        name (str): the record's name, by convention the notebook's stem ("04_plain_unet").
        results_dir (str | Path): folder (created if missing; default "results").

    Returns:
        Path: the file written (replaced if this notebook recorded before).
    """
    if not isinstance(results, dict):
        raise DapError(f"record takes a dict of metrics, got {type(results).__name__}")
    path = _record_path(name, results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": name, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **_jsonable(results)}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def load_record(name: str, results_dir="results") -> dict:
    """Read what :func:`record` wrote.

    Returns:
        dict: the recorded metrics (plus "notebook" and "recorded_at").
    """
    path = _record_path(name, results_dir)
    if not path.exists():
        raise DapError(f"{path}: no recorded results; run the notebook first")
    return json.loads(path.read_text())


# ---------------------------------------------------------------- interactive explorer

class DenoiseExplorer:
    """Pick a prior, a noise level and a number of iterations; click "fit"; listen and look.

    Building the explorer costs nothing; a fit runs only when the button is clicked (or
    :meth:`run` is called), so a notebook executed by papermill stays fast. Each run adds a
    row to a table so the choices can be compared. Needs ipywidgets.

    Args:
        clean (Tensor): the clean clip (samples,), 16 kHz; Gaussian noise is added to it.
        priors (list[str] | None): prior names offered (default the four of the paper).
        noise_std (float): initial noise standard deviation (the paper: 0.1).
        iterations (int): initial number of iterations; max_iterations (int): slider maximum.
        seed (int): seeds the noise, the weights and z.
        device, precision: as in :func:`daptools.fit`.
        prior_options (dict | None): options for :func:`daptools.build_prior` (e.g. smaller
            ``channels`` for a quick look).

    Attributes:
        widget (ipywidgets.VBox), runs (list[dict]): one row per fit, last (FitResult | None).
    """

    def __init__(self, clean, priors=None, noise_std: float = 0.1, iterations: int = 100,
                 max_iterations: int = 2000, seed: int = 0, device="auto", precision: str = "auto",
                 prior_options: dict | None = None):
        import ipywidgets as W

        from .priors import DESCRIPTIONS

        self.clean = as_waveform(clean, "clean")
        self.seed, self.device, self.precision = seed, device, precision
        self.prior_options = dict(prior_options or {})
        names = list(priors or ["plain", "dilated", "exp", "exp_dense"])
        self.prior = W.Dropdown(options=[(DESCRIPTIONS.get(n, n), n) for n in names], value=names[-1],
                                description="prior")
        self.noise = W.FloatSlider(value=noise_std, min=0.01, max=0.5, step=0.01, description="noise std")
        self.iterations = W.IntSlider(value=iterations, min=1, max=max(max_iterations, iterations), step=1,
                                      description="iterations")
        self.button = W.Button(description="fit", button_style="primary", icon="play")
        self.output = W.Output()
        self.button.on_click(lambda _: self.run())
        self.widget = W.VBox([W.HBox([self.prior, self.noise]), W.HBox([self.iterations, self.button]),
                              self.output])
        self.runs: list[dict] = []
        self.last = None

    def run(self):
        """Fit with the current choices and show curve, spectrograms, players and the run table.

        Returns:
            FitResult
        """
        import matplotlib.pyplot as plt
        from IPython.display import display

        from . import metrics
        from .corruptions import add_gaussian_noise
        from .tasks import denoise

        prior, std, its = self.prior.value, float(self.noise.value), int(self.iterations.value)
        noisy = add_gaussian_noise(self.clean, std=std, seed=self.seed)
        self.button.disabled = True
        try:
            with self.output:
                self.output.clear_output()
                curve = LiveCurve(title=f"{prior}, noise std {std}", iterations=its)
                res = denoise(noisy, prior=prior, iterations=its, seed=self.seed, reference=self.clean,
                              callback=curve, every=max(1, its // 20), device=self.device,
                              precision=self.precision, prior_options=self.prior_options, progress=False)
                self.last = res
                self.runs.append({"prior": prior, "noise std": std, "iterations": its,
                                  "noisy SNR (dB)": metrics.snr(self.clean, noisy),
                                  "output SNR (dB), blind": float(res.scores["auto"][0]),
                                  "last iterate SNR (dB)": float(res.scores["last"][0]),
                                  "best SNR (dB), oracle": float(res.scores["oracle"][0]),
                                  "s/iteration": res.seconds_per_iteration})
                fig = compare_spectrograms({"clean": self.clean, "noisy": noisy, "output": res.audio})
                display(fig)
                plt.close(fig)
                display(audio_player_table({"clean": self.clean, "noisy": noisy, "output (blind)": res.audio}))
                display(metrics_table(self.runs, caption="runs so far (oracle = best iteration, "
                                                         "chosen with the clean clip)"))
        finally:
            self.button.disabled = False
        return res

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------- the priors' architecture (the paper's Fig. 1)

_BLOCK_NAMES = ("start", "down 1", "bottleneck", "up 2", "up 1")


def prior_layout(name: str, **options) -> list[dict]:
    """The blocks of a named prior as :func:`prior_diagram` draws them, read from the built network.

    Args:
        name (str): a prior of ``daptools.PRIOR_CONFIGS`` built by ``build_prior`` (a U-Net: not
            ``harmonic``'s harmonic convolutions, drawn like ``plain``).
        **options: passed to ``build_prior`` (e.g. ``channels=(16, 32, 64)``).

    Returns:
        list[dict]: one dict per block in the order start, down..., bottleneck, up...: ``block``
        (name), ``level`` (0 = full resolution), ``dilations`` (one per 3x3 conv), ``inputs`` (the
        input channels of each conv), ``width`` (filters of each conv), ``dense`` (bool),
        ``features`` (channels of the block's concatenation), ``transition`` (``(features, width)``
        of the 1x1 transition, or None), ``up_conv`` (for up blocks: ``(in, out)`` of the conv after
        the upsampling, else None).
    """
    from .priors import build_prior

    net = build_prior(name, **options)
    depth = len(net.down) - 1
    blocks = [(b, None) for b in net.down] + [(u.block, u.up_conv) for u in net.up]
    names = _BLOCK_NAMES if depth == 2 else [f"block {i}" for i in range(len(blocks))]
    layout = []
    for i, (block, up_conv) in enumerate(blocks):
        convs = [layer[0] for layer in block.layers]
        width = convs[0].out_channels
        layout.append({
            "block": names[i], "level": i if i <= depth else 2 * depth - i,
            "dilations": [int(c.dilation[0]) for c in convs], "inputs": [c.in_channels for c in convs],
            "width": width, "dense": bool(block.dense), "features": block.features,
            "transition": (block.features, width) if block.dense else None,
            "up_conv": None if up_conv is None else (up_conv[0].in_channels, up_conv[0].out_channels)})
    return layout


def _draw_block(ax, x, y, block, cmap):
    """One block: its convs as coloured bars (dilation), dense links as arcs, the 1x1 transition."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    n = len(block["dilations"])
    ax.add_patch(Rectangle((x - 0.42, y - 0.34), 0.84, 0.68, fill=False, ec="0.4", lw=1))
    xs = [x - 0.3 + 0.6 * k / max(1, n - (0 if block["dense"] else 1)) for k in range(n)]
    for k, (xk, d) in enumerate(zip(xs, block["dilations"])):
        ax.add_patch(Rectangle((xk - 0.06, y - 0.22), 0.12, 0.44, color=cmap(min(1.0, math.log2(d) / 5))))
        ax.text(xk, y, f"d{d}", ha="center", va="center", fontsize=6.5, rotation=90,
                color="white" if d >= 8 else "black")
        if block["dense"]:  # every conv sees the block input and all earlier outputs
            for src in [x - 0.42] + xs[:k]:
                ax.add_patch(FancyArrowPatch((src, y + 0.22), (xk, y + 0.22), connectionstyle="arc3,rad=-0.5",
                                             arrowstyle="-", lw=0.7, color="tab:green"))
    if block["dense"]:  # the transition sees the whole concatenation and maps it back to the block's width
        for src in [x - 0.42] + xs:
            ax.add_patch(FancyArrowPatch((src, y - 0.22), (x + 0.31, y - 0.22), connectionstyle="arc3,rad=0.4",
                                         arrowstyle="-", lw=0.5, color="tab:green"))
        ax.add_patch(Rectangle((x + 0.28, y - 0.22), 0.06, 0.44, color="tab:green"))
        ax.text(x + 0.31, y + 0.25, "1×1", ha="center", va="bottom", fontsize=6, color="tab:green")
    label = f"{block['block']}: {block['width']}"
    if block["transition"]:
        label += f" ({block['features']} → {block['width']})"
    ax.text(x, y - 0.4, label, ha="center", va="top", fontsize=7)


def prior_diagram(names=("plain", "dilated", "exp", "exp_dense"), channels=None, ncols: int = 2, width: float = 6.5):
    """The paper's Fig. 1 for the named priors, drawn from the package's own configuration.

    Each panel is one U-Net: blocks at their resolution level (max-pooling down, bilinear
    upsampling up, dashed skip connections), each 3x3 convolution a bar coloured and labelled by
    its dilation, dense connections as green arcs and the 1x1 transition as a green bar. The
    numbers come from :func:`prior_layout`, i.e. from the network ``build_prior`` builds, so the
    picture cannot drift from the code (notebook 06).

    Args:
        names (sequence of str): the priors to draw (default the paper's four).
        channels (tuple[int] | None): widths to build them with; None: the paper's (35, 70, 140).
        ncols (int): panels per row (default 2).
        width (float): inches per panel (default 6.5).

    Returns:
        matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    from .priors import DESCRIPTIONS

    names = list(names)
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 2.9 * nrows), squeeze=False)
    cmap = plt.get_cmap("viridis_r")
    for ax, name in zip(axes.flat, names):
        layout = prior_layout(name, **({} if channels is None else {"channels": tuple(channels)}))
        pos = [(1.1 * i, -0.95 * b["level"]) for i, b in enumerate(layout)]
        for (x0, y0), (x1, y1) in zip(pos, pos[1:]):
            style = "down: max-pool" if y1 < y0 else "up: bilinear + conv"
            ax.add_patch(FancyArrowPatch((x0 + 0.3, y0 - 0.2 if y1 < y0 else y0 + 0.2),
                                         (x1 - 0.3, y1 + 0.2 if y1 < y0 else y1 - 0.2),
                                         arrowstyle="-|>", mutation_scale=9, color="0.3", lw=1, label=style))
        depth = len(layout) // 2
        for i in range(depth):  # skip connections: down block i -> up block at the same level
            j = len(layout) - 1 - i
            ax.add_patch(FancyArrowPatch((pos[i][0] + 0.42, pos[i][1]), (pos[j][0] - 0.42, pos[j][1]),
                                         arrowstyle="-|>", mutation_scale=8, ls="--", color="tab:blue", lw=0.8))
        for (x, y), block in zip(pos, layout):
            _draw_block(ax, x, y, block, cmap)
        ax.set(xlim=(-0.6, 1.1 * (len(layout) - 1) + 0.6), ylim=(-0.95 * depth - 0.65, 0.5), xticks=[], yticks=[])
        ax.set_title(f"{name}: {DESCRIPTIONS.get(name, name)}", fontsize=9)
        for side in ax.spines.values():
            side.set_visible(False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    legend = ("bars: 3×3 convolutions labelled with their dilation d (colour: log2 d); green arcs: dense "
              "connections; green bar: 1×1 transition; dashed blue: skip connections; numbers: filters per conv "
              "(dense: channels of the concatenation → after the transition)")
    fig.text(0.5, 0.005, textwrap.fill(legend, int(18 * width * ncols)), ha="center", va="bottom", fontsize=7.5)
    fig.tight_layout(rect=(0, min(0.08, 0.4 / fig.get_size_inches()[1]), 1, 1))  # room for the legend
    return fig
