"""The command line, end to end on the bundled sample media: a playable mp4 with audio of the right length."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SAMPLES
from wav2lip_core import cli
from wav2lip_core.audio import load_audio, speech_mel_chunks
from wav2lip_core.cli import run as cli_run
from wav2lip_core.video.reading import read_video

FACE, SPEECH = SAMPLES / "wav2lip_sample_face.mp4", SAMPLES / "wav2lip_sample_speech.wav"


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wav2lip_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_cli_writes_a_playable_mp4_with_the_audio_muxed_in(tmp_path, official_checkpoint):
    out = tmp_path / "result.mp4"
    result = _run_cli("--checkpoint", str(official_checkpoint), "--face", str(FACE),
                      "--audio", str(SPEECH), "--outfile", str(out), "--box", "60", "230", "90", "230")
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(out)
    expected_frames = len(speech_mel_chunks(load_audio(SPEECH), 25))
    assert fps == 25 and len(frames) == expected_frames and frames.shape[1:] == (320, 320, 3)
    audio = load_audio(out)
    assert abs(len(audio) / 16000 - 2.98) < 0.06, "the muxed audio keeps the speech's full duration"
    source, _ = read_video(FACE)
    assert np.abs(frames[:, :50].astype(int) - source[:len(frames), :50]).mean() < 3, "outside the face unchanged"


@pytest.mark.parametrize("length,frame_count", [("speech", 50), ("original", 47)])
def test_two_seconds_of_speech_give_two_seconds_of_video_and_the_original_length_its_47_frames(
        tmp_path, official_checkpoint, length, frame_count):
    """By default one frame per 1/fps of the speech, so the video lasts as long as the sound muxed into it;
    --length original keeps the original's 47 frames (1.88 s under 2.00 s of sound)."""
    import soundfile

    speech = tmp_path / "two_seconds.wav"
    soundfile.write(speech, load_audio(SPEECH)[:32000], 16000, subtype="PCM_16")
    out = tmp_path / "result.mp4"
    result = _run_cli("--checkpoint", str(official_checkpoint), "--face", str(FACE), "--audio", str(speech),
                      "--outfile", str(out), "--box", "60", "230", "90", "230", "--length", length)
    assert result.returncode == 0, result.stderr
    assert f"speech 2.00 s -> {frame_count} output frames at 25 fps" in result.stderr
    frames, fps = read_video(out)
    assert fps == 25 and len(frames) == frame_count
    sound_seconds = len(load_audio(out)) / 16000
    assert abs(sound_seconds - 2.0) < 0.07, "the whole speech is muxed in (AAC may add a few ms)"
    if length == "speech":
        assert abs(len(frames) / fps - sound_seconds) < 1 / fps


def test_cli_turns_an_odd_sized_image_into_a_talking_video_at_the_given_fps(tmp_path, official_checkpoint):
    import cv2
    from skimage.data import astronaut

    image = tmp_path / "portrait.v2.png"          # a second dot in the name, which the original misreads
    cv2.imwrite(str(image), astronaut()[10:211, 150:351, ::-1])
    out = tmp_path / "talking.mp4"
    result = _run_cli("--checkpoint", str(official_checkpoint), "--face", str(image), "--audio",
                      str(SPEECH), "--outfile", str(out), "--box", "40", "180", "30", "170",
                      "--blend", "original", "--fps", "30")
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(out)
    assert fps == 30 and frames.shape[1:] == (202, 202, 3)   # padded to even size for H.264


def test_cli_explains_a_missing_checkpoint_without_a_traceback(tmp_path, monkeypatch, capsys, official_checkpoint):
    """A checkpoint path that names no file is an error naming it, even when the weights folder holds a file of
    the same name (as after the README's demo): that file is never used in its place."""
    weights = tmp_path / "weights"              # the pack's weights/ folder, as the demo leaves it
    weights.mkdir()
    (weights / "wav2lip_gan.pth").write_bytes(official_checkpoint.read_bytes())
    monkeypatch.setattr(cli_run, "pack_weights_dir", lambda: weights)
    monkeypatch.setattr(cli_run, "reuse_freed_heap_memory", lambda: False)
    missing = tmp_path / "no" / "such" / "dir" / "wav2lip_gan.pth"
    status = cli.main(["--checkpoint", str(missing), "--face", str(FACE), "--audio", str(SPEECH),
                       "--outfile", str(tmp_path / "x.mp4"), "--box", "1", "2", "3", "4"])
    error = capsys.readouterr().err
    assert status == 1
    assert "Traceback" not in error and f"{missing}: no such file" in error
    assert not (tmp_path / "x.mp4").exists()


def test_convert_subcommand_writes_a_loadable_safetensors_file(tmp_path, official_checkpoint):
    from wav2lip_core.checkpoints import load_wav2lip

    out = tmp_path / "wav2lip.safetensors"
    result = _run_cli("convert", str(official_checkpoint), str(out), "--dtype", "fp32")
    assert result.returncode == 0, result.stderr
    load_wav2lip(out)


def test_the_command_line_process_ends_with_its_status_after_flushing_output_and_running_exit_handlers():
    """exit_now skips the interpreter's teardown, not what a normal exit promises: buffered output reaches the
    reader, atexit handlers (temporary files' clean-up among them) run, and the status is the command's."""
    script = ("import atexit, sys, tempfile\n"
              "from wav2lip_core.runtime.startup import exit_now\n"
              "kept = tempfile.TemporaryDirectory()\n"
              "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
              "print(kept.name, end='')\n"
              "exit_now(3)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr == "exit handler ran\n"
    assert result.stdout and not Path(result.stdout).exists(), "the temporary directory was cleaned up"
