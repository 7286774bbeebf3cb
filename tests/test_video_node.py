"""Lip Sync Video (Wav2Lip): ComfyUI's VIDEO + AUDIO + the generator -> the lip-synced VIDEO, streamed through the
command line's own job (wav2lip_core.video_job) in flat memory. ComfyUI's VIDEO classes are stand-ins
(comfy_video_stand_ins.py); a file-backed one refuses to be decoded whole."""
from __future__ import annotations

import io
import subprocess
import tracemalloc
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch

import comfy_video_stand_ins as stand_ins
from conftest import SAMPLES, assert_within_one_lsb
from nodes import NODE_CLASS_MAPPINGS
from nodes import model_management as mm
from nodes.types import Wav2LipModel
from wav2lip_core.audio import load_audio, num_output_frames
from wav2lip_core.checkpoints import load_wav2lip
from wav2lip_core.cli import main as cli_main
from wav2lip_core.cli.checks import chosen_silence
from wav2lip_core.cli.run import build_parser
from wav2lip_core.runtime.ffmpeg import ffmpeg_exe
from wav2lip_core.video import writing as mp4_writer
from wav2lip_core.video.reading import read_video

FACE, SPEECH = SAMPLES / "wav2lip_sample_face.mp4", SAMPLES / "wav2lip_sample_speech.wav"
FACE_BOX = "60, 230, 90, 230"                  # around the face of the 320x320 sample (as test_cli's --box)
NODE = NODE_CLASS_MAPPINGS["LipSyncVideo"]


pytestmark = pytest.mark.usefixtures("no_interrupt_left_over")


@pytest.fixture
def comfy(monkeypatch, tmp_path):
    """ComfyUI's VIDEO classes and a temp folder of its own (what the node leaves there is checked)."""
    temp = tmp_path / "comfyui_temp"
    temp.mkdir()
    monkeypatch.setattr(mm, "temp_directory", lambda: temp)
    return SimpleNamespace(module=stand_ins.install(monkeypatch), temp=temp)


@pytest.fixture
def written(monkeypatch) -> list[np.ndarray]:
    """Every batch of frames the engine hands to the mp4 encoder (uint8 RGB (B, H, W, 3)), in order."""
    batches: list[np.ndarray] = []
    real_write = mp4_writer.Mp4Writer.write

    def write(self, frames):
        batches.append(np.array(frames))
        real_write(self, frames)
    monkeypatch.setattr(mp4_writer.Mp4Writer, "write", write)
    return batches


def load_audio_like_comfyui(path: Path) -> dict:
    """What Load Audio gives: float32 waveform (1, channels, samples) at the file's rate."""
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return {"waveform": torch.from_numpy(samples.T.copy())[None], "sample_rate": rate}


def widget_defaults() -> dict:
    values = {}
    for name, (kind, options) in NODE.INPUT_TYPES()["required"].items():
        if isinstance(kind, list):
            values[name] = options.get("default", kind[0])
        elif kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
            values[name] = options["default"]
    return values


def run_node(video, audio: dict, model: Wav2LipModel, **changes):
    (result,) = getattr(NODE(), NODE.FUNCTION)(video=video, audio=audio, wav2lip_model=model,
                                                **{**widget_defaults(), **changes})
    return result


def as_model(module: torch.nn.Module, name: str = "model.pth") -> Wav2LipModel:
    return Wav2LipModel(managed=mm.ManagedModel(module, name), path=Path(name), dtype=torch.float32)


class GreyGenerator(torch.nn.Module):
    """A fast stand-in generator (grey faces): the frames' way through the node is under test, not the network.
    ``on_call`` runs at each call."""

    def __init__(self, on_call=None):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        self.calls: list[int] = []
        self.on_call = on_call

    def forward(self, mel, face, first_row=0):
        self.calls.append(face.shape[0])
        if self.on_call is not None:
            self.on_call()
        return torch.full((face.shape[0], 3, 96 - first_row, 96), 0.5)


