"""DetectFaces: an IMAGE batch -> one face box per frame (WAV2LIP_FACES) and the 96x96 face crops (IMAGE)."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import torch

from wav2lip_core.compositing.faces import crop_face
from wav2lip_core.detection import (AUTO, DEFAULT_DETECTION, DETECTORS, MISSING_FACE_POLICIES, SMOOTHING_MODES,
                                    TRACKING_MODES, DetectionOptions, FaceTrack, detect_face_boxes,
                                    fixed_box_track, missing_detector_package)
from wav2lip_core.detection.s3fd import S3FDDetector, load_s3fd_network, s3fd_weights, s3fd_working_memory
from wav2lip_core.models.wav2lip import FACE_SIZE
from wav2lip_core.pipeline import check_boxes_fit
from wav2lip_core.tracks import SAME_PERSON_DISTANCE, missing_identity_packages

from . import model_management as mm
from .detect_device import crops_on_device, s3fd_on_device
from .device_frames import DeviceUint8Frames
from .model_check import OFFLINE_DETECTOR_ADVICE, detector_problem, is_wired, others_lack_models, queued_inputs
from .person_choice import check_reference_choice, person_boxes, reference_inputs
from .tensors import Uint8Frames, check_image, image_to_uint8, uint8_to_image
from .types import CATEGORY, WAV2LIP_FACES, FaceBoxes

CROP_BATCH = 64
# A workflow saved before Detect Faces had `tracking` loads with this widget's default, and it interpolated
# between detections then: "interpolate" keeps its boxes. New work should pick "flow" (the engine's default and
# the shipped workflows' choice), as the tooltip says.
SAVED_WORKFLOW_TRACKING = "interpolate"
_s3fd_models: dict[str, mm.ManagedModel] = {}


def parse_manual_box(text: str) -> tuple[int, int, int, int] | None:
    """"y1, y2, x1, x2" (commas or spaces) -> a box; empty -> None (detect instead)."""
    text = (text or "").strip()
    if not text:
        return None
    parts = [p for p in re.split(r"[,\s;]+", text.strip("()[] ")) if p]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    values = tuple(int(v) for v in numbers) if all(math.isfinite(v) for v in numbers) else ()
    if len(values) != 4:
        raise ValueError(f"manual_box must be four numbers 'y1, y2, x1, x2' (top, bottom, left, right in pixels), "
                         f"got {text!r}; leave it empty to detect faces")
    return values  # type: ignore[return-value]


def _typed_box(text: object) -> bool:
    """Whether ``text`` is a usable manual_box (a malformed one is reported when the node runs)."""
    try:
        return isinstance(text, str) and parse_manual_box(text) is not None
    except ValueError:
        return False


def face_finding_problem(class_type: str, detector: str, advice: str = OFFLINE_DETECTOR_ADVICE) -> str | None:
    """For the VALIDATE_INPUTS of a node that finds faces (``class_type``, with the inputs detector, manual_box and
    reference): why its queued nodes with this ``detector`` cannot find faces here, in one message; None when
    they can. No detector runs where every such node has a face box typed in (or wired); a connected reference
    needs the face-recognition packages too, named in the same message as the detector's (``advice``: the way
    round a missing detector in that node's inputs)."""
    nodes = queued_inputs(class_type, "detector", detector)
    boxed = bool(nodes) and all(is_wired(node.get("manual_box")) or _typed_box(node.get("manual_box"))
                                for node in nodes)
    people = bool(nodes) and any(is_wired(node.get("reference")) for node in nodes)
    identity = missing_identity_packages() if people else None
    if identity is not None and detector.startswith("dlib") and missing_detector_package(detector) is not None:
        return identity                                   # it names dlib-bin, the detector's package, too
    problem = None if boxed else detector_problem(detector, advice)
    if identity is not None and problem is not None:
        return f"{problem} Also, {identity}"
    return problem or identity


