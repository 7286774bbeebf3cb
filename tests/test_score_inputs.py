"""Lip-sync scoring given what it cannot score well: each gets one clear line (never a traceback, never a silently
changed input), and a score that finds no offset says so instead of advising one."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from sync_stand_ins import LoudnessBrightnessSyncNetV2, audio_leading_clip
from syncnet_clip import face_frames, speech_int16, write_clip
from wav2lip_core.detection import FaceTrack
from wav2lip_core.scoring import SyncScore, iter_face_crops, score_lipsync


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from random_syncnet_v2 import write_random_syncnet_v2

    return write_random_syncnet_v2(tmp_path_factory.mktemp("weights") / "syncnet_v2.model", seed=0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """160x160 face clips at 25 fps with 16 kHz speech: "ten" (10 frames, 0.4 s), "short_audio" (22 frames,
    0.3 s of speech), "long_audio" (14 frames, 1.2 s of speech)."""
    folder = tmp_path_factory.mktemp("clips")
    speech = speech_int16()
    return {name: write_clip(folder / f"{name}.mp4", face_frames(frames, 160), speech[:samples])
            for name, frames, samples in (("ten", 10, 6400), ("short_audio", 22, 4800),
                                          ("long_audio", 14, 19200))}


def _score(capsys, *args: str) -> tuple[int, str, str]:
    from wav2lip_core.cli.score import score_main

    status = score_main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------------------------------------------
# python -m wav2lip_core score: one line for each input it cannot use


def test_a_folder_as_audio_a_plot_that_is_no_png_and_a_negative_vshift_are_one_line_each(clips, tmp_path, capsys):
    clip = clips["ten"]
    picture_folder = clip.with_suffix(".png")
    picture_folder.mkdir()                                                  # a folder named like a picture
    cases = {("--audio", tmp_path): f"error: --audio {tmp_path} is a folder, not an audio or video file",
             ("--plot", tmp_path / "score.txt"): "the picture is written as PNG; give a name ending in .png",
             ("--plot", picture_folder): f"--plot {picture_folder} is a folder",
             ("--vshift", "-1"): "VSHIFT must be 0 or more",
             ("--batch_size", "0"): "at least 1 window per network call"}
    for (option, value), expected in cases.items():
        status, out, err = _score(capsys, clip, option, value, "--no-download")
        assert status == 1 and out == "" and expected in err, (option, value, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "score.txt").exists()


def test_a_box_outside_the_frame_is_refused_as_the_lip_sync_job_refuses_it(clips, capsys):
    status, _, err = _score(capsys, clips["ten"], "--box", "0", "500", "0", "500", "--no-download")
    assert status == 1
    assert err.strip() == ("error: face box (y1, y2, x1, x2) = (0, 500, 0, 500) does not fit inside the 160x160 frame "
                           "(it must satisfy 0 <= y1 < y2 <= height and 0 <= x1 < x2 <= width)")


def test_the_scorer_never_cuts_a_box_to_the_frame():
    frames = np.zeros((8, 160, 160, 3), np.uint8)
    with pytest.raises(ValueError, match="does not fit inside the 160x160 frame"):
        list(iter_face_crops(frames, [(0, 500, 0, 500)], geometry="box"))
    with pytest.raises(ValueError, match=r"\(-4, 100, 0, 100\) does not fit"):
        score_lipsync(LoudnessBrightnessSyncNetV2(), frames, np.zeros(8 * 640, np.float32), boxes=(-4, 100, 0, 100))


def test_a_huge_vshift_searches_as_far_as_the_clip_reaches_and_says_so(clips, weights, capsys):
    status, out, err = _score(capsys, clips["long_audio"], "--box", "0", "160", "0", "160", "--vshift", "1000000000",
                              "--checkpoint", weights, "--decode", "plain", "--json")
    assert status == 0
    assert ("note: --vshift 1000000000 searches further than this clip's 9 windows reach; searched -15..+15 frames "
            "instead") in err
    assert len(json.loads(out)["offset_dists"]) == 31


def test_the_search_is_cut_to_the_windows_but_never_below_the_reference_width():
    from wav2lip_core.scoring.evaluate import searched_vshift

    assert searched_vshift(10**9, num_windows=50) == 49        # offsets of 50 or more compare padding only
    assert searched_vshift(20, num_windows=50) == 20
    assert searched_vshift(100, num_windows=5) == 15           # the reference's own 15, even on a short clip
    assert searched_vshift(3, num_windows=5) == 3
    with pytest.raises(ValueError, match="vshift must be >= 0"):
        searched_vshift(-1, num_windows=5)
    frames, wav = audio_leading_clip(lead_frames=2, num_frames=30, size=64)
    score = score_lipsync(LoudnessBrightnessSyncNetV2(), frames, wav, vshift=10**9)
    assert score.vshift == 24 and len(score.offset_dists) == 49 and score.av_offset == 2


# --------------------------------------------------------------------------------------------------
# no reliable offset


@pytest.mark.parametrize("clip", ["ten", "short_audio"])
def test_a_clip_too_short_to_tell_reports_no_reliable_offset_instead_of_advising_one(clip, clips, weights, capsys):
    status, out, _ = _score(capsys, clips[clip], "--box", "0", "160", "0", "160", "--checkpoint", weights,
                            "--decode", "plain")
    assert status == 0
    assert "no reliable offset was found" in out and "--offset_frames" not in out


def _score_of(distances: list[float], num_windows: int = 40, vshift: int = 15) -> SyncScore:
    best = int(np.argmin(distances))
    return SyncScore(av_offset=vshift - best, confidence=float(np.median(distances) - min(distances)),
                     min_dist=min(distances), frame_confidence=[1.0], offset_dists=distances, vshift=vshift,
                     num_windows=num_windows)


def test_an_offset_is_reliable_only_inside_the_search_over_heard_audio_and_with_a_clear_minimum():
    def dip(offset: int, depth: float = 3.0) -> list[float]:          # offset_dists with a minimum at ``offset``
        return [10.0 - depth * (o == offset) + 0.001 * abs(o - offset) for o in range(15, -16, -1)]

    assert _score_of(dip(3)).offset_doubt() is None
    assert _score_of(dip(0)).offset_doubt() is None
    assert "edge of the searched -15..+15" in _score_of(dip(15)).offset_doubt()
    assert "edge of the searched -15..+15" in _score_of(dip(-15)).offset_doubt()
    assert "compared with the silence past an end of the audio" in _score_of(dip(4), num_windows=3).offset_doubt()
    assert "near 0" in _score_of([12.0] * 31).offset_doubt()                      # every offset the same
    assert "near 0" in _score_of(dip(3, depth=0.05)).offset_doubt()               # 0.6% below the median
    assert "near 0" in _score_of([1.0], vshift=0).offset_doubt()                  # nothing was searched


def test_the_node_says_no_reliable_offset_was_found_instead_of_advising_one(monkeypatch):
    from nodes import NODE_CLASS_MAPPINGS
    from nodes import model_management as mm
    from nodes import score_node

    frames = np.zeros((10, 64, 64, 3), np.uint8)                      # a dark, silent clip: every offset the same
    wav = np.zeros(10 * 640, np.float32)
    monkeypatch.setattr(score_node, "managed_scoring_model",
                        lambda choice: mm.ManagedModel(LoudnessBrightnessSyncNetV2(), "stand-in"))
    faces = score_node.FaceBoxes(np.tile([0, 64, 0, 64], (10, 1)), np.ones(10, bool), 64, 64)
    audio = {"waveform": torch.from_numpy(wav)[None, None], "sample_rate": 16000}
    *_, text = NODE_CLASS_MAPPINGS["LipSyncScore"]().score(torch.from_numpy(frames).float() / 255, audio, 25.0,
                                                          "stand-in", faces=faces)
    assert "no reliable offset was found" in text and "offset_frames" not in text


def test_the_node_names_a_frame_rate_outside_1_to_240_fps():
    from nodes import NODE_CLASS_MAPPINGS

    images = torch.zeros(30, 64, 64, 3)
    audio = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}
    for fps in (1e6, 0.5):
        with pytest.raises(ValueError, match=re.escape(f"fps (the images' frame rate): {fps:g} fps is outside the "
                                                       f"supported 1..240 fps")):
            NODE_CLASS_MAPPINGS["LipSyncScore"]().score(images, audio, fps, "syncnet_v2.model")


# --------------------------------------------------------------------------------------------------
# progress


def test_the_progress_total_is_the_number_of_windows_scored():
    model = LoudnessBrightnessSyncNetV2()
    frames, wav = audio_leading_clip(lead_frames=1, num_frames=60, size=64)
    calls = []
    score_lipsync(model, frames[:40], wav, batch_size=16, progress=lambda *call: calls.append(call))
    assert calls == [(0, 35), (16, 35), (32, 35), (35, 35)]          # 40 frames: 35 windows, though audio allows 55
    calls.clear()
    score_lipsync(model, np.repeat(frames[:40], 2, axis=0), wav, fps=50, batch_size=16,
                  progress=lambda *call: calls.append(call))
    assert calls[0] == (0, 35) and calls[-1] == (35, 35)             # 80 frames at 50 fps: 40 at 25 fps
    calls.clear()
    score_lipsync(model, iter(frames[:40]), wav, batch_size=16, progress=lambda *call: calls.append(call),
                  boxes=FaceTrack(np.tile([0, 64, 0, 64], (40, 1)), np.ones(40, bool)), geometry="box")
    assert calls[0] == (0, 35) and calls[-1] == (35, 35)             # no len(): the boxes say how many frames
    calls.clear()
    score_lipsync(model, iter(frames[:40]), wav, batch_size=16, progress=lambda *call: calls.append(call))
    assert calls[0] == (0, 55) and calls[-1] == (35, 35)             # nothing says: the bar still ends full


def test_the_command_line_progress_bar_counts_windows_and_ends_full(clips, weights, capsys):
    status, _, err = _score(capsys, clips["long_audio"], "--box", "0", "160", "0", "160", "--checkpoint", weights,
                            "--decode", "plain")
    assert status == 0
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "9/9" in last and " windows/s" in last and "0window" not in err and "/25" not in err


def test_the_score_command_reads_a_negative_number_in_any_notation_as_a_value(capsys):
    from wav2lip_core.cli.score import build_score_parser

    with pytest.raises(SystemExit):
        build_score_parser().parse_args(["clip.mp4", "--vshift", "-1e3"])
    err = capsys.readouterr().err
    assert "invalid int value: '-1e3'" in err and "expected one argument" not in err
