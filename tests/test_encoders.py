"""The output's H.264 encoder: x264 on the CPU; NVIDIA's hardware encoder (NVENC) when the job runs on an NVIDIA GPU
where it works (``auto``), or when asked for, with a clear message where it does not work."""
from __future__ import annotations

import pytest

from conftest import SAMPLES
from wav2lip_core import cli
from wav2lip_core.cli import run as cli_run
from wav2lip_core.runtime.ffmpeg import ffmpeg_exe
from wav2lip_core.video import encoders
from wav2lip_core.video.encoders import AUTO, NVENC, X264, encoder_options, pick_encoder
from wav2lip_core.video.reading import read_video
from wav2lip_core.video.writing import Mp4Writer


@pytest.fixture()
def nvenc(monkeypatch):
    """Decide whether NVENC works on this machine, and count how often that is asked."""
    asked = []

    def answer(works: bool):
        monkeypatch.setattr(encoders, "nvenc_works", lambda ffmpeg: asked.append(ffmpeg) or works)
        return asked
    return answer


def test_x264_writes_constant_quality_yuv420p_at_the_veryfast_preset():
    assert encoder_options(X264, 18) == ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]


def test_nvenc_writes_variable_bitrate_at_the_same_quality_number_in_yuv420p():
    options = encoder_options(NVENC, 18)
    assert options[:2] == ["-c:v", "h264_nvenc"]
    assert options[options.index("-cq") + 1] == "18" and options[options.index("-b:v") + 1] == "0"
    assert options[-2:] == ["-pix_fmt", "yuv420p"]


def test_auto_takes_nvenc_only_on_an_nvidia_gpu_where_it_works(nvenc):
    asked = nvenc(True)
    assert pick_encoder(AUTO, "cpu", "ffmpeg") == X264 and pick_encoder(AUTO, "mps", "ffmpeg") == X264
    assert asked == []                                       # no ffmpeg process where no NVIDIA GPU runs the job
    assert pick_encoder(AUTO, "cuda", "ffmpeg") == NVENC
    nvenc(False)
    assert pick_encoder(AUTO, "cuda", "ffmpeg") == X264


def test_nvenc_asked_for_where_it_does_not_work_is_a_clear_error(nvenc):
    nvenc(False)
    with pytest.raises(ValueError, match="--encoder libx264"):
        pick_encoder(NVENC, "cuda", "ffmpeg")
    assert pick_encoder(X264, "cuda", "ffmpeg") == X264
    with pytest.raises(ValueError, match="must be one of"):
        pick_encoder("h265", "cpu", "ffmpeg")


def test_the_probe_answers_whether_this_ffmpeg_encodes_with_nvenc():
    encoders.nvenc_works.cache_clear()
    assert encoders.nvenc_works("/nonexistent/ffmpeg") is False
    assert isinstance(encoders.nvenc_works(ffmpeg_exe()), bool)       # True only on a machine with NVENC


def test_the_command_line_refuses_nvenc_where_it_does_not_work_before_any_work(nvenc, monkeypatch, capsys, tmp_path):
    nvenc(False)
    monkeypatch.setattr(cli_run, "reuse_freed_heap_memory", lambda: False)
    monkeypatch.setattr(cli_run, "resolve_model_files", lambda *a: pytest.fail("looked for model files"))
    status = cli.main(["--checkpoint", "wav2lip_gan", "--face", str(SAMPLES / "wav2lip_sample_face.mp4"),
                       "--audio", str(SAMPLES / "wav2lip_sample_speech.wav"), "--outfile", str(tmp_path / "o.mp4"),
                       "--encoder", "h264_nvenc"])
    message = capsys.readouterr().err
    assert status == 1 and "h264_nvenc" in message and "--encoder libx264" in message and "Traceback" not in message
    assert not (tmp_path / "o.mp4").exists()


def test_the_writer_encodes_with_the_encoder_it_is_given(tmp_path):
    import numpy as np

    frames = np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
    with Mp4Writer(tmp_path / "x264.mp4", 64, 64, 25, encoder=X264) as writer:
        writer.write(frames)
    assert read_video(tmp_path / "x264.mp4")[0].shape == (4, 64, 64, 3)
    with pytest.raises(ValueError, match="encoder must be one of"):
        Mp4Writer(tmp_path / "other.mp4", 64, 64, 25, encoder="h265")
