"""Before a queued workflow runs: every model file it needs and cannot get, named at once, in the nodes' words.

ComfyUI validates every node of a queued workflow before it runs any (``execution.validate_prompt`` calls each
node's ``VALIDATE_INPUTS``) and shows all failures together, each on its node. The nodes that hold a model choice
(Load Wav2Lip Model, Detect Faces, Lip Sync Score) ask here; the engine (``checkpoints.unobtainable``) decides
what cannot be had: not on disk, and no download can start (downloads off, HF_HUB_OFFLINE, no network). A model
that can still be downloaded is fetched when its node runs, as before. Messages speak of node inputs, never of
command-line options.
"""
from __future__ import annotations

from wav2lip_core.checkpoints import S3FD, unobtainable
from wav2lip_core.detection import DETECTORS, missing_detector_package

from . import model_management as mm

OFFLINE_DETECTOR_ADVICE = ("Or set Detect Faces' detector to dlib_hog (offline, no weights file; pip install "
                           "dlib-bin), or type the face box into its manual_box.")


def model_problem(request: str, architecture: str | None, allow_download: bool = True) -> str | None:
    """Why the model ``request`` (a dropdown value without its download mark) cannot be had, or None. Creates
    ComfyUI's models/wav2lip first, so the folder the message names is there to put the file in."""
    mm.ensure_download_dir()
    return unobtainable(request, search_dirs=mm.model_search_dirs(), download_dir=mm.download_dir(),
                        allow_download=allow_download, architecture=architecture)


def detector_problem(detector: str, advice: str = OFFLINE_DETECTOR_ADVICE) -> str | None:
    """Why the face detector ``detector`` cannot run here (an unknown name, a missing package or S3FD's weights),
    with ``advice``: the way round it in the nodes' inputs; None when it can."""
    if detector not in DETECTORS:
        return f"detector {detector!r} is not one of {', '.join(DETECTORS)}"
    package = missing_detector_package(detector)
    if package is not None:
        if detector != "s3fd":
            advice = "Or set the detector to s3fd (its weights are fetched on first use), or give a face box."
        return f"{package}. {advice}"
    if detector == "s3fd":
        problem = model_problem("s3fd", S3FD)
        if problem is not None:
            return f"the s3fd face detector needs its weights: {problem} {advice}"
    return None
