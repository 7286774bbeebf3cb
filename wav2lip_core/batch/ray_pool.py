"""The batch on a Ray cluster (``batch MANIFEST --ray [ADDRESS]``). Ray is optional: this is the only module
that imports it, and only the ``--ray`` path imports this module.

Workers are Ray actors, each holding one RowWorker (one loaded model): one per GPU; on nodes without a GPU, one
per ``cpus_per_worker`` cores. The driver (this process) hands each row to a free worker and keeps the journal;
workers read the inputs and write the outputs at the manifest's paths, so every node must see those paths. A worker
lost in the middle of a row (its process or node died) is replaced and the row is given to the next free worker;
its unfinished temporary output is removed, and the output itself is only ever written by one finished row (the
writer moves a complete file into place).

Frames reach the driver's progress line while rows run: each worker reports its row's (frames written, frames in
all) to a small FrameCounts actor, and the driver takes them between waits. Only the current try of a running row
counts, so a row tried again after its worker was lost never counts its frames twice.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from ..video.writing import leftover_partials
from .plan import Job
from .report import BatchProgress, one_line
from .worker import RowOutcome, RowWorker

MAX_ATTEMPTS = 3                # tries of one row whose worker was lost each time
WORKER_START_TIMEOUT_S = 600    # no worker alive and none started for this long: the remaining rows fail
WAIT_TICK_S = 1.0
REPORT_WAIT_S = 5.0             # the longest a frame report may hold up a row's end or the driver's loop
PACK_ROOT = Path(__file__).resolve().parents[2]


def ray_missing() -> str | None:
    """How to get Ray when it is not installed (None when it is)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "--ray needs Ray, which is not installed: pip install ray (the version the cluster runs)"
    return None


