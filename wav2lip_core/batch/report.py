"""What a batch run tells its user: a failure's one-line reason, one progress line for the whole batch (rows,
frames, ETA) and the summary table at the end."""
from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

PROGRESS_EVERY_S = 5.0      # at most one progress line this often while frames come in (each row's end always)


def one_line(error: BaseException) -> str:
    """An error as one line: the command line's message (its lines joined), with the error's kind for anything
    that is not one of the job's own errors (those the command line reports as ``error: ...``)."""
    from ..checkpoints import CheckpointError
    from ..detection import FaceDetectionError

    text = ""
    for line in (line.strip() for line in str(error).splitlines()):
        if line:        # a list's lines ("- x") follow their heading ("...:") as "...: x; y"
            text += ("" if not text else " " if text.endswith(":") else "; ") + line.removeprefix("- ")
    text = text or type(error).__name__
    if isinstance(error, (CheckpointError, FaceDetectionError, ValueError, OSError, RuntimeError)):
        return text
    return f"{type(error).__name__}: {text}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class BatchProgress:
    """Rows done / failed, frames written, and the time left, on one line to ``stream``.

    The time left is frames to go / frames per second so far; the frames of rows not started yet are estimated
    as the mean of the rows whose length is known (a row's length is known once it starts)."""

    def __init__(self, rows: int, stream: TextIO | None = None) -> None:
        self.rows, self.stream = rows, stream     # None: sys.stderr as it is when a line is shown
        self.done = self.failed = 0
        self.frames: dict[int, tuple[int, int]] = {}     # row -> (frames written, frames in all)
        self.started = time.perf_counter()
        self._last_line = 0.0

    def row_frames(self, row: int, done: int, total: int) -> None:
        self.frames[row] = (done, total)
        if time.perf_counter() - self._last_line >= PROGRESS_EVERY_S:
            self.show()

    def row_restarted(self, row: int) -> None:
        """The row runs again from its first frame (its worker was lost): the frames it had written count no more."""
        if row in self.frames:
            self.frames[row] = (0, self.frames[row][1])

    def row_finished(self, row: int, ok: bool, frames: int) -> None:
        self.done += ok
        self.failed += not ok
        total = self.frames.get(row, (0, frames))[1] if ok else frames
        self.frames[row] = (frames, max(frames, total)) if ok else (frames, frames)
        self.show()

    def line(self) -> str:
        written = sum(done for done, _ in self.frames.values())
        known = [total for total in (t for _, t in self.frames.values()) if total]
        not_started = self.rows - len(self.frames)
        expected = sum(known) + (sum(known) / len(known) * not_started if known else 0)
        elapsed = time.perf_counter() - self.started
        rate = written / elapsed if elapsed > 0 else 0.0
        eta = _duration((expected - written) / rate) if rate > 0 and known else "?"
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"batch: rows {self.done + self.failed}/{self.rows}{failed} | frames {written}/"
                f"{'~' if not_started else ''}{int(expected)} | {rate:.1f} frames/s | ETA {eta}")

    def show(self) -> None:
        self._last_line = time.perf_counter()
        print(self.line(), file=self.stream or sys.stderr, flush=True)


def summary_table(jobs: Sequence) -> str:
    """One line per row (number, status, frames, seconds, output, reason) and a totals line."""
    header = ("row", "status", "frames", "seconds", "outfile / reason")
    lines = [header]
    for job in jobs:
        detail = job.outfile if not job.reason else (f"{job.outfile}: {job.reason}" if job.outfile else job.reason)
        seconds = f"{job.seconds:.1f}" if job.seconds else "-"
        lines.append((str(job.number), job.status, str(job.frames) if job.frames else "-", seconds, detail))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    text = ["  ".join(cell.rjust(width) if i != 1 else cell.ljust(width)
                      for i, (cell, width) in enumerate(zip(line[:4], widths))) + "  " + line[4] for line in lines]
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    text.append(f"{len(jobs)} row(s): " + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())))
    return "\n".join(text)