def make_clip(path: Path, seconds: float, size: str = "320x240") -> Path:
    """A test-pattern video whose every frame differs (ffmpeg's testsrc2), H.264 at 25 fps."""
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=25:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def noise_audio(seconds: float, rate: int = 16000) -> dict:
    samples = np.random.default_rng(0).uniform(-0.3, 0.3, (1, 1, int(seconds * rate))).astype(np.float32)
    return {"waveform": torch.from_numpy(samples), "sample_rate": rate}


# --- the node as ComfyUI sees it -------------------------------------------------------------------------------

def test_its_options_are_the_command_lines_with_the_same_defaults():
    args = build_parser().parse_args(["--checkpoint", "c.pth", "--face", "f.mp4", "--audio", "a.wav"])
    cli = {"detector": args.detector, "detect_every": args.detect_every, "tracking": args.tracking,
           "blend": args.blend, "color_match": args.color_match, "silence": chosen_silence(args),
           "silence_db": args.silence_db, "loop": args.loop, "offset_frames": args.offset_frames,
           "batch_size": args.wav2lip_batch_size, "manual_box": "", "length": args.length}
    assert widget_defaults() == cli
    spec = NODE.INPUT_TYPES()["required"]
    assert [spec[name][0] for name in ("video", "audio", "wav2lip_model")] == ["VIDEO", "AUDIO", "WAV2LIP_MODEL"]
    assert NODE.RETURN_TYPES == ("VIDEO",)


def test_it_writes_what_the_command_line_writes_for_the_same_options(comfy, written, tmp_path, official_checkpoint,
                                                                     speech_16k):
    pytest.importorskip("dlib")
    face = tmp_path / "face_12_frames.mp4"      # shorter than the speech, so the loop mode decides what plays
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(FACE), "-frames:v", "12", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(face)], check=True)
    speech = tmp_path / "speech.wav"             # 1 s with a word, a pause and the next word
    soundfile.write(str(speech), speech_16k[4000:20000], 16000, subtype="FLOAT")
    options = dict(detector="dlib_hog", detect_every=5, tracking="flow", blend="mouth", color_match=True,
                   silence="keep", silence_db=-40.0, loop="pingpong", offset_frames=2, batch_size=8)
    cli_out = tmp_path / "cli.mp4"
    assert cli_main(["--checkpoint", str(official_checkpoint), "--face", str(face), "--audio", str(speech),
                     "--outfile", str(cli_out), "--detector", "dlib_hog", "--detect_every", "5", "--tracking",
                     "flow", "--blend", "mouth", "--color_match", "--silence", "keep", "--silence_db", "-40",
                     "--loop", "pingpong", "--offset_frames", "2", "--wav2lip_batch_size", "8"]) == 0
    cli_frames = np.concatenate(written)
    written.clear()

    video = run_node(comfy.module.VideoFromFile(str(face)), load_audio_like_comfyui(speech),
                     as_model(load_wav2lip(official_checkpoint)), **options)
    node_frames = np.concatenate(written)
    assert len(cli_frames) > 12
    assert_within_one_lsb(node_frames, cli_frames)
    node_out = Path(video.get_stream_source())
    assert len(read_video(node_out)[0]) == len(read_video(cli_out)[0]) == len(node_frames)
    assert abs(len(load_audio(node_out)) - len(load_audio(cli_out))) < 0.05 * 16000, "the speech is its sound"


def test_it_returns_a_file_backed_video_in_comfyuis_temp_folder_and_leaves_nothing_else_there(comfy, speech):
    video = run_node(comfy.module.VideoFromFile(str(FACE)), {"waveform": torch.from_numpy(speech)[None, None],
                                                              "sample_rate": 16000}, as_model(GreyGenerator()),
                     manual_box=FACE_BOX)
    assert isinstance(video, comfy.module.VideoFromFile)
    path = Path(video.get_stream_source())
    assert [entry.name for entry in comfy.temp.iterdir()] == [path.name] and path.suffix == ".mp4"
    frames, fps = read_video(path)
    assert fps == 25 and frames.shape == (14, 320, 320, 3)                 # 0.55 s of speech: 14 frames