def managed_s3fd() -> mm.ManagedModel:
    """The S3FD network, wrapped for model management, loaded once per weights file.

    Weights: s3fd.pth in the wav2lip model folders; else downloaded into models/wav2lip with verification. A
    missing file gives a message naming the file, the folder and the offline detector.
    """
    path = s3fd_weights(None, mm.model_search_dirs(), allow_download=True, progress=mm.byte_progress())
    key = str(path)
    if key not in _s3fd_models:
        network = load_s3fd_network(path, device=mm.offload_device())
        _s3fd_models[key] = mm.ManagedModel(network, name=f"S3FD ({path.name})")
    return _s3fd_models[key]


# The detection widgets Lip Sync Video shares (its tracking default differs: see SAVED_WORKFLOW_TRACKING).
DETECTOR_INPUT = (list(DETECTORS), {
    "default": DEFAULT_DETECTION.detector,
    "tooltip": "s3fd: the original Wav2Lip's detector, best (needs s3fd.pth, about 86 MB, downloaded into "
               "models/wav2lip on first use). dlib_hog: offline, CPU-only, no weights to download (pip install "
               "dlib-bin), weaker on small or turned faces. dlib_cnn: dlib's CNN detector (needs "
               "mmod_human_face_detector.dat)."})
DETECT_EVERY_INPUT = ("INT", {
    "default": DEFAULT_DETECTION.detect_every, "min": 1, "max": 100,
    "tooltip": "Run the detector on at least every n-th frame; in between the face is followed (see tracking). 1: "
               "detect on every frame, as the original Wav2Lip (slowest)."})


