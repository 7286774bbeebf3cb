"""Every bad input ends in a clear message or a correct result, within seconds: no input is ever overwritten,
work is bounded by sane rates, nothing ends in a traceback, faces at the frame edge never abort a run, and
nothing silently gives a wrong picture. The hostile files are built small in a temporary folder."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile
import torch

from conftest import SAMPLES
from hostile_media import (clip_at_frame_rate, speech_like, variable_frame_rate_clip, wav_with_header_rate)
from nodes import NODE_CLASS_MAPPINGS
from nodes.detect_node import parse_manual_box
from nodes.tensors import audio_to_numpy, check_image
from wav2lip_core import cli
from wav2lip_core.audio import load_audio, num_output_frames, speech_mel_chunks, to_mono_16k
from wav2lip_core.checkpoints import CheckpointError, load_wav2lip
from wav2lip_core.cli import run as cli_run
from wav2lip_core.detection import detect_face_boxes, fixed_box_track
from wav2lip_core.runtime.devices import pick_device
from wav2lip_core.video.reading import VideoFrames, read_video
from wav2lip_core.video.writing import Mp4Writer

FACE = SAMPLES / "wav2lip_sample_face.mp4"
SPEECH = SAMPLES / "wav2lip_sample_speech.wav"
BOX = ["60", "230", "90", "230"]           # around the face of the sample clip (320x320)


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    """The command line in this process: ``run_cli(*args) -> (exit status, stderr)``."""
    monkeypatch.setattr(cli_run, "reuse_freed_heap_memory", lambda: False)   # the test process's heap stays as is

    def call(*args) -> tuple[int, str]:
        status = cli.main([str(arg) for arg in args])
        return status, capsys.readouterr().err
    return call


def assert_one_clear_line(message: str, *expected: str) -> None:
    assert "Traceback" not in message and "configuration:" not in message, message
    for text in expected:
        assert text in message, message


# ----------------------------------------------------------------------------------- never write over an input

@pytest.mark.parametrize("which", ["face", "audio", "face through a link", "face as a hard link", "checkpoint"])
def test_an_output_path_that_is_an_input_is_refused_and_the_input_is_untouched(tmp_path, run_cli,
                                                                               official_checkpoint, which):
    face, audio = tmp_path / "face.mp4", tmp_path / "speech.wav"
    face.write_bytes(FACE.read_bytes())
    audio.write_bytes(SPEECH.read_bytes())
    checkpoint = tmp_path / "generator.pth"
    checkpoint.write_bytes(official_checkpoint.read_bytes())
    outfile = {"face": face, "audio": audio, "checkpoint": checkpoint,
               "face through a link": tmp_path / "link.mp4", "face as a hard link": tmp_path / "hard.mp4"}[which]
    if which == "face through a link":
        outfile.symlink_to(face)
    elif which == "face as a hard link":
        os.link(face, outfile)
    before = {path: path.read_bytes() for path in (face, audio, checkpoint)}
    status, message = run_cli("--checkpoint", checkpoint, "--face", face, "--audio", audio, "--outfile", outfile,
                              "--box", *BOX)
    assert status == 1
    assert_one_clear_line(message, "is the same file as", "never replaces an input")
    assert {path: path.read_bytes() for path in before} == before


@pytest.mark.parametrize("which", ["the same name", "a link to it"])
def test_convert_never_writes_over_its_source(tmp_path, run_cli, official_checkpoint, which):
    source = tmp_path / "g.pth"
    source.write_bytes(official_checkpoint.read_bytes())
    destination = source if which == "the same name" else tmp_path / "link.pth"
    if which == "a link to it":
        destination.symlink_to(source)
    before = source.read_bytes()
    status, message = run_cli("convert", source, destination)
    assert status == 1
    assert_one_clear_line(message, "is the same file as source", "never replaces an input")
    assert source.read_bytes() == before


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, a folder nobody can write")
def test_convert_into_a_folder_that_cannot_be_written_is_one_line_naming_it(run_cli, official_checkpoint):
    status, message = run_cli("convert", official_checkpoint, "/proc/wav2lip.safetensors")
    assert status == 1 and message.count("\n") == 1
    assert_one_clear_line(message, "error: cannot write /proc/wav2lip.safetensors")


def test_a_failed_write_leaves_the_existing_output_untouched_and_no_temporary_file(tmp_path):
    existing = tmp_path / "result.mp4"
    existing.write_bytes(b"the user's earlier result")
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="frame shape"):
        with Mp4Writer(existing, 32, 32, 25) as writer:
            writer.write(frames)
            writer.write(np.zeros((2, 16, 16, 3), np.uint8))        # fails mid-way
    assert existing.read_bytes() == b"the user's earlier result"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.mp4"]


def test_the_output_appears_only_complete_under_its_name(tmp_path):
    out = tmp_path / "result.mp4"
    with Mp4Writer(out, 32, 32, 25) as writer:
        writer.write(np.full((5, 32, 32, 3), 128, np.uint8))
        assert not out.exists(), "nothing under the final name while ffmpeg is still writing"
    assert len(read_video(out)[0]) == 5
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.mp4"]


def test_an_output_under_a_file_or_an_output_that_is_a_folder_is_explained(tmp_path, run_cli, official_checkpoint):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", FACE, "--audio", SPEECH,
                              "--outfile", a_file / "out.mp4", "--box", *BOX)
    assert status == 1
    assert_one_clear_line(message, "notes.txt is a file")
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", FACE, "--audio", SPEECH,
                              "--outfile", tmp_path, "--box", *BOX)
    assert status == 1
    assert_one_clear_line(message, "is a folder")


# --------------------------------------------------------------------------------------------- bounded work

@pytest.mark.parametrize("stated_rate", [1, 100, 2_000_000])
def test_a_wav_header_with_an_absurd_sample_rate_is_refused_at_once(tmp_path, stated_rate):
    path = wav_with_header_rate(tmp_path / "lying.wav", speech_like(1.0), stated_rate)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="sample rate") as error:
        load_audio(path)
    assert time.perf_counter() - started < 5
    assert "4000..768000 Hz" in str(error.value)


def test_sample_rates_at_the_edges_of_the_range_are_accepted(tmp_path):
    assert len(load_audio(wav_with_header_rate(tmp_path / "low.wav", speech_like(0.5, 4000), 4000))) == 8000
    assert len(to_mono_16k(np.zeros(7680, np.float32), 768000)) == 160


@pytest.mark.parametrize("fps", [1e6, 1e5, 241, 0.5, 0.002, 0, float("nan")])
def test_frame_rates_outside_1_to_240_are_refused_before_any_work(fps):
    for length in ("speech", "original"):
        with pytest.raises(ValueError, match=r"outside the supported 1\.\.240 fps"):
            speech_mel_chunks(np.zeros(80000, np.float32), fps, length)
    with pytest.raises(ValueError, match="fps"):
        NODE_CLASS_MAPPINGS["AudioToMel"]().convert({"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000},
                                                    fps)


def test_a_still_image_with_an_absurd_fps_is_refused_in_a_second(tmp_path, run_cli, official_checkpoint):
    import cv2

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 120, np.uint8))
    started = time.perf_counter()
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", image, "--audio", SPEECH,
                              "--outfile", tmp_path / "out.mp4", "--fps", "1e6", "--box", "0", "32", "0", "32")
    assert status == 1 and time.perf_counter() - started < 10
    assert_one_clear_line(message, "--fps", "outside the supported 1..240 fps")
    assert not (tmp_path / "out.mp4").exists()


def test_a_video_container_stating_an_absurd_frame_rate_is_refused_with_what_to_do(tmp_path):
    clip = clip_at_frame_rate(tmp_path / "slow.mp4", "1/500")
    with pytest.raises(ValueError) as error:
        VideoFrames(clip)
    assert_one_clear_line(str(error.value), "states 0.002 fps", "Re-encode it at a constant frame rate")


def test_a_container_without_a_frame_rate_is_explained():
    from wav2lip_core.video.reading import _info

    with pytest.raises(ValueError, match="states no frame rate"):
        _info({"size": (64, 64), "fps": 0}, "clip.mp4")


# -------------------------------------------------------------------------------- messages, not tracebacks

@pytest.mark.parametrize("loop", ["loop", "pingpong"])
def test_a_variable_frame_rate_video_with_longer_audio_is_lip_synced(tmp_path, run_cli, official_checkpoint, loop):
    clip = variable_frame_rate_clip(tmp_path / "vfr.mp4")
    frames = VideoFrames(clip)
    forward = [frames[i].copy() for i in range(len(frames))]
    assert len(read_video(clip)[0]) == len(frames), "the count and the decoded frames agree"
    speech = tmp_path / "speech.wav"
    soundfile.write(speech, speech_like(1.6), 16000)
    out = tmp_path / "out.mp4"
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", clip, "--audio", speech,
                              "--outfile", out, "--box", "8", "88", "8", "88", "--loop", loop)
    assert status == 0, message
    written, fps = read_video(out)
    assert fps == pytest.approx(frames.info.fps, abs=0.01)
    assert len(written) == num_output_frames(25600, frames.info.fps) > len(forward)
    assert np.abs(written[0, :8].astype(int) - forward[0][:8]).mean() < 4, "outside the face: the source frame"


@pytest.mark.parametrize("option", ["--face", "--audio"])
def test_a_folder_given_as_input_is_called_a_folder(tmp_path, run_cli, official_checkpoint, option):
    inputs = {"--face": FACE, "--audio": SPEECH, option: tmp_path}
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", inputs["--face"], "--audio",
                              inputs["--audio"], "--outfile", tmp_path / "out.mp4", "--box", *BOX)
    assert status == 1
    assert_one_clear_line(message, option, "is a folder, not a file")


@pytest.mark.parametrize("device, said", [("meta", "cannot run on 'meta'"), ("nonsense", "not a device name"),
                                          ("cuda", "cuda")])
def test_a_device_this_machine_cannot_use_is_explained(tmp_path, run_cli, official_checkpoint, device, said):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", FACE, "--audio", SPEECH,
                              "--outfile", tmp_path / "out.mp4", "--box", *BOX, "--device", device)
    assert status == 1
    assert_one_clear_line(message, said, "use ")
    with pytest.raises(ValueError, match="device"):
        pick_device(device)


@pytest.mark.parametrize("resize_factor, said", [("1000", "larger than the 320x320 frame"),
                                                 ("0", "must be 1 or more")])
def test_a_resize_factor_that_leaves_nothing_is_explained(tmp_path, run_cli, official_checkpoint, resize_factor,
                                                          said):
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", FACE, "--audio", SPEECH,
                              "--outfile", tmp_path / "out.mp4", "--box", "0", "1", "0", "1",
                              "--resize_factor", resize_factor)
    assert status == 1
    assert_one_clear_line(message, "--resize_factor", said)


def test_a_crop_that_leaves_nothing_is_explained(tmp_path, run_cli, official_checkpoint):
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", FACE, "--audio", SPEECH,
                              "--outfile", tmp_path / "out.mp4", "--box", *BOX, "--crop", "500", "-1", "0", "-1")
    assert status == 1
    assert_one_clear_line(message, "--crop 500 -1 0 -1 leaves nothing")


@pytest.mark.parametrize("text", ["nan, 10, 0, 10", "0, inf, 0, 10", "1e400, 2, 3, 4", "0, 10, -inf, 5"])
def test_a_manual_box_with_nan_or_inf_is_explained(text):
    with pytest.raises(ValueError, match="manual_box must be four numbers"):
        parse_manual_box(text)


@pytest.mark.parametrize("box", [(float("nan"), 10, 0, 10), (0, 10**30, 0, 10), (0, 10, 0)])
def test_a_fixed_box_that_is_not_four_sane_numbers_is_explained(box):
    with pytest.raises(ValueError, match="box"):
        fixed_box_track(box, 3)


def test_audio_without_a_sample_rate_is_explained():
    for audio in ({"waveform": torch.zeros(1, 1, 16000)}, {"waveform": torch.zeros(1, 1, 16000), "sample_rate": None}):
        with pytest.raises(ValueError, match="no sample rate"):
            audio_to_numpy(audio)
    with pytest.raises(ValueError, match="sample rate of 1 Hz"):
        audio_to_numpy({"waveform": torch.zeros(1, 1, 16000), "sample_rate": 1})


def test_an_unreadable_video_gives_ffmpegs_one_relevant_line_not_its_banner(tmp_path):
    junk, empty, audio_only = tmp_path / "junk.bin", tmp_path / "empty.mp4", tmp_path / "audio_only.mp4"
    junk.write_bytes(b"not a video at all\n" * 300)
    empty.write_bytes(b"")
    audio_only.write_bytes(SPEECH.read_bytes())
    for path, said in ((junk, "Invalid data found"), (empty, "moov atom not found"),
                       (audio_only, "it has no video stream")):
        with pytest.raises(ValueError) as error:
            VideoFrames(path)
        assert_one_clear_line(str(error.value), "cannot be read as a video", said)
        assert "\n" not in str(error.value) and "ffmpeg version" not in str(error.value)


# ---------------------------------------------------------------------------------- faces at the frame edge

class ScriptedDetector:
    """A stand-in detector returning the given (x1, y1, x2, y2) detection for each frame (None = no face), in
    the order it is called: the tests detect on every frame (detect_every=1), in order."""
    name = "scripted"
    upscales_small_frames = False
    default_detect_size = None

    def __init__(self, detections):
        self.detections = list(detections)

    def detect(self, batch):
        found = [self.detections.pop(0) for _ in batch]
        return [np.zeros((0, 5)) if box is None else np.array([[*box, 0.99]], float) for box in found]


def test_a_face_reaching_past_the_frame_edge_is_clipped_to_the_frame():
    frames = np.zeros((3, 120, 160, 3), np.uint8)
    detections = [(130, 90, 190, 150), (-20, -30, 40, 30), (40, 40, 80, 80)]
    track = detect_face_boxes(frames, detector=ScriptedDetector(detections), pads=(0, 0, 0, 0), smoothing="none",
                              detect_every=1)
    assert track.found.all()
    assert track.boxes.tolist() == [[90, 120, 130, 160], [0, 30, 0, 40], [40, 80, 40, 80]]


def test_a_face_wholly_outside_the_frame_is_a_frame_without_a_face():
    frames = np.zeros((3, 120, 160, 3), np.uint8)
    detections = [(40, 40, 80, 80), (40, 125, 80, 170), (40, 40, 80, 80)]     # frame 1: below the frame
    skipped = detect_face_boxes(frames, detector=ScriptedDetector(detections), on_missing="skip", smoothing="none",
                                detect_every=1)
    assert skipped.found.tolist() == [True, False, True]
    with pytest.raises(ValueError, match="Face not detected in frame 1"):
        detect_face_boxes(frames, detector=ScriptedDetector(detections), on_missing="error", detect_every=1)


class SixFaces:
    """A stand-in detector finding six faces side by side in every frame."""
    name = "six faces"
    upscales_small_frames = False
    default_detect_size = None

    def detect(self, batch):
        return [np.array([[10 + 25 * k, 40, 30 + 25 * k, 60, 0.99] for k in range(6)], float) for _ in batch]


def test_a_face_index_beyond_the_faces_found_is_an_error_saying_how_many_were_found():
    frames = np.zeros((3, 120, 160, 3), np.uint8)
    with pytest.raises(ValueError) as error:
        detect_face_boxes(frames, detector=SixFaces(), face_index=9, detect_every=1)
    assert_one_clear_line(str(error.value), "face_index 9 (face number 10 from the left): at most 6 face(s) were "
                          "found in a frame", "face_index 0 to 5 picks one")
    with pytest.raises(ValueError) as error:
        detect_face_boxes(frames, detector=SixFaces(), face_index=6, on_missing="error", detect_every=1)
    assert_one_clear_line(str(error.value), "Face not detected in frame 0 (of 3) with face_index 6",
                          "6 face(s) were found in that frame")
    assert detect_face_boxes(frames, detector=SixFaces(), face_index=5, detect_every=1).found.all()


def test_the_detect_faces_node_names_the_faces_found_when_face_index_asks_for_more(monkeypatch):
    from wav2lip_core.detection import track

    monkeypatch.setattr(track, "make_detector", lambda *args, **kwargs: SixFaces())
    images = torch.full((3, 120, 160, 3), 0.5)
    with pytest.raises(ValueError, match=r"face_index 9 \(face number 10 from the left\): at most 6 face\(s\)"):
        NODE_CLASS_MAPPINGS["DetectFaces"]().detect(images, detector="dlib_hog", face_index=9)


def test_the_cli_names_the_faces_found_when_face_index_asks_for_more(tmp_path, run_cli, official_checkpoint,
                                                                     monkeypatch):
    import cv2

    from wav2lip_core.detection import track

    monkeypatch.setattr(track, "make_detector", lambda *args, **kwargs: SixFaces())
    portrait = tmp_path / "group.png"
    cv2.imwrite(str(portrait), np.full((120, 160, 3), 128, np.uint8))
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", portrait, "--audio", SPEECH,
                              "--outfile", tmp_path / "out.mp4", "--detector", "dlib_hog", "--face_index", "9")
    errors = [line for line in message.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert status == 1 and len(errors) == 1 and not (tmp_path / "out.mp4").exists()
    assert "face_index 9 (face number 10 from the left): at most 6 face(s) were found" in errors[0]
    assert "face_index 0 to 5 picks one" in errors[0]


def test_smoothing_a_face_moving_out_of_the_frame_stays_inside_it():
    frames = np.zeros((6, 120, 160, 3), np.uint8)
    detections = [(40, 10 + 20 * i, 80, 50 + 20 * i) for i in range(6)]       # sliding down, out at the bottom
    track = detect_face_boxes(frames, detector=ScriptedDetector(detections), smoothing="centered", detect_every=1)
    y1, y2, x1, x2 = track.boxes[track.found].T
    assert (y1 >= 0).all() and (y2 <= 120).all() and (y2 > y1).all() and (x2 <= 160).all()


# ------------------------------------------------------------------------------------ no silent wrong output

@pytest.mark.parametrize("damage, said", [
    ("negative variance", "BatchNorm variance tensor(s) hold negative values"),
    ("absurd magnitude", "beyond +-1e+06"),
    ("one large negative weight", "beyond +-1e+06"),        # the lowest value counts as much as the highest
])
def test_a_checkpoint_with_values_no_trained_network_has_is_refused(tmp_path, wav2lip_model, damage, said):
    state = {key: value.clone() for key, value in wav2lip_model.state_dict().items()}
    if damage == "negative variance":
        state["face_encoder_blocks.0.0.conv_block.1.running_var"][0] = -0.5
    elif damage == "absurd magnitude":
        state["output_block.0.conv_block.0.weight"] *= 1e9
    else:
        state["output_block.0.conv_block.0.weight"][0, 0, 0, 0] = -1e9
    torch.save({"state_dict": state}, tmp_path / "damaged.pth")
    with pytest.raises(CheckpointError, match=said.replace("+", r"\+").replace("(", r"\(").replace(")", r"\)")):
        load_wav2lip(tmp_path / "damaged.pth")


@pytest.mark.parametrize("path", ["cpu", "tensor"])
def test_paste_back_refuses_generated_faces_with_nan_or_infinite_values_naming_the_frames(monkeypatch, path):
    """As an upscaler in half precision can leave them: pasted, they became black patches with only numpy's
    cast warning (the CPU path) or a clamp (the tensor path a GPU runs)."""
    from nodes import model_management as mm
    from nodes.types import SyncPlan

    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", path == "tensor")
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.random((4, 64, 64, 3), dtype=np.float32))
    faces = torch.from_numpy(rng.random((4, 96, 96, 3), dtype=np.float32))
    faces[1, 40:60, 10:80] = float("nan")
    faces[3, 50, 50, 2] = float("inf")
    plan = SyncPlan(source_frames=np.arange(4), boxes=np.tile([8, 56, 8, 56], (4, 1)), found=np.ones(4, bool),
                    frame_height=64, frame_width=64, num_input_frames=4, loop="loop")
    with pytest.raises(ValueError) as error:
        NODE_CLASS_MAPPINGS["PasteBack"]().paste(images, faces, plan)
    assert_one_clear_line(str(error.value), "generated_faces: 2 of 4 faces hold NaN or infinite values",
                          "frame(s) 1, 3")
    faces[1], faces[3] = 0.5, 0.5
    output, _ = NODE_CLASS_MAPPINGS["PasteBack"]().paste(images, faces, plan)     # finite faces paste as usual
    assert bool(torch.isfinite(output).all())


def test_the_random_test_weights_pass_the_value_checks_by_a_wide_margin(wav2lip_model):
    from wav2lip_core.checkpoints.content import MAX_PLAUSIBLE_MAGNITUDE, implausible_value_problems, value_ranges

    ranges = value_ranges(wav2lip_model.state_dict())
    assert implausible_value_problems(ranges) == []
    assert max(max(-low, high) for low, high in ranges.values()) < MAX_PLAUSIBLE_MAGNITUDE / 1e4


def test_an_integer_image_or_one_in_0_to_255_is_refused_not_painted_out_of_range():
    with pytest.raises(TypeError, match="float values 0..1"):
        check_image(torch.full((2, 8, 8, 3), 200, dtype=torch.uint8), "images")
    with pytest.raises(ValueError, match="0..255"):
        check_image(torch.full((2, 8, 8, 3), 200.0), "images")
    check_image(torch.full((2, 8, 8, 3), 1.02), "images")      # a little overshoot (an upscaler's) is fine
    with pytest.raises(TypeError, match="float values"):
        NODE_CLASS_MAPPINGS["DetectFaces"]().detect(torch.zeros((1, 32, 32, 3), dtype=torch.uint8),
                                                    manual_box="0, 10, 0, 10")


def test_a_box_starting_with_minus_one_says_that_faces_will_be_detected(tmp_path, run_cli, official_checkpoint):
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", FACE, "--audio", SPEECH,
                              "--outfile", tmp_path, "--box", "-1", "100", "20", "80")
    assert "--box -1 100 20 80 starts with -1" in message and "faces are detected instead" in message


@pytest.mark.parametrize("policy", ["nearest", "error"])
def test_no_face_anywhere_is_a_clear_line_or_an_error_under_the_error_policy(tmp_path, run_cli, official_checkpoint,
                                                                             policy):
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((96, 96, 3), 128, np.uint8))
    out = tmp_path / "out.mp4"
    status, message = run_cli("--checkpoint", official_checkpoint, "--face", blank, "--audio", SPEECH,
                              "--outfile", out, "--detector", "dlib_hog", "--on_missing_face", policy)
    if policy == "error":
        assert status == 1 and not out.exists()
        assert_one_clear_line(message, "Face not detected in frame 0")
    else:
        assert status == 0 and out.exists()
        warning = [line for line in message.replace("\r", "\n").splitlines() if line.startswith("warning:")]
        assert len(warning) == 1 and "no face was found in any of the 1 face frame(s)" in warning[0]