# --- streaming ----------------------------------------------------------------------------------------------

def test_a_clip_larger_than_its_memory_budget_streams_through_without_being_decoded_whole(comfy, tmp_path,
                                                                                         monkeypatch):
    clip = make_clip(tmp_path / "long.mp4", seconds=30, size="640x360")        # 750 frames
    frame_bytes = 640 * 360 * 3
    # Alive at once: a decoding window (64 frames) and its read-ahead (16); a step being pasted, one being encoded
    # and two in the encoder's queue (16 each); the speech's mel (a small fraction of a frame per frame).
    budget = 200 * frame_bytes
    assert 750 * frame_bytes > 3.5 * budget
    batch_sizes: list[int] = []
    real_write = mp4_writer.Mp4Writer.write
    monkeypatch.setattr(mp4_writer.Mp4Writer, "write",
                        lambda self, frames: (batch_sizes.append(len(frames)), real_write(self, frames))[1])
    generator = GreyGenerator()
    tracemalloc.start()
    try:
        video = run_node(comfy.module.VideoFromFile(str(clip)), noise_audio(30), as_model(generator),
                         manual_box="40, 200, 80, 240")
        _, peak = tracemalloc.get_traced_memory()       # numpy arrays and the decoder's bytes (not torch's)
    finally:
        tracemalloc.stop()
    assert peak < budget, f"{peak / 2**20:.0f} MB held at the peak for a {750 * frame_bytes / 2**20:.0f} MB clip"
    frames = num_output_frames(30 * 16000, 25.0)                        # as many as the speech has (750)
    assert sum(batch_sizes) == frames and max(batch_sizes) <= 16
    assert sum(generator.calls) == frames
    assert len(read_video(Path(video.get_stream_source()))[0]) == frames


# --- cancel --------------------------------------------------------------------------------------------------

def test_cancel_while_generating_stops_after_the_step_and_leaves_no_file(comfy, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=4)          # 100 frames: several steps of 16
    generator = GreyGenerator(on_call=mm.request_interrupt)
    with pytest.raises(mm.InterruptedByUser):
        run_node(comfy.module.VideoFromFile(str(clip)), noise_audio(4), as_model(generator),
                 manual_box="40, 200, 80, 240")
    assert sum(generator.calls) <= 16, "one step of frames at most after the cancel"
    assert list(comfy.temp.iterdir()) == [], "no output, no partial file, no scratch file"


def test_cancel_while_detecting_faces_leaves_no_file(comfy, generator, speech, monkeypatch):
    from wav2lip_core.detection.dlib_detectors import DlibHOGDetector

    def detect(self, batch):
        mm.request_interrupt()
        return [np.array([[90.0, 60.0, 230.0, 230.0, 0.9]]) for _ in batch]   # no dlib run: a fixed face
    monkeypatch.setattr(DlibHOGDetector, "detect", detect)
    with pytest.raises(mm.InterruptedByUser):
        run_node(comfy.module.VideoFromFile(str(FACE)), {"waveform": torch.from_numpy(speech)[None, None],
                                                          "sample_rate": 16000}, generator, detector="dlib_hog")
    assert list(comfy.temp.iterdir()) == []


# --- every kind of VIDEO -------------------------------------------------------------------------------------

def _face_frames_as_image() -> torch.Tensor:
    return torch.from_numpy(read_video(FACE)[0]).float() / 255.0


VIDEO_KINDS = {
    "a path (Load Video)": (stand_ins.VideoFromFile, lambda: stand_ins.VideoFromFile(str(FACE))),
    "a BytesIO": (stand_ins.VideoFromFile, lambda: stand_ins.VideoFromFile(io.BytesIO(FACE.read_bytes()))),
    "ComfyUI 0.3 (no get_stream_source)": (stand_ins.OldVideoFromFile, lambda: stand_ins.OldVideoFromFile(FACE)),
    "an IMAGE (Create Video)": (stand_ins.VideoFromFile, lambda: stand_ins.VideoFromComponents(
        stand_ins.VideoComponents(images=_face_frames_as_image(), audio=None, frame_rate=Fraction(25)))),
}