class DetectFaces:
    """Finds one face per frame (or uses a fixed box) and crops it to the 96x96 input of Wav2Lip."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video frames (or one still image) with the face to animate."}),
                "detector": DETECTOR_INPUT,
                "pad_top": ("INT", {"default": DEFAULT_DETECTION.pads[0], "min": -512, "max": 1024,
                                    "tooltip": "Pixels added above the detected face box."}),
                "pad_bottom": ("INT", {"default": DEFAULT_DETECTION.pads[1], "min": -512, "max": 1024,
                                       "tooltip": "Pixels added below the face box. The original's 10 keeps the chin "
                                                  "inside; raise it if the chin is cut off."}),
                "pad_left": ("INT", {"default": DEFAULT_DETECTION.pads[2], "min": -512, "max": 1024,
                                     "tooltip": "Pixels added left of the face box."}),
                "pad_right": ("INT", {"default": DEFAULT_DETECTION.pads[3], "min": -512, "max": 1024,
                                      "tooltip": "Pixels added right of the face box."}),
                "smoothing": (list(SMOOTHING_MODES), {
                    "default": DEFAULT_DETECTION.smoothing,
                    "tooltip": "Steadies the box over time. centered: no lag (recommended). original: the original "
                               "Wav2Lip's forward-looking average (for comparisons). none: raw boxes."}),
                "smooth_window": ("INT", {"default": DEFAULT_DETECTION.smooth_window, "min": 1, "max": 101,
                                          "tooltip": "Frames averaged by the smoothing (the original uses 5)."}),
                "detect_size": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 16,
                                        "tooltip": "Longest side of the copy the detector looks at, in pixels. 0: "
                                                   "the detector's default (640 for s3fd). Larger finds smaller "
                                                   "faces but is slower; boxes are always in full-size pixels."}),
                "detect_every": DETECT_EVERY_INPUT,
                "on_missing": (list(MISSING_FACE_POLICIES), {
                    "default": DEFAULT_DETECTION.on_missing,
                    "tooltip": "Frames where no face is found. nearest: use the nearest frame's box. skip: leave "
                               "those frames unchanged. error: stop and name the frame."}),
                "face_index": ("INT", {"default": -1, "min": -1, "max": 64,
                                       "tooltip": "Which face when there are several: -1 the largest; 0 the "
                                                  "leftmost, 1 the next one to its right, ..."}),
                "manual_box": ("STRING", {"default": "", "multiline": False,
                                          "tooltip": "Leave empty to detect. Or 'y1, y2, x1, x2' (top, bottom, left, "
                                                     "right in pixels): that box on every frame, used as it is, "
                                                     "with no detection, pads or smoothing (the original's --box)."}),
                "batch_size": ("INT", {"default": DEFAULT_DETECTION.batch_size, "min": 1, "max": 256,
                                       "tooltip": "Frames per detection batch on the GPU; halves by itself when the "
                                                  "GPU runs out of memory."}),
                "tracking": (list(TRACKING_MODES), {
                    "default": SAVED_WORKFLOW_TRACKING,
                    "tooltip": "Between detected frames. flow (recommended): follow the face by its optical flow, "
                               "and detect again at a cut, when the face is lost or when it moved a lot (fast, "
                               "accurate). interpolate: detect on exactly every n-th frame and interpolate in "
                               "between; the default only so that workflows saved before this option keep "
                               "their results."}),
            },
            "optional": {
                "frame_count": ("INT", {"forceInput": True,
                                        "tooltip": "Optional: wire Audio To Mel's frame_count. Frames after the "
                                                   "audio's end are never shown, so they are not detected or "
                                                   "cropped (faster; same result as the engine's lipsync)."}),
                **reference_inputs(unseen="frames where they are not seen get no box and pass through Paste "
                                          "Back unchanged (unless on_missing is error)",
                                   otherwise="face_index chooses"),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, detector):
        problem = face_finding_problem("DetectFaces", detector)
        if problem is not None:
            return f"Detect Faces: {problem}"
        if others_lack_models("DetectFaces"):
            return "Detect Faces: waits for the models named on the other nodes (nothing runs before they are there)."
        return True

    RETURN_TYPES = (WAV2LIP_FACES, "IMAGE")
    RETURN_NAMES = ("faces", "face_crops")
    OUTPUT_TOOLTIPS = ("One face box per frame; connect to Wav2Lip Sync.",
                       "The 96x96 face crops Wav2Lip will see (black where no face was found); preview them to "
                       "check the boxes, or connect to Wav2Lip Sync.")
    FUNCTION = "detect"
    CATEGORY = CATEGORY
    DESCRIPTION = "Finds the face in every frame and cuts out the 96x96 crops Wav2Lip works on."

    def detect(self, images: torch.Tensor, detector: str = DEFAULT_DETECTION.detector,
               pad_top: int = DEFAULT_DETECTION.pads[0], pad_bottom: int = DEFAULT_DETECTION.pads[1],
               pad_left: int = DEFAULT_DETECTION.pads[2], pad_right: int = DEFAULT_DETECTION.pads[3],
               smoothing: str = DEFAULT_DETECTION.smoothing, smooth_window: int = DEFAULT_DETECTION.smooth_window,
               detect_size: int = 0, detect_every: int = DEFAULT_DETECTION.detect_every,
               on_missing: str = DEFAULT_DETECTION.on_missing, face_index: int = -1, manual_box: str = "",
               batch_size: int = DEFAULT_DETECTION.batch_size, frame_count: int | None = None,
               tracking: str = SAVED_WORKFLOW_TRACKING, reference: torch.Tensor | None = None,
               reference_threshold: float = SAME_PERSON_DISTANCE):
        check_image(images, "images")
        count = images.shape[0] if frame_count is None or int(frame_count) <= 0 else min(int(frame_count),
                                                                                        images.shape[0])
        frames = Uint8Frames(images, count)
        progress = mm.Progress(2 * count)
        box = parse_manual_box(manual_box)
        if reference is not None:
            check_reference_choice("Detect Faces", box, face_index)
        if box is not None:
            track = fixed_box_track(box, count)
        else:
            options = DetectionOptions(
                detector=detector, pads=(pad_top, pad_bottom, pad_left, pad_right), smoothing=smoothing,
                smooth_window=int(smooth_window), detect_size=DEFAULT_DETECTION.detect_size if detect_size <= 0
                else int(detect_size), detect_every=int(detect_every), on_missing=on_missing,
                face_index=None if face_index < 0 else int(face_index), batch_size=int(batch_size),
                tracking=tracking)
            track = (self._detect(frames, options, progress) if reference is None else
                     self._detect_person(frames, options, reference, float(reference_threshold), progress))
        check_boxes_fit(track, frames.height, frames.width)
        faces = FaceBoxes(boxes=track.boxes, found=track.found, frame_height=frames.height,
                          frame_width=frames.width)
        progress.set(count)
        crops = face_crops(images, faces, progress)
        return (faces, crops)

    @staticmethod
    def _detect(frames: Uint8Frames, options: DetectionOptions, progress: mm.Progress):
        on_progress = mm.interruptible_progress(progress, start=0, span=len(frames))
        tensor_device = mm.tensor_path_device()
        if tensor_device is not None:          # frames rounded to bytes on the device, a batch at a time
            frames = DeviceUint8Frames(frames.image, len(frames), tensor_device)
        return detect_boxes(frames, frames.height, frames.width, options, on_progress, tensor_device)

    @staticmethod
    def _detect_person(frames: Uint8Frames, options: DetectionOptions, reference: torch.Tensor, threshold: float,
                       progress: mm.Progress) -> FaceTrack:
        """The boxes of the person in ``reference`` (IMAGE, its first image) through the engine's face tracks;
        found False where that person is not seen. Frames stay in host memory: the tracks' face descriptors are
        computed by dlib on the CPU."""
        return person_boxes("Detect Faces", frames, reference, threshold, options,
                            lambda: s3fd_detector(frames.height, frames.width, options)
                            if options.detector == "s3fd" else None,
                            mm.interruptible_progress(progress, start=0, span=len(frames)))


def s3fd_detector(height: int, width: int, options: DetectionOptions) -> S3FDDetector:
    """S3FD for height x width frames, its network loaded by model management."""
    managed = managed_s3fd()
    size = S3FDDetector.default_detect_size if options.detect_size == AUTO else options.detect_size
    network = managed.load(s3fd_working_memory(height, width, size, options.batch_size))
    return S3FDDetector(network, device=managed.load_device, batch_size=options.batch_size)


def detect_boxes(frames: Sequence, height: int, width: int, options: DetectionOptions,
                 on_progress: Callable[[int, int], None], tensor_device: torch.device | None = None) -> FaceTrack:
    """One face box per frame of ``frames`` (height x width uint8 RGB each: numpy frames in host memory, e.g. a
    decoded video, or DeviceUint8Frames on ``tensor_device``), S3FD's network loaded by model management."""
    if options.detector == "s3fd":
        instance = s3fd_detector(height, width, options)
        if tensor_device is not None:
            size = S3FDDetector.default_detect_size if options.detect_size == AUTO else options.detect_size
            instance = s3fd_on_device(instance, size, height, width, options.batch_size)
            options = options.with_changes(detect_size=AUTO, batch_size=instance.batch_size)
        return detect_face_boxes(frames, options, detector=instance, progress=on_progress)
    return detect_face_boxes(frames, options, device=str(mm.compute_device()), search_dirs=mm.model_search_dirs(),
                             progress=on_progress)


