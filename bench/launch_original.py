"""The original inference.py as the benchmarks run it: ``python bench/launch_original.py ORIGINAL-ARGS...``.

Runs /work/orig/run_original.py's ``inference`` mode (its library patches, its working directory) unchanged,
except, when ``WAV2LIP_BENCH_S3FD=PATH`` is set, the S3FD weights file the original's face detector loads by
default is PATH (the same random weights our side uses, so both detectors see the same candidate boxes).
Nothing of the original is copied here; ``WAV2LIP_ORIGINAL_DIR`` says where it is (default /work/orig).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ORIGINAL_DIR = Path(os.environ.get("WAV2LIP_ORIGINAL_DIR", "/work/orig"))


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ORIGINAL_DIR))
    import run_original

    inference = run_original.import_inference(argv)
    s3fd_path = os.environ.get("WAV2LIP_BENCH_S3FD")
    if s3fd_path:
        from face_detection.detection.sfd import sfd_detector

        defaults = sfd_detector.SFDDetector.__init__.__defaults__   # (path_to_detector, verbose)
        sfd_detector.SFDDetector.__init__.__defaults__ = (str(Path(s3fd_path).resolve()), *defaults[1:])
    inference.main()


if __name__ == "__main__":
    main(sys.argv[1:])
