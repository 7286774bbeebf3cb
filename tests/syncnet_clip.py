"""The short face clip of the lip-sync score tests: built on the fly, never committed, deterministic.

Frames: 224x224 crops of skimage's astronaut face that drift and zoom by a few pixels (a talking head that
is already a face crop, as the reference's pipeline writes them). Audio: the first ``CLIP_SECONDS`` of
workflows/media/wav2lip_sample_speech.wav (16 kHz mono int16). The mp4 holds lossless H.264 (``-qp 0``, one encoder thread),
so its decoded frames do not depend on the x264 build or the machine's core count, and the audio as 16-bit
PCM, so the samples come back bit for bit.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEECH_WAV = ROOT / "workflows" / "media" / "wav2lip_sample_speech.wav"
FPS = 25
SAMPLE_RATE = 16000
CLIP_SECONDS = 2.2
CLIP_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)           # 35200 samples
CLIP_FRAMES = CLIP_SAMPLES // (SAMPLE_RATE // FPS)       # 55 frames: as many as the audio covers


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def speech_int16() -> np.ndarray:
    """int16 (CLIP_SAMPLES,) mono 16 kHz: the start of the sample speech."""
    import soundfile

    wav, rate = soundfile.read(SPEECH_WAV, dtype="int16")
    assert rate == SAMPLE_RATE and wav.ndim == 1
    return np.ascontiguousarray(wav[:CLIP_SAMPLES])


def face_frames(num_frames: int = CLIP_FRAMES, size: int = 224) -> np.ndarray:
    """uint8 RGB (num_frames, size, size, 3): the astronaut's face with a small sway and zoom."""
    import cv2
    from skimage.data import astronaut

    image = astronaut()
    frames = []
    for index in range(num_frames):
        phase = 2 * np.pi * index / FPS
        top = 30 + int(round(4 * np.sin(phase * 0.8)))
        left = 150 + int(round(3 * np.sin(phase * 0.5 + 1.0)))
        side = 176 + int(round(6 * np.sin(phase * 0.3)))
        crop = image[top:top + side, left:left + side]
        frames.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def write_clip(path: str | Path, frames_rgb: np.ndarray, audio_int16: np.ndarray) -> Path:
    """Mux uint8 RGB frames (25 fps, lossless H.264 yuv420p) and int16 16 kHz mono audio (PCM) into an mp4."""
    path = Path(path)
    height, width = frames_rgb.shape[1:3]
    audio_path = path.with_suffix(".s16le")
    audio_path.write_bytes(np.ascontiguousarray(audio_int16, dtype="<i2").tobytes())
    command = [ffmpeg_exe(), "-y", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-",
               "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(audio_path),
               "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", "-threads", "1",
               "-c:a", "pcm_s16le", str(path)]
    subprocess.run(command, input=np.ascontiguousarray(frames_rgb).tobytes(), check=True)
    audio_path.unlink()
    return path


def build_clip(path: str | Path) -> Path:
    """The test clip (see module docstring) at ``path`` (.mp4)."""
    return write_clip(path, face_frames(), speech_int16())


def frames_as_reference_reads_them(video_path: str | Path, work_dir: str | Path) -> np.ndarray:
    """uint8 RGB (N, H, W, 3): the frames syncnet_python's evaluate() scores, obtained the way it obtains them:
    ``ffmpeg -y -i VIDEO -threads 1 -f image2 %06d.jpg`` (ffmpeg's default JPEG quality, so lossy), then
    ``cv2.imread`` of the sorted files (BGR), flipped to RGB here."""
    import cv2

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video_path), "-threads", "1",
                    "-f", "image2", str(work_dir / "%06d.jpg")], check=True)
    return np.stack([cv2.imread(str(name))[:, :, ::-1] for name in sorted(work_dir.glob("*.jpg"))])


# --------------------------------------------------------------------------------------------------
# The crop-geometry case: frames and raw face boxes for syncnet_python's crop_video

CROP_CASE_FRAMES = 20


def crop_case_frames(num_frames: int = CROP_CASE_FRAMES) -> np.ndarray:
    """uint8 RGB (N, 256, 256, 3): 256x256 windows of the astronaut image that pan by 3 px a frame."""
    from skimage.data import astronaut

    image = astronaut()
    return np.stack([np.ascontiguousarray(image[10 + 3 * i:266 + 3 * i, 100:356]) for i in range(num_frames)])


def crop_case_boxes(num_frames: int = CROP_CASE_FRAMES) -> np.ndarray:
    """int64 (N, 4) (y1, y2, x1, x2) raw face boxes: a jittering box drifting towards the top-left corner (so the
    crop leaves the frame and the grey padding shows), with a one-frame detector glitch at frame 7 (which the
    13-frame median filter removes)."""
    jitter = np.random.default_rng(7).integers(-3, 4, size=(num_frames, 4))
    index = np.arange(num_frames)
    y1 = 40 - 2 * index
    x1 = 70 - 3 * index
    boxes = np.stack([y1, y1 + 110, x1, x1 + 100], axis=1) + jitter
    boxes[7] += np.array([40, 40, 40, 40])
    boxes[:, [0, 2]] = np.maximum(boxes[:, [0, 2]], 0)
    return boxes.astype(np.int64)
