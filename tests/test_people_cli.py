"""The command line's people options end to end: ``--reference`` lip-syncs the person of a photo, ``--speaker``
dubs two people in one run, and bad input stops with one line before anything is written."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import soundfile

from conftest import ROOT, SAMPLES
from group_photo import TILE, group_photo, reference_photo, scene
from wav2lip_core.audio import load_audio
from wav2lip_core.video.reading import read_video
from wav2lip_core.video.writing import Mp4Writer

DETECTION = ("--detector", "dlib_hog", "--detect_every", "4", "--detect_size", "full")


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wav2lip_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A two-person clip (rachel left, ross right; 20 frames at 25 fps, no sound), both people's photos, and
    two speech files (the sample speech, and 0.4 s of it)."""
    folder = tmp_path_factory.mktemp("people")
    photo = group_photo()
    clip, where = scene(photo, [("rachel", 20), ("ross", 280)], 90, 20)
    with Mp4Writer(folder / "two.mp4", clip.shape[2], clip.shape[1], 25.0) as writer:
        writer.write(clip)
    for name in ("rachel", "ross", "chandler"):
        cv2.imwrite(str(folder / f"{name}.png"), reference_photo(photo, name)[:, :, ::-1])
    speech, rate = soundfile.read(SAMPLES / "wav2lip_sample_speech.wav", dtype="float32")
    soundfile.write(folder / "long.wav", speech, rate)
    soundfile.write(folder / "short.wav", speech[:int(0.4 * rate)], rate)
    return folder, where


def _tile_change(out_frames: np.ndarray, source: np.ndarray, corner: np.ndarray) -> float:
    top, left = corner
    region = (slice(top, top + TILE[0]), slice(left, left + TILE[1]))
    return float(np.abs(out_frames[region].astype(int) - source[region]).mean())


def test_reference_gives_the_mouth_to_the_person_of_the_photo_only(media, official_checkpoint):
    folder, where = media
    out = folder / "ross.mp4"
    result = _run_cli("--checkpoint", str(official_checkpoint), "--face", str(folder / "two.mp4"), "--audio",
                      str(folder / "short.wav"), "--reference", str(folder / "ross.png"), "--outfile", str(out),
                      *DETECTION)
    assert result.returncode == 0, result.stderr
    frames, _ = read_video(out)
    source, _ = read_video(folder / "two.mp4")
    for index in range(len(frames)):
        assert _tile_change(frames[index], source[index], where["rachel"][index]) < 3, "rachel unchanged (only re-encoded)"
        assert _tile_change(frames[index], source[index], where["ross"][index]) > 5, "ross gets the mouth"


def test_two_speakers_are_dubbed_in_one_run_with_their_speech_mixed(media, official_checkpoint):
    folder, where = media
    out = folder / "both.mp4"
    result = _run_cli("--checkpoint", str(official_checkpoint), "--face", str(folder / "two.mp4"),
                      "--speaker", str(folder / "rachel.png"), str(folder / "long.wav"),
                      "--speaker", str(folder / "ross.png"), str(folder / "short.wav"), "--outfile", str(out),
                      *DETECTION)
    assert result.returncode == 0, result.stderr
    assert abs(len(load_audio(out)) / 16000 - len(load_audio(folder / "long.wav")) / 16000) < 0.06
    frames, _ = read_video(out)
    source, _ = read_video(folder / "two.mp4")
    early, late = 2, 15          # ross's 0.4 s is over by frame 10; the sample speech still speaks at 15
    assert _tile_change(frames[early], source[early], where["ross"][early]) > 5
    assert _tile_change(frames[late], source[late % len(source)], where["ross"][late % len(source)]) < 3
    assert _tile_change(frames[late], source[late % len(source)], where["rachel"][late % len(source)]) > 5


@pytest.mark.parametrize("case, message", [
    ("folder", r"--reference .*is a folder"),
    ("not_an_image", r"--reference .*notes\.txt: is not an image"),
    ("no_face", r"no face was found in the reference photo wall\.png"),
    ("absent", r"the person in chandler\.png was not found in the video"),
    ("twice", r"ross\.png and ross_again\.png show the same person"),
    ("bad_speech", r"--speaker .*rachel\.png .*broken\.wav: the speech cannot be read"),
    ("outfile_is_a_photo", r"--outfile .* is the same file as --reference"),
])
def test_bad_people_input_is_one_line_and_nothing_is_written(media, official_checkpoint, case, message):
    folder, _ = media
    base = ["--checkpoint", str(official_checkpoint), "--face", str(folder / "two.mp4"), *DETECTION]
    speech = ["--audio", str(folder / "short.wav")]
    out = folder / f"{case}.mp4"
    (folder / "notes.txt").write_text("not a photo")
    cv2.imwrite(str(folder / "wall.png"), np.full((200, 200, 3), 128, np.uint8))
    cv2.imwrite(str(folder / "ross_again.png"), cv2.imread(str(folder / "ross.png"))[:, ::-1])
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEfmt nothing that decodes")
    arguments = {
        "folder": speech + ["--reference", str(folder)],
        "not_an_image": speech + ["--reference", str(folder / "notes.txt")],
        "no_face": speech + ["--reference", str(folder / "wall.png")],
        "absent": speech + ["--reference", str(folder / "chandler.png")],
        "twice": ["--speaker", str(folder / "ross.png"), str(folder / "short.wav"),
                  "--speaker", str(folder / "ross_again.png"), str(folder / "short.wav")],
        "bad_speech": ["--speaker", str(folder / "rachel.png"), str(folder / "broken.wav"),
                       "--speaker", str(folder / "ross.png"), str(folder / "short.wav")],
        "outfile_is_a_photo": speech + ["--reference", str(folder / "ross.png")],
    }[case]
    if case == "outfile_is_a_photo":
        out = folder / "ross.png"
    before = out.read_bytes() if out.exists() else None
    result = _run_cli(*base, *arguments, "--outfile", str(out))
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "Traceback" not in result.stderr
    import re
    assert re.search(message, error), error
    assert (out.read_bytes() if out.exists() else None) == before, "nothing written or overwritten"
