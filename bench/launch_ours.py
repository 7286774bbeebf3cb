"""Our CLI as the benchmarks run it: ``python bench/launch_ours.py CLI-ARGS...``.

Same as ``python -m wav2lip_core CLI-ARGS...``, with optional benchmark-only switches from the environment:

* ``WAV2LIP_BENCH_S3FD=PATH`` uses the S3FD weights file PATH (random weights in the real layout: the
  detector's cost does not depend on the weights), instead of looking for / downloading the real one.
* ``WAV2LIP_BENCH_BOXES_FROM=dlib_hog``: S3FD still runs on every frame the tracker asks for (its full cost),
  but the boxes it answers with are dlib_hog's on the same detection copy, since random S3FD weights find no
  face: following a face between key frames then behaves as with a detector that finds the real face. HOG's
  own time is counted too (against us).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wav2lip_core.runtime.startup import after_imports, before_imports, exit_now  # noqa: E402

if __name__ == "__main__":         # start-up as python -m wav2lip_core's
    before_imports()
from wav2lip_core import cli  # noqa: E402
from wav2lip_core.checkpoints import S3FD  # noqa: E402
from wav2lip_core.cli import checks as cli_checks  # noqa: E402


class S3FDCostRealBoxes:
    """Runs S3FD (for its cost) and answers with another detector's boxes (``WAV2LIP_BENCH_BOXES_FROM``)."""

    def __init__(self, s3fd, boxes_from):
        self.s3fd, self.boxes_from = s3fd, boxes_from
        self.name, self.upscales_small_frames = s3fd.name, s3fd.upscales_small_frames
        self.default_detect_size = s3fd.default_detect_size

    @property
    def batch_size(self) -> int:
        return self.s3fd.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self.s3fd.batch_size = value

    def detect(self, batch):
        self.s3fd.detect(batch)
        return self.boxes_from.detect(batch)


def _install_switches() -> None:
    s3fd_path = os.environ.get("WAV2LIP_BENCH_S3FD")
    if s3fd_path:
        fetch = cli_checks.fetch_with_progress      # where the job looks for every model file it needs
        cli_checks.fetch_with_progress = lambda name, architecture, folder, allow_download: (
            Path(s3fd_path) if architecture == S3FD else fetch(name, architecture, folder, allow_download))
        unobtainable = cli_checks.unobtainable      # and, before that, whether each can be had at all
        cli_checks.unobtainable = lambda name, **where: (
            None if where.get("architecture") == S3FD else unobtainable(name, **where))
    boxes_from = os.environ.get("WAV2LIP_BENCH_BOXES_FROM")
    if boxes_from:
        from wav2lip_core.detection import track

        make = track.make_detector

        def make_detector(name, *args, **kwargs):
            detector = make(name, *args, **kwargs)
            return S3FDCostRealBoxes(detector, make(boxes_from)) if name == "s3fd" else detector
        track.make_detector = make_detector
        import wav2lip_core.tracks as tracks           # --reference / --speaker make their detector there

        tracks.make_detector = make_detector


if __name__ == "__main__":
    _install_switches()
    after_imports()
    exit_now(cli.main(sys.argv[1:]))
