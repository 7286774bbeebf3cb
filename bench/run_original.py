"""Runs the unmodified original Wav2Lip (Rudrabha/Wav2Lip) on today's stack, for the benchmarks and the golden data.

Nothing of the original is copied here, and its files are never edited: its checkout lives outside this
repository (``$WAV2LIP_ORIGINAL_DIR``, default /work/orig; bench/README.md says how to get it) and this runner
patches a few library entry points in its own process before importing the original's modules:

- ``librosa.filters.mel``: takes ``(sr, n_fft)`` positionally again, as audio.py passes them (keyword-only since
  librosa 0.10: a TypeError otherwise).
- ``librosa.stft``: librosa 0.7's defaults ``pad_mode='reflect'`` and ``dtype=complex64`` where the caller gives
  none (librosa 0.10 pads with zeros and returns complex128: a different mel at the clip's ends, by up to
  0.28 in the first column on the sample speech).
- ``np.int``: the builtin ``int`` again (removed in numpy 1.24; face_detection/utils.py uses it).
- ``cv2.cv2``: the cv2 module itself (gone from opencv-python 4.6 on; inference.py uses it with ``--rotate``).
- ``ffmpeg`` on PATH: inference.py shells out to ``ffmpeg``; where none is installed, imageio-ffmpeg's binary is
  linked into a temporary folder put first on PATH (the original ignores ffmpeg's exit status, so the
  ``inference`` mode also fails when no new output file appears).

Not patched, because nothing trips on it: ``torch.load`` (torch >= 2.6 defaults to ``weights_only=True``, which
loads the official checkpoint container and S3FD's state dict, as our own loader does), ``librosa.output``
(only audio.save_wavenet_wav uses it, never called here), resampling in ``librosa.load`` (only for wavs that are
not 16 kHz), numpy 2's float64 promotion in the mel's dB/normalise steps (<= 1e-6).

Modes:

    python bench/run_original.py inference ORIGINAL-ARGS...   # the original inference.py, e.g. --checkpoint_path
                                                              # CKPT --face CLIP --audio WAV --outfile OUT [--box ...]
    python bench/run_original.py audio WAV REPEATS            # times its audio.load_wav + melspectrogram (JSON)
    python bench/run_original.py golden OUT.npz               # remakes tests/golden/parity_box_case.npz

``inference`` runs in the checkout's folder (it writes temp/result.avi there); relative file arguments are taken
from the caller's folder. Benchmark-only switch: ``WAV2LIP_BENCH_S3FD=PATH`` makes PATH the S3FD weights file
the original's face detector loads by default (the same random weights our side uses, so both detectors see the
same candidate boxes).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_DIR = Path(os.environ.get("WAV2LIP_ORIGINAL_DIR", "/work/orig")).resolve()
ORIGINAL_CHECKPOINT = ORIGINAL_DIR / "random_wav2lip_seed0.pth"
# Byte for byte the golden README's speech_16k.wav.
GOLDEN_SPEECH = ROOT / "workflows" / "media" / "wav2lip_sample_speech.wav"
GOLDEN_BOX = (30, 110, 40, 108)                               # (y1, y2, x1, x2)
_FILE_ARGUMENTS = ("--checkpoint_path", "--face", "--audio", "--outfile")
_patched = False


def original_available() -> bool:
    """True when the original checkout and its random checkpoint are where WAV2LIP_ORIGINAL_DIR says."""
    return (ORIGINAL_DIR / "inference.py").is_file() and ORIGINAL_CHECKPOINT.is_file()


# ----------------------------------------------------------------------------------------- run-time patches
def _patch_librosa() -> None:
    import librosa
    import librosa.filters
    import numpy as np

    mel = librosa.filters.mel
    if not getattr(mel, "_wav2lip_original_patch", False):
        def positional_mel(*args, **kwargs):
            kwargs.update(zip(("sr", "n_fft"), args))
            return mel(**kwargs)
        positional_mel._wav2lip_original_patch = True
        librosa.filters.mel = positional_mel

    stft = librosa.stft
    if not getattr(stft, "_wav2lip_original_patch", False):
        def stft_07_defaults(*args, **kwargs):
            kwargs.setdefault("pad_mode", "reflect")
            kwargs.setdefault("dtype", np.complex64)
            return stft(*args, **kwargs)
        stft_07_defaults._wav2lip_original_patch = True
        librosa.stft = stft_07_defaults
        librosa.core.stft = stft_07_defaults


def _patch_numpy_and_cv2() -> None:
    import cv2
    import numpy as np

    if "int" not in np.__dict__:
        np.int = int
    if not hasattr(cv2, "cv2"):
        cv2.cv2 = cv2


def _ffmpeg_on_path() -> None:
    import shutil

    if shutil.which("ffmpeg"):
        return
    import imageio_ffmpeg

    folder = Path(tempfile.gettempdir()) / "wav2lip_original_bin"
    folder.mkdir(exist_ok=True)
    link = folder / "ffmpeg"
    target = imageio_ffmpeg.get_ffmpeg_exe()
    if not (link.is_symlink() and os.readlink(link) == target):
        temporary = folder / f"ffmpeg.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target)
        temporary.replace(link)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def apply_patches() -> None:
    """Every run-time patch above, once per process, and the original's folder first on sys.path."""
    global _patched
    if not _patched:
        _patch_librosa()
        _patch_numpy_and_cv2()
        _ffmpeg_on_path()
        _patched = True
    if str(ORIGINAL_DIR) not in sys.path:
        sys.path.insert(0, str(ORIGINAL_DIR))


