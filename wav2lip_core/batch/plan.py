"""What a batch run will do with each row, decided before any work: run it, skip it (the journal says its output
is already there and up to date), or fail it at once (its options or files cannot work), each failure with its
one-line reason."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..cli.checks import check_inputs
from .journal import Journal, output_key, row_fingerprint
from .manifest import Manifest, RowError, row_arguments
from .report import one_line

RUN, SKIP, FAILED, DONE = "run", "skipped", "failed", "done"


@dataclass
class Job:
    number: int                             # the manifest's row number
    args: argparse.Namespace | None         # the row's options (None when they cannot be parsed)
    status: str = RUN                       # RUN, then DONE or FAILED; or SKIP
    reason: str = ""                        # why it failed
    fingerprint: dict = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    attempts: int = 0
    written_outfile: str = ""               # the outfile cell as written, for rows whose options do not parse

    @property
    def outfile(self) -> str:
        return self.written_outfile if self.args is None else self.args.outfile

    def fail(self, reason: str) -> None:
        self.status, self.reason = FAILED, reason


def _same_files(paths: Sequence[str]) -> set[str]:
    return {str(Path(path).expanduser().resolve()) for path in paths}


def plan_jobs(manifest: Manifest, common: Sequence[str], journal: Journal, force: bool) -> list[Job]:
    """One Job per row: RUN, SKIP (when not ``force`` and its journal record matches) or FAILED with the reason
    (its options do not parse, an input is missing, its output is another row's output or input)."""
    jobs = []
    for row in manifest.rows:
        try:
            jobs.append(Job(row.number, row_arguments(row, common, manifest.folder)))
        except RowError as error:
            jobs.append(Job(row.number, None, FAILED, str(error), written_outfile=str(row.cells.get("outfile", ""))))
    parsed = [job for job in jobs if job.args is not None]
    inputs = _same_files([path for job in parsed for path in (job.args.face, job.args.audio)])
    writers: dict[str, int] = {}
    for job in parsed:
        key = output_key(job.args)
        if key in writers:
            job.fail(f"outfile {job.outfile} is also row {writers[key]}'s outfile: each row needs its own")
            continue
        writers[key] = job.number
        if key in inputs:
            job.fail(f"outfile {job.outfile} is an input of a row in this manifest; the batch never replaces an input")
            continue
        try:
            check_inputs(job.args)
            job.fingerprint = row_fingerprint(job.args)
        except (ValueError, OSError) as error:
            job.fail(one_line(error))
            continue
        if not force and journal.finished(job.args, job.fingerprint):
            job.status = SKIP
    return jobs
