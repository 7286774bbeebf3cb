"""How faces are detected and turned into one box per frame: every option and its default, in one place.

The CLI, ``pipeline.lipsync`` and the Detect Faces node all build a ``DetectionOptions``; their own defaults
are read from ``DEFAULT_DETECTION``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace

SMOOTHING_MODES = ("centered", "original", "none")
MISSING_FACE_POLICIES = ("error", "skip", "nearest")
DETECTORS: tuple[str, ...] = ("s3fd", "dlib_hog", "dlib_cnn")
TRACKING_MODES = ("flow", "interpolate")
AUTO = "auto"   # detect_size: the detector's own default (see its default_detect_size)


def missing_detector_package(detector: str) -> str | None:
    """What to install when ``detector``'s package is missing (None when it is there): checked before any work."""
    if detector == "s3fd" and importlib.util.find_spec("face_alignment") is None:
        return ("the s3fd face detector needs the face-alignment package: run `python install.py` in the pack's "
                "folder (or pip install --no-deps face-alignment)")
    if detector.startswith("dlib") and importlib.util.find_spec("dlib") is None:
        return f"the {detector} face detector needs the dlib package: pip install dlib-bin"
    return None


@dataclass(frozen=True)
class DetectionOptions:
    """detector: a name from DETECTORS.
    pads: (top, bottom, left, right) pixels added around each detected box, then clamped to the frame.
    smoothing: "centered" (no lag), "original" (the original's forward-looking int window, for parity), "none";
        over ``smooth_window`` frames, never across frames without a face.
    detect_size: longest side of the copy the detector sees (AUTO: the detector's default, None: full
        resolution); boxes are mapped back to full-resolution pixels.
    detect_every: run the detector on at least every k-th frame (and the last); 1 = on every frame, as the
        original does (then ``tracking`` plays no part).
    tracking: between detected frames, "flow" follows the face by its optical flow and detects again on a
        shot change, when the flow loses the face or when it moved a lot (detection/keyframes.py);
        "interpolate" detects on exactly every k-th frame and interpolates the boxes in between.
    on_missing: frames without a face: "nearest" borrows the nearest frame's box (within ``max_missing_gap``
        frames if given), "skip" leaves the frame unchanged, "error" stops naming the frame.
    face_index: None = the largest face; k = the k-th face from the left.
    batch_size: frames per detector call (GPUs; halved on out-of-memory).
    """
    detector: str = "s3fd"
    pads: tuple[int, int, int, int] = (0, 10, 0, 0)
    smoothing: str = "centered"
    smooth_window: int = 5
    detect_size: int | None | str = AUTO
    detect_every: int = 10
    on_missing: str = "nearest"
    face_index: int | None = None
    batch_size: int = 16
    max_missing_gap: int | None = None
    tracking: str = "flow"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pads", tuple(int(p) for p in self.pads))
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown face detector {self.detector!r}; choose one of {', '.join(DETECTORS)}")
        if len(self.pads) != 4:
            raise ValueError(f"pads must be (top, bottom, left, right), got {self.pads!r}")
        if self.smoothing not in SMOOTHING_MODES:
            raise ValueError(f"smoothing must be one of {SMOOTHING_MODES}, not {self.smoothing!r}")
        if self.on_missing not in MISSING_FACE_POLICIES:
            raise ValueError(f"on_missing must be one of {MISSING_FACE_POLICIES}, not {self.on_missing!r}")
        if self.tracking not in TRACKING_MODES:
            raise ValueError(f"tracking must be one of {TRACKING_MODES}, not {self.tracking!r}")
        if int(self.detect_every) < 1:
            raise ValueError(f"detect_every must be >= 1, not {self.detect_every}")
        if int(self.smooth_window) < 1:
            raise ValueError(f"smooth_window must be >= 1, not {self.smooth_window}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, not {self.batch_size}")
        if isinstance(self.detect_size, str) and self.detect_size != AUTO:
            raise ValueError(f"detect_size must be pixels, None (full resolution) or {AUTO!r}, not "
                             f"{self.detect_size!r}")
        if isinstance(self.detect_size, int) and self.detect_size < 16:
            raise ValueError(f"detect_size must be None (full resolution) or >= 16 pixels, not {self.detect_size}")
        if self.face_index is not None and self.face_index < 0:
            raise ValueError(f"face_index must be None (largest face) or >= 0, not {self.face_index}")

    def with_changes(self, **changes) -> "DetectionOptions":
        return replace(self, **changes)


DEFAULT_DETECTION = DetectionOptions()