def face_crops(images: torch.Tensor, faces: FaceBoxes, progress: mm.Progress) -> torch.Tensor:
    """IMAGE (N, 96, 96, 3) float32 0..1 for the first N = faces.num_frames images: crop_face(frame, box) / 255
    for frames with a face, black elsewhere. Only the box of each frame is converted to uint8."""
    crops = torch.zeros((faces.num_frames, FACE_SIZE, FACE_SIZE, 3), dtype=torch.float32,
                        device=mm.intermediate_device())
    with_face = np.flatnonzero(faces.found)
    tensor_device = mm.tensor_path_device()
    if tensor_device is not None:
        crops_on_device(images, faces, with_face, crops, tensor_device, progress, CROP_BATCH)
        return crops
    for start in range(0, len(with_face), CROP_BATCH):
        mm.throw_if_interrupted()
        indices = with_face[start:start + CROP_BATCH]
        batch = np.stack([_crop_from_image(images, int(i), faces.boxes[i]) for i in indices])
        crops[torch.from_numpy(indices)] = uint8_to_image(batch, crops.device)
        progress.advance(len(indices))
    return crops


def _crop_from_image(images: torch.Tensor, index: int, box) -> np.ndarray:
    """crop_face of frame ``index`` of an IMAGE batch, converting only the box region to uint8 RGB."""
    y1, y2, x1, x2 = (int(v) for v in box)
    region = image_to_uint8(images[index:index + 1, y1:y2, x1:x2])[0]
    return crop_face(region, (0, y2 - y1, 0, x2 - x1))
