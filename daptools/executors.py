"""Where the fits of an experiment run: one after the other in this process, or as Ray tasks
(outside the notebook series).

The runner (:func:`daptools.experiments.run_table`) cuts a table into *jobs*, one per
prior x batch of clips, and hands them to an executor; the executor runs them and gives back
each job's rows as the job finishes, and the runner appends them to ``rows.jsonl``. The ledger
stays the single source of truth: only the driver writes it, a job's rows reach it only when
the whole job has finished, so the rows of a job whose worker was killed are missing and the
next run with the same ``--out`` does them (and nothing else).

    python -m daptools.experiments table1 --executor ray                  # a local Ray cluster
    python -m daptools.experiments table1 --executor ray --address auto   # a running cluster

Ray is optional (``pip install "daptools[cluster]"``) and imported only here, only when asked for.
A driver killed hard (SIGKILL) can leave agents of the local cluster it started: ``ray stop`` ends them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from ._checks import DapError

EXECUTORS = ("serial", "ray")
INSTALL_RAY = 'pip install "daptools[cluster]"'


@dataclass(frozen=True)
class Job:
    """One unit of work: ``fn(*args)`` returns ``size`` rows (dicts).

    Attributes:
        fn (callable): a module-level function (Ray ships it to the workers by name).
        args (tuple): its arguments (picklable).
        size (int): the rows it returns.
        label (str): what it is, for messages ("exp_dense digits x8").
    """
    fn: Callable
    args: tuple
    size: int
    label: str


class SerialExecutor:
    """Every job in this process, in order (the default; what the runner always did)."""
    name = "serial"

    def locate(self, fn: Callable, *args):
        """Run ``fn(*args)`` where the fits will run (here) and return its result.

        Args:
            fn (callable): a small function, e.g. one that resolves the device and reads its free memory.

        Returns:
            what ``fn`` returns.
        """
        return fn(*args)

    def run(self, jobs: list[Job], gpu: bool = False) -> Iterator[tuple[Job, list]]:
        """Run the jobs one after the other; a failing job stops the run (its error is raised).

        Args:
            jobs (list[Job]): what to run.
            gpu (bool): unused here (the job's own device argument decides).

        Returns:
            iterator of (job, rows), in the order of ``jobs``; a job runs only when asked for its rows.
        """
        for job in jobs:
            yield job, job.fn(*job.args)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RayExecutor(SerialExecutor):
    """Every job as a Ray task: a local cluster by default, or the one at ``address``.

    Args:
        address (str | None): a running cluster ("auto", "ray://host:10001", ...); None starts a
            local one on this machine (or joins the one Ray is already connected to).
        cpus_per_task (float): CPUs each task reserves (the torch threads of a CPU fit).
        gpus_per_task (float): GPUs each task reserves when the fits run on CUDA (1: one batch
            per card, the batch size filling its memory).
        max_retries (int): times Ray reruns a task whose worker died; after that its rows are
            left for the next run.
        num_cpus (int | None): CPUs of a local cluster (default: all of this machine's).
    """
    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 1,
                 max_retries: int = 1, num_cpus: int | None = None):
        if cpus_per_task <= 0 or gpus_per_task <= 0:
            raise DapError(f"--cpus-per-task and gpus per task must be > 0, got {cpus_per_task}, {gpus_per_task}")
        self.ray = import_ray()
        self.cpus, self.gpus, self.retries = cpus_per_task, gpus_per_task, max_retries
        self.owned = not self.ray.is_initialized()
        if self.owned:
            try:
                self.ray.init(address=address, num_cpus=num_cpus, runtime_env=_code_env(),
                              configure_logging=False, log_to_driver=True)
            except ConnectionError as exc:
                raise DapError(f"cannot reach the Ray cluster at {address!r} ({exc}); start it with "
                               f"'ray start --head' or drop --address for a local one") from exc

    def _cluster_gpus(self) -> float:
        return float(self.ray.cluster_resources().get("GPU", 0))

    def locate(self, fn: Callable, *args):
        """Run ``fn(*args)`` as one task on a worker like those the jobs will get (with a GPU
        when the cluster has any), so that the device and its free memory are the workers'."""
        gpus = self.gpus if self._cluster_gpus() else 0
        task = self.ray.remote(num_cpus=self.cpus, num_gpus=gpus, max_retries=self.retries)(fn)
        return self._get(task.remote(*args))

    def run(self, jobs: list[Job], gpu: bool = False) -> Iterator[tuple[Job, list]]:
        """Submit every job at once; yield each one's rows as it finishes.

        A job that fails (an error in the fit, or its worker killed more than ``max_retries``
        times) does not stop the others; once they are done, a DapError names the failed jobs.

        Args:
            jobs (list[Job]): what to run.
            gpu (bool): reserve ``gpus_per_task`` GPUs per task (the fits run on CUDA).

        Returns:
            iterator of (job, rows) in the order the jobs finish.
        """
        if gpu and not self._cluster_gpus():
            raise DapError("the fits run on CUDA but the Ray cluster has no GPU; use --device cpu or a GPU cluster")
        task = self.ray.remote(num_cpus=self.cpus, num_gpus=self.gpus if gpu else 0,
                               max_retries=self.retries)(_call)
        pending = {task.remote(job.fn, *job.args): job for job in jobs}
        failed = []
        try:
            while pending:
                (ref,), _ = self.ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                try:
                    rows = self._get(ref)
                except Exception as exc:  # noqa: BLE001 -- any failure of one task: keep the others going
                    failed.append(f"{job.label}: {str(exc).strip().splitlines()[-1][:200]}")
                    continue
                yield job, rows
        finally:
            for ref in pending:  # the driver stopped early (Ctrl-C, max rows): do not leave work behind
                self.ray.cancel(ref, force=True)
        if failed:
            raise DapError(f"{len(failed)} of {len(jobs)} Ray tasks failed (first: {failed[0]}); their rows are "
                           f"not in rows.jsonl: rerun the same command to redo them")

    def _get(self, ref):
        """``ray.get``, with a DapError raised in a task re-raised as itself (one clear line)."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, DapError):
                raise DapError(str(exc.cause)) from None
            raise

    def close(self) -> None:
        """Shut down the local cluster this executor started (a cluster it joined stays up)."""
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()


def _call(fn, *args):
    return fn(*args)


def _code_env() -> dict:
    """Ship this process's daptools to the workers, so that they run the same code as the driver
    (not another installed copy, and on a remote cluster, not none)."""
    from pathlib import Path

    import daptools
    return {"py_modules": [str(Path(daptools.__file__).parent)], "excludes": ["__pycache__"]}


def import_ray():
    """The ``ray`` module, or a DapError that says how to install it.

    Returns:
        module: ``ray``.
    """
    try:
        import ray
    except ImportError as exc:
        raise DapError(f"--executor ray needs Ray, which is not installed: {INSTALL_RAY}") from exc
    return ray


def make_executor(name: str = "serial", address: str | None = None, cpus_per_task: float = 1) -> SerialExecutor:
    """The executor called ``name``.

    Args:
        name (str): "serial" or "ray".
        address (str | None): Ray only: the cluster to join (None: a local one).
        cpus_per_task (float): Ray only: CPUs each task reserves.

    Returns:
        SerialExecutor | RayExecutor: use it as a context manager (a local Ray cluster is shut down on exit).
    """
    if name == "serial":
        if address is not None:
            raise DapError("--address is the Ray cluster to use: give it with --executor ray")
        return SerialExecutor()
    if name == "ray":
        return RayExecutor(address=address, cpus_per_task=cpus_per_task)
    raise DapError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
