"""The ``daptools`` command line: restore your own recordings.

    daptools denoise noisy.wav -o restored.wav
    daptools inpaint dropouts.flac -o filled.flac [--gaps 1.20-1.35,4.0-4.2]
    daptools separate mixture.wav -o source1.wav source2.wav
    daptools paper ...    the paper's tables (daptools.experiments)
    daptools bench ...    the speed benchmark (daptools.bench)

Input: anything soundfile (libsndfile) reads, at any sample rate and channel
count. Every channel is restored (each its own problem, the channels of a segment
fitted as one batch; ``--mono`` averages them first, for speed, and writes mono).
The priors work at 16 kHz: each channel is split at 8 kHz with a linear-phase
crossover (:mod:`daptools.bands`), the band below is restored, and the band above
is added back (denoise: shrunk by a Wiener gain from the blind noise estimate;
inpaint: as it is; separate: shared out between the sources), so the output has the
input's channels, rate and length (``inpaint`` keeps the original samples outside
the gaps and only replaces the gaps).

Any length: the recording is cut into overlapping segments (``--segment``,
``--overlap``; see :mod:`daptools.segments`), the segments are fitted as batches of
independent problems (``--batch`` at a time), and the results are joined with
linear cross-fades. One progress bar with an estimate of the remaining time
covers the whole file.

Resumable: every finished segment is kept in a work folder beside the output
(``OUT.daptools-work/`` or ``--work-dir``; see :mod:`daptools.resume`); a run that was
interrupted (Ctrl-C, killed, a restart) and is started again with the same command
and ``--resume`` fits only the missing segments and writes exactly the file the
uninterrupted run would have. The folder is removed once the output is written.

Safety: the input is never written; an existing output is refused without
``--force``; the output is written to a temporary file in the same folder and
renamed, so an interrupted run leaves no half-written file. Nothing is clipped
silently: a result beyond full scale is written as float samples (WAV) or scaled
by one gain (FLAC, OGG, ...), with a warning (``--overload``). Problems with the
input or the options give one line on stderr (``daptools: error: ...``) and exit
status 2, before any fitting.

``--channels`` (e.g. ``8,16,32``) shrinks the U-Nets; it is meant for tests and
experiments (fast, much weaker restoration), not for real use.

This module is the parser and the entry point only: each command is
:func:`daptools.restore.restore_file` (the driver; files: :mod:`daptools.fileio`). Outside
the notebook series (no notebook teaches the command line).
"""
from __future__ import annotations

import argparse
import importlib
import sys

import torch

from . import __version__
from ._checks import DapError
from .fileio import OVERLOAD
from .presets import RUN_PRESETS
from .priors import prior_names
from .restore import DEFAULT_PRESET, MIN_GAP_MS, OUTPUTS, restore_file
from .spectral import HOPS
from .separation import DEFAULT_SEPARATION, SEPARATION_METHODS

PASSTHROUGH = {"paper": "daptools.experiments", "bench": "daptools.bench"}
IO_HELP = ("Reads any file libsndfile reads (WAV, FLAC, OGG, MP3, ...) at any sample rate and channel "
           "count, and writes the same channels at the same rate: every channel is restored (--mono: "
           "averaged into one first, faster); the prior restores the band up to 8 kHz (at 16 kHz) and "
           "the band above is kept (denoise: shrunk by a Wiener gain; inpaint: as it is; separate: shared "
           "out). Long recordings are processed in overlapping segments joined with linear cross-fades.")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse's default prints the usage first)."""

    def error(self, message):
        self.exit(2, f"daptools: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------- parser and entry point


def _channels(text: str) -> tuple:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}; give comma-separated widths, e.g. 8,16,32") from None
    if len(widths) != 3 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"give three positive widths (outer block, middle, bottleneck), "
                                         f"e.g. 8,16,32, got {text!r}")
    return widths