@pytest.fixture(scope="module")
def grey_model() -> Wav2LipModel:
    return as_model(GreyGenerator())


def lip_sync_frames(video_class: type, make_video, folder: Path, speech: np.ndarray, model: Wav2LipModel
                    ) -> np.ndarray:
    """The frames the node hands to the encoder for the VIDEO ``make_video()`` makes, in a ComfyUI whose
    VideoFromFile is ``video_class``; only the result stays in its temp folder."""
    with pytest.MonkeyPatch.context() as patch:
        folder.mkdir(parents=True)
        patch.setattr(mm, "temp_directory", lambda: folder)
        stand_ins.install(patch, video_from_file=video_class)
        batches: list[np.ndarray] = []
        real_write = mp4_writer.Mp4Writer.write
        patch.setattr(mp4_writer.Mp4Writer, "write",
                      lambda self, frames: (batches.append(np.array(frames)), real_write(self, frames))[1])
        run_node(make_video(), {"waveform": torch.from_numpy(speech)[None, None], "sample_rate": 16000}, model,
                 manual_box=FACE_BOX, loop="pingpong")
    assert len(list(folder.iterdir())) == 1, "only the result stays"
    return np.concatenate(batches)


@pytest.fixture(scope="module")
def frames_from_a_path(tmp_path_factory, speech, grey_model) -> np.ndarray:
    return lip_sync_frames(*VIDEO_KINDS["a path (Load Video)"], tmp_path_factory.mktemp("path") / "temp", speech,
                           grey_model)


@pytest.mark.parametrize("kind", [kind for kind in VIDEO_KINDS if kind != "a path (Load Video)"])
def test_every_kind_of_video_gives_the_frames_a_path_gives(kind, tmp_path, speech, grey_model, frames_from_a_path):
    assert_within_one_lsb(lip_sync_frames(*VIDEO_KINDS[kind], tmp_path / "temp", speech, grey_model),
                         frames_from_a_path)


def test_a_trimmed_video_lip_syncs_only_its_window(comfy, written, tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip.mp4", seconds=4)
    source = read_video(clip)[0]
    stand_ins.install(monkeypatch, video_from_file=stand_ins.TrimmedVideoFromFile)     # newer ComfyUI
    trimmed = stand_ins.TrimmedVideoFromFile(str(clip), start_time=2.0, duration=1.0)      # frames 50..74
    run_node(trimmed, noise_audio(1.6), as_model(GreyGenerator()), manual_box="0, 40, 0, 40", loop="loop")
    frames = np.concatenate(written)                         # the 25 frames of the window, looped
    assert len(frames) > 25
    outside = (slice(None), slice(40, None))                 # below the box: the frames as they came in
    looped = np.arange(len(frames)) % 25
    assert np.abs(frames[outside].astype(int) - source[50:75][looped][outside]).mean() < 3
    assert np.abs(frames[outside].astype(int) - source[looped][outside]).mean() > 10


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_the_audio_becomes_a_wav_of_every_channel_at_its_own_rate_written_a_block_at_a_time(dtype, tmp_path,
                                                                                             monkeypatch):
    from nodes import video_input

    monkeypatch.setattr(video_input, "AUDIO_BLOCK_SAMPLES", 1000)
    rng = np.random.default_rng(1)
    floats = rng.uniform(-0.5, 0.5, (2, 4321)).astype(np.float32)
    samples = floats if dtype == np.float32 else np.round(floats * 32768).astype(np.int16)
    path = video_input.write_audio_file(samples, 44100, tmp_path / "speech.wav")
    read, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    expected = floats if dtype == np.float32 else samples.astype(np.float32) / 32768
    assert rate == 44100 and read.shape == (4321, 2)
    np.testing.assert_array_equal(read.T, expected)
