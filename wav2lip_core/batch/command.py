"""``python -m wav2lip_core batch MANIFEST [--force] [--ray [ADDRESS]] [lip-sync options ...]``: many lip-sync
jobs, one per manifest row, with the model loaded once per worker (manifest.py says what a row may hold)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .journal import Journal, journal_path
from .manifest import ManifestError, check_columns, parse_common, read_manifest
from .plan import DONE, FAILED, RUN, SKIP, Job, plan_jobs
from .report import BatchProgress, summary_table
from .worker import RowOutcome, RowWorker

DEFAULT_CPUS_PER_WORKER = 4

EPILOG = """\
The manifest: CSV with a header row, or JSONL (one JSON object per line; name ending in .jsonl). Columns: face,
audio, outfile, and any option of `python -m wav2lip_core` by its name without dashes (blend, silence, pads,
color_match ...). Options after MANIFEST apply to every row; a row's column overrides them for that row. Relative
paths in the manifest are relative to its folder. Example:

  face,audio,outfile,blend
  clips/anna.mp4,speech/anna_fr.wav,out/anna_fr.mp4,
  clips/ben.mp4,speech/ben_fr.wav,out/ben_fr.mp4,mouth

  python -m wav2lip_core batch jobs.csv --checkpoint wav2lip_gan

A journal beside the manifest (MANIFEST.journal.jsonl) records every finished row; running again skips the rows
whose inputs, options and output are unchanged. Exit status: 0 when every row is done, 1 when any row failed,
2 when the manifest or the options cannot be used at all."""


def build_batch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wav2lip_core batch", allow_abbrev=False, epilog=EPILOG,
        usage="%(prog)s MANIFEST [--force] [--ray [ADDRESS]] [lip-sync options ...]",
        description="Run many lip-sync jobs, one per row of a manifest, loading the model once per worker.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path, help="the jobs: a .csv or .jsonl file")
    parser.add_argument("--force", action="store_true",
                        help="run every row again, also those the journal says are done and unchanged")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the rows on a Ray cluster (pip install ray): ADDRESS, else the cluster in "
                             "RAY_ADDRESS, else a new local one. Files are read and written at the manifest's "
                             "paths, so every node must see them (shared storage)")
    parser.add_argument("--workers", type=int, default=None,
                        help="with --ray: at most this many workers (default: one per GPU; on nodes without a "
                             "GPU, one per --cpus_per_worker cores)")
    parser.add_argument("--cpus_per_worker", type=int, default=DEFAULT_CPUS_PER_WORKER,
                        help="with --ray, on nodes without a GPU: cores per worker (default: %(default)s)")
    return parser


Finish = Callable[[Job, RowOutcome], None]


def run_locally(jobs: Sequence[Job], finish: Finish, progress: BatchProgress) -> None:
    """The rows one after another in this process, with one worker (one model)."""
    worker = RowWorker()
    for index, job in enumerate(jobs, 1):
        print(f"row {job.number} ({index}/{len(jobs)}): {job.args.face} + {job.args.audio} -> {job.outfile}",
              file=sys.stderr)
        job.attempts += 1
        finish(job, worker.run_row(job.args, lambda done, total: progress.row_frames(job.number, done, total)))


def _finisher(journal: Journal, progress: BatchProgress) -> Finish:
    def finish(job: Job, outcome: RowOutcome) -> None:
        job.seconds = outcome.seconds
        if outcome.error is None:
            try:
                journal.record_done(job.number, job.args, job.fingerprint, outcome.frames, outcome.seconds)
                job.status, job.frames = DONE, outcome.frames
            except OSError as error:        # the output vanished, or the journal cannot be written
                job.fail(f"finished, but {error}")
        else:
            job.fail(outcome.error)
            journal.record_failed(job.number, job.args, outcome.error)
        if job.status == FAILED:
            print(f"row {job.number} failed: {job.reason}", file=sys.stderr)
        progress.row_finished(job.number, job.status == DONE, job.frames)
    return finish


def _announce(jobs: Sequence[Job], journal: Journal) -> None:
    for job in jobs:
        if job.status == FAILED:
            print(f"row {job.number} cannot run: {job.reason}", file=sys.stderr)
    counts = {status: sum(job.status == status for job in jobs) for status in (RUN, SKIP, FAILED)}
    print(f"{len(jobs)} row(s): {counts[RUN]} to run, {counts[SKIP]} done earlier and unchanged (journal "
          f"{journal.path.name}), {counts[FAILED]} cannot run", file=sys.stderr)


def batch_main(argv: Sequence[str]) -> int:
    """The batch subcommand; returns the exit status (0 all done, 1 some row failed, 2 nothing could start)."""
    parser = build_batch_parser()
    ours, common = parser.parse_known_args(list(argv))
    try:
        manifest = read_manifest(ours.manifest.expanduser())
        check_columns(manifest, parse_common(common))
        if ours.workers is not None and ours.workers < 1 or ours.cpus_per_worker < 1:
            raise ManifestError("--workers and --cpus_per_worker must be at least 1")
        executor = None
        if ours.ray is not None:
            from .ray_pool import RayPool, ray_missing
            if message := ray_missing():
                raise ManifestError(message)
            executor = RayPool(ours.ray or None, ours.workers, ours.cpus_per_worker)
    except ManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    journal = Journal(journal_path(manifest.path))
    jobs = plan_jobs(manifest, common, journal, ours.force)
    for job in jobs:
        if job.status == FAILED and job.args is not None:
            journal.record_failed(job.number, job.args, job.reason)
    _announce(jobs, journal)
    to_run = [job for job in jobs if job.status == RUN]
    progress = BatchProgress(len(to_run))
    finish = _finisher(journal, progress)
    try:
        if executor is not None:
            if to_run:                      # nothing to run: no cluster to connect to
                executor.run(to_run, finish, progress)
        else:
            run_locally(to_run, finish, progress)
    except KeyboardInterrupt:
        print("stopped: the rows not finished run again next time", file=sys.stderr)
        print(summary_table(jobs))
        return 130
    print(summary_table(jobs))
    return 1 if any(job.status == FAILED for job in jobs) else 0