def _add_common(p: argparse.ArgumentParser, n_outputs: int, command: str) -> None:
    p.add_argument("input", help="the recording to restore (never modified)")
    p.add_argument("-o", "--output", nargs=n_outputs, required=True, metavar="OUT",
                   help="output file(s); the format follows the extension (.wav, .flac, .ogg)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (never the input)")
    p.add_argument("--overload", choices=OVERLOAD,
                   help="when the result exceeds full scale and the output's samples cannot hold it: float "
                        "(write 32-bit float samples; the default where the format has them, e.g. WAV), scale "
                        "(one gain for the whole result, peak just below full scale; the default elsewhere, e.g. "
                        "FLAC, OGG) or clip (clip to +-1); a warning always says what was done")
    presets = ", ".join(f"{k} (up to {v.iterations} iterations at lr {v.lr:g}, widths "
                        f"{'/'.join(map(str, v.channels or (35, 70, 140)))}, hop {v.hop})" for k, v in RUN_PRESETS.items())
    fit = p.add_argument_group("fitting")
    fit.add_argument("--prior", default="exp_dense", help=f"the prior: {', '.join(prior_names())} "
                     "(default exp_dense, the paper's)")
    default = DEFAULT_PRESET[command]
    fit.add_argument("--preset", default=default, choices=list(RUN_PRESETS), help=f"run settings: {presets}; "
                     f"default {default}. fast: the lab widths with hop 256, a quarter of the paper's frames "
                     "(the quickest to a good denoising on a CPU); lab: the paper's hop at small widths; "
                     "paper: the paper's full network and 2000 iterations (best quality, use a GPU)")
    fit.add_argument("--iterations", type=int, help="the most Adam steps per segment (default: the preset's); "
                     "with --select auto each segment stops by itself when its output stops improving")
    fit.add_argument("--select", default="auto", choices=("auto", "last", "ema"),
                     help="which iterate to keep: auto (default: a blind rule watches the output, keeps its best "
                          "iterate and ends the fit there), last (run all --iterations, keep the last), ema "
                          "(run all, keep the running average)")
    fit.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                     help="arithmetic: auto (bf16 where the hardware computes it natively) or fp32/bf16 "
                          "(default: the preset's; lab: auto, paper: fp32)")
    fit.add_argument("--device", default="auto", help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, mps")
    fit.add_argument("--seed", type=int, default=0, help="seeds the networks and their inputs (default 0)")
    seg = p.add_argument_group("long recordings")
    seg.add_argument("--segment", type=float, default=2.0, help="segment length in seconds (default 2)")
    seg.add_argument("--overlap", type=float, default=0.25,
                     help="cross-fade between segments in seconds (default 0.25)")
    seg.add_argument("--resume", action="store_true",
                     help="continue an interrupted run: the same command plus --resume fits only the segments "
                          "its work folder lacks and writes what the uninterrupted run would have")
    seg.add_argument("--work-dir", metavar="DIR", help="where finished segments are kept until the output is "
                     "written (default OUTPUT.daptools-work beside the first output; removed after success)")
    seg.add_argument("--batch", type=int, help="segments fitted at once as one batch of independent networks "
                     "(default: on a GPU as many as its free memory holds, at most 16; 1 on the CPU, where "
                     "batching was measured slower); lower it if memory runs out")
    fit.add_argument("--hop", type=int, choices=HOPS,
                     help="spectrogram hop in samples (default: the preset's; fast: 256, lab and paper: 64, the "
                          "paper's); each doubling halves the frames and about halves the time per step")
    adv = p.add_argument_group("for tests and experiments")
    adv.add_argument("--channels", type=_channels, metavar="W1,W2,...",
                     help="U-Net block widths, e.g. 8,16,32 (smaller is faster and weaker; default: the preset's)")
    p.add_argument("--mono", action="store_true",
                   help="average the channels and restore one (about 1/channels of the work; the output is mono)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages, only warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``daptools`` command."""
    parser = _Parser(prog="daptools", description="Restore recordings with deep audio priors. " + IO_HELP)
    parser.add_argument("--version", action="version", version=f"daptools {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cmds = {
        "denoise": "remove noise: daptools denoise IN -o OUT",
        "inpaint": "fill drop-outs: daptools inpaint IN -o OUT [--gaps 1.20-1.35,4.0-4.2]",
        "separate": "split a mixture into two sources: daptools separate IN -o OUT1 OUT2",
    }
    for name, summary in cmds.items():
        p = sub.add_parser(name, help=summary, description=f"{summary}. {IO_HELP}")
        _add_common(p, OUTPUTS[name], name)
    for name in ("denoise", "inpaint"):
        sub.choices[name].add_argument(
            "--seeds", type=int, metavar="K", help="fit an ensemble of K networks per segment (seeds --seed, "
            "--seed + 1, ...) as one batch and average their spectrograms: K times the work per segment "
            "(default: one network)")
    sub.choices["separate"].add_argument(
        "--method", choices=SEPARATION_METHODS, default=DEFAULT_SEPARATION,
        help=f"separation model (default {DEFAULT_SEPARATION}): hp (a mask prior shares out the mixture between a "
             "sustained and a percussive source; chosen by measurement, docs/separation.md), dap (Tian et al.'s "
             "Deep Audio Prior recipe) or masks (two complex source priors and a mask prior)")
    ip = sub.choices["inpaint"]
    ip.add_argument("--gaps", metavar="START-END,...",
                    help="the gaps in seconds, e.g. 1.20-1.35,4.0-4.2 (default: find runs of digital silence)")
    ip.add_argument("--min-gap", type=float, default=MIN_GAP_MS, metavar="MS",
                    help=f"shortest run of digital silence taken as a gap, in ms (default {MIN_GAP_MS:g})")
    sub.add_parser("paper", help="the paper's tables (daptools paper --help)", add_help=False)
    sub.add_parser("bench", help="the speed benchmark (daptools bench --help)", add_help=False)
    return parser


def _passthrough(command: str, argv: list) -> int:
    """``daptools paper|bench ...``: hand the rest of the line to that module's ``main``."""
    module = PASSTHROUGH[command]
    try:
        entry = importlib.import_module(module).main
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise DapError(f"'daptools {command}' is not available in this version ({module} is missing)") from exc
    except AttributeError as exc:
        raise DapError(f"'daptools {command}' is not available: {module} has no main()") from exc
    rc = entry(argv)
    return 0 if rc is None else int(rc)


def _fail(message: str) -> int:
    print(f"daptools: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _restore(args) -> int:
    """``daptools denoise|inpaint|separate``: the parsed options are :func:`restore_file`'s arguments."""
    options = {k: v for k, v in vars(args).items() if k not in ("command", "input", "output")}
    restore_file(args.command, args.input, args.output, **options)
    return 0


def main(argv=None) -> int:
    """Run the command line.

    Args:
        argv (list[str] | None): the arguments (default ``sys.argv[1:]``).

    Returns:
        int: exit status: 0 done, 2 bad input or options (one line on stderr), 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in PASSTHROUGH:
            return _passthrough(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _fail("choose a command: denoise, inpaint, separate, paper or bench (see 'daptools --help')")
        return _restore(args)
    except DapError as exc:
        return _fail(str(exc))
    except getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError):
        return _fail("out of memory while fitting; lower --batch (e.g. --batch 1) or --segment, or use --device cpu")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt as exc:
        work = getattr(exc, "work", None)  # restore_file's Interrupted: the finished segments it kept
        kept = "" if work is None else (f"; {work.count()} finished segment(s) kept in {work.path}: run the same "
                                        "command with --resume to continue")
        print(f"daptools: interrupted; no output was written{kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