def plan_workers(nodes: Sequence[dict], most: int | None, cpus_per_worker: int) -> list[dict]:
    """Ray actor options for the workers on ``nodes`` (ray.nodes()'s records): one worker per GPU, with the
    node's cores shared among them; on a node without a GPU, one worker per ``cpus_per_worker`` cores (at least
    one), the node's cores shared among them. At most ``most`` workers."""
    planned = []
    for node in nodes:
        if not node.get("Alive", True):
            continue
        resources = node.get("Resources", {})
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        count = gpus if gpus else (max(1, cpus // cpus_per_worker) if cpus else 0)
        for _ in range(count):
            planned.append({"node": node["NodeID"], "num_gpus": 1 if gpus else 0, "num_cpus": cpus // count})
    return planned[:most] if most is not None else planned


Attempt = tuple[int, int]     # (row number, try): one run of a row on one worker


class FrameCounts:
    """A Ray actor: the workers' frame reports, in the order they came, until the driver takes them."""

    def __init__(self) -> None:
        self.reports: list[tuple[Attempt, int, int]] = []

    def report(self, attempt: Attempt, done: int, total: int) -> None:
        self.reports.append((attempt, done, total))

    def take(self) -> list[tuple[Attempt, int, int]]:
        reports, self.reports = self.reports, []
        return reports


class BatchWorker:
    """A Ray actor's state: one RowWorker, its model kept between rows."""

    def __init__(self) -> None:
        self.worker = RowWorker()

    def ready(self) -> str:
        return f"{platform.node()} pid {os.getpid()}"

    def run_row(self, args, attempt: Attempt, counts) -> RowOutcome:
        """The row; its frames reported to ``counts`` (a FrameCounts actor) as they are written."""
        import ray

        last: list = []             # the latest report's reference

        def report(done: int, total: int) -> None:
            last[:] = [counts.report.remote(attempt, done, total)]

        outcome = self.worker.run_row(args, report)
        # One caller's calls to an actor run in order: once the last report is in, all are, so the driver, taking
        # the reports when this row's result comes, has them all. A lost FrameCounts costs only the progress line.
        if last:
            ray.wait(last, timeout=REPORT_WAIT_S)
        return outcome


class RayPool:
    def __init__(self, address: str | None, most: int | None, cpus_per_worker: int) -> None:
        self.address, self.most, self.cpus_per_worker = address, most, cpus_per_worker

    def run(self, jobs: Sequence[Job], finish: Callable[[Job, RowOutcome], None], progress: BatchProgress) -> None:
        """Every job on the cluster; ``finish`` is called here, in the driver, as each row ends, and ``progress`` is
        told the rows' frames as they are written."""
        import ray

        # The workers import this package from where the driver has it (the same path on every node, as the
        # manifest's files are), unless the nodes have it installed.
        python_path = os.pathsep.join(filter(None, [str(PACK_ROOT), os.environ.get("PYTHONPATH")]))
        ray.init(address=self.address, runtime_env={"env_vars": {"PYTHONPATH": python_path}},
                 logging_level="WARNING")
        try:
            _Dispatch(ray, jobs, finish, progress, self.most, self.cpus_per_worker).loop()
        finally:
            ray.shutdown()


class _Dispatch:
    """The driver's loop: rows to free workers, results to ``finish``, lost workers replaced and their rows retried."""

    def __init__(self, ray, jobs: Sequence[Job], finish: Callable[[Job, RowOutcome], None], progress: BatchProgress,
                 most: int | None, cpus_per_worker: int) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray, self.finish, self.progress = ray, finish, progress
        self.pending = deque(jobs)
        self.remote = ray.remote(max_restarts=0)(BatchWorker)
        # No cores: it must start even when the workers hold every core; it only keeps a list.
        self.counts = ray.remote(num_cpus=0)(FrameCounts).remote()
        self.idle: list = []
        self.starting: dict = {}        # ready() reference -> actor
        self.running: dict = {}         # run_row() reference -> (actor, job)
        self.plan = plan_workers(ray.nodes(), most, cpus_per_worker)
        if not self.plan:
            raise RuntimeError("the Ray cluster has no node with CPUs or GPUs for a worker")
        self.resources: dict = {}      # actor -> the cores and GPUs it holds (a replacement asks for the same)
        for worker in self.plan:
            strategy = NodeAffinitySchedulingStrategy(worker["node"], soft=True)
            self._start({"num_cpus": worker["num_cpus"], "num_gpus": worker["num_gpus"]}, scheduling_strategy=strategy)
        self.replacements = len(self.plan) * MAX_ATTEMPTS
        self.last_alive = time.monotonic()
        self.start_error = ""
        self.lost_outputs: set[str] = set()      # rows whose worker was lost while writing them
        print(f"ray: {len(self.plan)} worker(s) on {len({w['node'] for w in self.plan})} node(s)", file=sys.stderr)

    def _start(self, resources: dict, **placement) -> None:
        actor = self.remote.options(**resources, **placement).remote()
        self.resources[actor] = resources
        self.starting[actor.ready.remote()] = actor

    def _replace(self, actor) -> None:
        """A worker like ``actor`` (lost) wherever the cluster has room for it (its node may be gone)."""
        resources = self.resources.pop(actor)
        if self.replacements > 0:
            self.replacements -= 1
            self._start(resources)

    def loop(self) -> None:
        self._loop()
        # Once more at the end: the encoder of a worker killed mid-row outlives it and may still have been
        # finishing its temporary file when the first clean-up ran (no row is being written now).
        for outfile in self.lost_outputs:
            self._remove_unfinished(outfile)

    def _loop(self) -> None:
        ray = self.ray
        while self.pending or self.running:
            while self.pending and self.idle:
                actor, job = self.idle.pop(), self.pending.popleft()
                job.attempts += 1
                self.running[actor.run_row.remote(job.args, (job.number, job.attempts), self.counts)] = (actor, job)
            waiting = list(self.running) + list(self.starting)
            if not waiting or (not self.running and not self.idle
                               and time.monotonic() - self.last_alive > WORKER_START_TIMEOUT_S):
                because = f": {self.start_error}" if self.start_error else ""
                self._fail_pending(f"no Ray worker could be started{because}")
                return
            ready, _ = ray.wait(waiting, num_returns=1, timeout=WAIT_TICK_S)
            self._take_frames()         # before a row that ended is collected: its last frames count, not later
            if ready:
                self._collect(ready[0])

    def _take_frames(self) -> None:
        """The frames reported since the last look, to the progress line; reports of a try that is no longer
        running (its worker was lost, or the row ended) are dropped."""
        try:
            reports = self.ray.get(self.counts.take.remote(), timeout=REPORT_WAIT_S)
        except self.ray.exceptions.RayError:        # the counts are only shown: the rows go on without them
            return
        running = {(job.number, job.attempts) for _, job in self.running.values()}
        for attempt, done, total in reports:
            if attempt in running:
                self.progress.row_frames(attempt[0], done, total)

    def _collect(self, reference) -> None:
        ray = self.ray
        if reference in self.starting:
            actor = self.starting.pop(reference)
            try:
                ray.get(reference)
                self.idle.append(actor)
                self.last_alive = time.monotonic()
            except ray.exceptions.RayError as error:       # the worker could not start (or died starting)
                self.start_error = one_line(error)
                self._replace(actor)
            return
        actor, job = self.running.pop(reference)
        try:
            outcome = ray.get(reference)
        except ray.exceptions.RayError as error:
            self._lost(actor, job, error)
            return
        self.idle.append(actor)
        self.last_alive = time.monotonic()
        self.finish(job, outcome)

    def _lost(self, actor, job: Job, error: BaseException) -> None:
        """The worker died in the middle of ``job``: its unfinished output goes, the job is tried again elsewhere."""
        self.ray.kill(actor)                        # a worker cut off but still alive must not finish the row too
        self.lost_outputs.add(job.outfile)
        self._remove_unfinished(job.outfile)
        self.progress.row_restarted(job.number)
        reason = f"the Ray worker was lost ({type(error).__name__})"
        if job.attempts < MAX_ATTEMPTS:
            print(f"row {job.number}: {reason}; trying it again on another worker", file=sys.stderr)
            self.pending.appendleft(job)
        else:
            self.finish(job, RowOutcome(0, 0.0, f"{reason} on each of {job.attempts} tries"))
        self._replace(actor)

    @staticmethod
    def _remove_unfinished(outfile: str) -> None:
        for leftover in leftover_partials(outfile):
            leftover.unlink(missing_ok=True)

    def _fail_pending(self, reason: str) -> None:
        while self.pending:
            self.finish(self.pending.popleft(), RowOutcome(0, 0.0, reason))