# ----------------------------------------------------------------------------------------------- inference
def _absolute_file_arguments(argv: list[str]) -> list[str]:
    argv = list(argv)
    for index, value in enumerate(argv[:-1]):
        if value in _FILE_ARGUMENTS and not os.path.isabs(argv[index + 1]):
            argv[index + 1] = os.path.abspath(argv[index + 1])
    return argv


def import_inference(argv: list[str]):
    """The original inference module, imported (it parses ``argv`` at import) in the checkout's folder, patched."""
    if not (ORIGINAL_DIR / "inference.py").is_file():
        raise SystemExit(f"the original Wav2Lip is not at {ORIGINAL_DIR} (set WAV2LIP_ORIGINAL_DIR; see bench/README.md)")
    argv = _absolute_file_arguments(argv)
    apply_patches()
    os.chdir(ORIGINAL_DIR)
    sys.argv = [str(ORIGINAL_DIR / "inference.py"), *argv]
    import inference

    return inference


def _install_s3fd_switch() -> None:
    s3fd_path = os.environ.get("WAV2LIP_BENCH_S3FD")
    if s3fd_path:
        from face_detection.detection.sfd import sfd_detector

        defaults = sfd_detector.SFDDetector.__init__.__defaults__   # (path_to_detector, verbose)
        sfd_detector.SFDDetector.__init__.__defaults__ = (str(Path(s3fd_path).resolve()), *defaults[1:])


def run_inference(argv: list[str]) -> None:
    """The original ``inference.py ARGV`` end to end; SystemExit when it wrote no new output file."""
    started = time.time()
    inference = import_inference(argv)
    _install_s3fd_switch()
    inference.main()
    outfile = Path(inference.args.outfile)
    if not outfile.is_file() or outfile.stat().st_mtime < started - 1:
        raise SystemExit(f"the original inference.py wrote no {outfile} (its ffmpeg step failed)")


# --------------------------------------------------------------------------------------------------- audio
def time_audio(wav_path: str, repeats: int) -> dict:
    """Seconds of the original's audio.load_wav(path, 16000) + audio.melspectrogram, after one warm-up call."""
    apply_patches()
    import audio

    seconds = []
    for attempt in range(repeats + 1):
        start = time.perf_counter()
        wav = audio.load_wav(wav_path, 16000)
        mel = audio.melspectrogram(wav)
        if attempt:
            seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "mel_shape": list(mel.shape)}


# -------------------------------------------------------------------------------------------------- golden
def golden_frames_rgb() -> "np.ndarray":
    """(8, 128, 128, 3) uint8 RGB: astronaut crops [40+2i:200+2i, 150+3i:310+3i], INTER_AREA to 128."""
    import cv2
    import numpy as np
    from skimage.data import astronaut

    image = astronaut()
    return np.stack([cv2.resize(image[40 + 2 * i:200 + 2 * i, 150 + 3 * i:310 + 3 * i], (128, 128),
                                interpolation=cv2.INTER_AREA) for i in range(8)])


def _state_dict_fingerprint(checkpoint_path: Path) -> dict[str, "np.ndarray"]:
    """The checkpoint's tests/random_weights.state_dict_fingerprint as arrays: ``state_dict_keys`` (as stored,
    with ``module.``), ``state_dict_sums`` and ``state_dict_abs_sums`` (float64), one row per key, sorted."""
    import numpy as np
    import torch

    sys.path.append(str(ROOT / "tests"))      # last: the original's own top-level modules stay first
    from random_weights import state_dict_fingerprint

    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)["state_dict"]
    fingerprint = state_dict_fingerprint(state)
    return {"state_dict_keys": np.array(list(fingerprint), dtype=np.str_),
            "state_dict_sums": np.array([value[0] for value in fingerprint.values()], np.float64),
            "state_dict_abs_sums": np.array([value[1] for value in fingerprint.values()], np.float64)}


class _InMemoryCv2:
    """inference.py's ``cv2`` for the golden case: VideoCapture hands over given BGR frames at 25 fps and
    VideoWriter keeps what it is given; everything else is cv2 itself."""

    def __init__(self, cv2, frames_bgr, written: list):
        self._cv2, self._frames, self._written = cv2, frames_bgr, written

    def __getattr__(self, name):
        return getattr(self._cv2, name)

    def VideoCapture(self, _path):   # noqa: N802 (cv2's name)
        frames, fps_property = iter(list(self._frames)), self._cv2.CAP_PROP_FPS

        class Capture:
            def get(self, prop):
                return 25.0 if prop == fps_property else 0.0

            def read(self):
                frame = next(frames, None)
                return (frame is not None), (None if frame is None else frame.copy())

            def release(self):
                pass
        return Capture()

    def VideoWriter(self, *_args):   # noqa: N802
        written = self._written

        class Writer:
            def write(self, frame):
                written.append(frame.copy())

            def release(self):
                pass
        return Writer()


def make_golden(checkpoint: Path = ORIGINAL_CHECKPOINT, speech: Path = GOLDEN_SPEECH) -> dict:
    """The arrays of tests/golden/parity_box_case.npz, made by the original inference.py's main() on the case of
    tests/golden/README.md: 8 frames fed as BGR, the first 16000 samples of the speech (read by the original
    audio.load_wav), fps 25, the fixed box, default pads and batch; its video reader and writer are replaced by
    in-memory ones and its ffmpeg mux by nothing, so the outputs are taken before any encoding."""
    import types

    import numpy as np
    import soundfile

    apply_patches()
    import audio

    frames_rgb = golden_frames_rgb()
    wav = audio.load_wav(str(speech), 16000)[:16000].astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        face, wav_path = Path(folder) / "frames.mp4", Path(folder) / "speech.wav"
        face.write_bytes(b"")   # inference.py only checks that --face is a file; frames come from _InMemoryCv2
        soundfile.write(wav_path, wav, 16000, subtype="FLOAT")   # read back bit for bit by audio.load_wav
        inference = import_inference(["--checkpoint_path", str(Path(checkpoint).resolve()), "--face", str(face),
                                      "--audio", str(wav_path), "--box", *map(str, GOLDEN_BOX)])
        written: list = []
        inference.cv2 = _InMemoryCv2(inference.cv2, frames_rgb[..., ::-1], written)
        inference.subprocess = types.SimpleNamespace(call=lambda *args, **kwargs: 0)
        inference.main()
    output_rgb = np.stack(written)[..., ::-1]
    y1, y2, x1, x2 = GOLDEN_BOX
    outside = np.ones(frames_rgb.shape[1:3], bool)
    outside[y1:y2, x1:x2] = False
    outside_equal = all(np.array_equal(frame[outside], frames_rgb[index % len(frames_rgb)][outside])
                        for index, frame in enumerate(output_rgb))
    return {"frames_rgb": frames_rgb, "wav": wav, "fps": np.float64(25.0), "box": np.array(GOLDEN_BOX, np.int64),
            "output_box_region_rgb": np.ascontiguousarray(output_rgb[:, y1:y2, x1:x2]),
            "num_output_frames": np.int64(len(output_rgb)), "outside_box_equals_input": np.bool_(outside_equal),
            "checkpoint_seed": np.int64(0), **_state_dict_fingerprint(Path(checkpoint))}


# ---------------------------------------------------------------------------------------------------- main
def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("inference", "audio", "golden"):
        raise SystemExit(__doc__)
    mode, rest = argv[0], argv[1:]
    if mode == "inference":
        run_inference(rest)
    elif mode == "audio":
        parser = argparse.ArgumentParser(prog="run_original.py audio")
        parser.add_argument("wav")
        parser.add_argument("repeats", type=int)
        args = parser.parse_args(rest)
        print(json.dumps(time_audio(os.path.abspath(args.wav), args.repeats)))
    else:
        import numpy as np

        parser = argparse.ArgumentParser(prog="run_original.py golden")
        parser.add_argument("out", help="the .npz to write (not the committed tests/golden file)")
        parser.add_argument("--checkpoint", default=str(ORIGINAL_CHECKPOINT),
                            help="tests/random_weights.py OUT --seed 0 (default: the one in the checkout's folder)")
        parser.add_argument("--speech", default=str(GOLDEN_SPEECH))
        args = parser.parse_args(rest)
        out = os.path.abspath(args.out)
        arrays = make_golden(Path(os.path.abspath(args.checkpoint)), Path(os.path.abspath(args.speech)))
        np.savez_compressed(out, **arrays)
        print(f"wrote {out}: {int(arrays['num_output_frames'])} output frames")


if __name__ == "__main__":
    main(sys.argv[1:])
