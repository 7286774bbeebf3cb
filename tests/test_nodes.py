"""The ComfyUI nodes, driven the way ComfyUI drives them (no ComfyUI needed): INPUT_TYPES, then FUNCTION with
ComfyUI types (IMAGE float32 (B, H, W, 3) 0..1 RGB, AUDIO dicts), outputs of the declared types."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_within_one_lsb, astronaut_clip
from nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from nodes import model_management as mm
from nodes.types import CUSTOM_TYPES, FaceBoxes, MelChunks, SyncPlan, Wav2LipModel
from wav2lip_core import pipeline
from wav2lip_core.audio import speech_mel_chunks, to_mono_16k
from wav2lip_core.checkpoints import CheckpointError
from wav2lip_core.compositing.faces import crop_face
from wav2lip_core.detection import detect_face_boxes
from wav2lip_core.pipeline import lipsync

BOX = (30, 110, 40, 108)  # y1, y2, x1, x2 around the astronaut's face in the 128x128 clip
BOX_TEXT = "30, 110, 40, 108"
FPS = 25.0
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
PYTHON_TYPES = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


# --- helpers: ComfyUI values ----------------------------------------------------------------------------------

def as_image(frames_uint8: np.ndarray) -> torch.Tensor:
    """What ComfyUI's loaders produce: float32 (B, H, W, 3) = uint8 / 255."""
    return torch.from_numpy(frames_uint8).float() / 255.0


def as_audio(samples: np.ndarray, rate: int) -> dict:
    """AUDIO dict: waveform (1, C, T) float32."""
    samples = np.atleast_2d(samples).astype(np.float32)
    return {"waveform": torch.from_numpy(samples)[None], "sample_rate": rate}


def as_uint8(image: torch.Tensor) -> np.ndarray:
    return (image * 255).round().to(torch.uint8).numpy()


def run(node_name: str, **inputs):
    """Call a node like ComfyUI: a fresh instance, FUNCTION by name, keyword inputs; check the output types."""
    cls = NODE_CLASS_MAPPINGS[node_name]
    outputs = getattr(cls(), cls.FUNCTION)(**inputs)
    assert isinstance(outputs, tuple) and len(outputs) == len(cls.RETURN_TYPES)
    for value, kind in zip(outputs, cls.RETURN_TYPES):
        if kind == "IMAGE":
            assert value.dtype == torch.float32 and value.ndim == 4 and value.shape[-1] == 3
            assert value.device == mm.intermediate_device()
            assert 0.0 <= float(value.min()) and float(value.max()) <= 1.0
        elif kind == "MASK":
            assert isinstance(value, mm.DisabledOutput) or (value.dtype == torch.float32 and value.ndim == 3)
        elif kind in PYTHON_TYPES:
            assert type(value) is PYTHON_TYPES[kind]
        else:
            expected = {"WAV2LIP_MODEL": Wav2LipModel, "WAV2LIP_MEL": MelChunks, "WAV2LIP_FACES": FaceBoxes,
                        "WAV2LIP_SYNC": SyncPlan}[kind]
            assert isinstance(value, expected)
    return outputs


def defaults(node_name: str) -> dict:
    """The default value of every widget input (as a freshly added node has them)."""
    spec = NODE_CLASS_MAPPINGS[node_name].INPUT_TYPES()["required"]
    values = {}
    for name, (kind, options) in spec.items():
        if isinstance(kind, list):
            values[name] = options.get("default", kind[0])
        elif kind in WIDGET_TYPES:
            values[name] = options["default"]
    return values


def chain(generator, clip, wav, *, loop="loop", blend="feather", batch_size=8, mask="changed region", **detect):
    """All five nodes (the model given), as a workflow wires them; returns every output."""
    images = as_image(clip)
    mel, frame_count, fps = run("AudioToMel", audio=as_audio(wav, 16000), fps=FPS)
    options = {**defaults("DetectFaces"), "manual_box": BOX_TEXT, **detect}
    faces, crops = run("DetectFaces", images=images, frame_count=frame_count, **options)
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          loop_mode=loop, batch_size=batch_size)
    frames, mask = run("PasteBack", images=images, generated_faces=generated, sync=plan, blend=blend, mask=mask)
    return dict(mel=mel, frame_count=frame_count, faces=faces, crops=crops, generated=generated, plan=plan,
                frames=frames, mask=mask)


# --- the node classes as ComfyUI sees them -----------------------------------------------------------------

def test_every_node_declares_what_comfyui_needs_with_a_tooltip_on_every_input():
    assert set(NODE_CLASS_MAPPINGS) == {"LoadWav2LipModel", "AudioToMel", "DetectFaces", "Wav2LipSync", "PasteBack",
                                        "LipSyncScore", "LipSyncVideo"}
    for name, cls in NODE_CLASS_MAPPINGS.items():
        assert NODE_DISPLAY_NAME_MAPPINGS[name]
        assert cls.CATEGORY == "Wav2Lip" and callable(getattr(cls, cls.FUNCTION))
        assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional", "hidden"}
        assert set(spec.pop("hidden", {}).values()) <= {"PROMPT", "UNIQUE_ID"}, "hidden: what ComfyUI fills in"
        for section in spec.values():
            for input_name, (kind, options) in section.items():
                assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"
                if isinstance(kind, list):
                    assert kind and options.get("default", kind[0]) in kind
                else:
                    assert kind in WIDGET_TYPES | {"IMAGE", "AUDIO", "VIDEO", *CUSTOM_TYPES}
                    if kind in ("INT", "FLOAT") and not options.get("forceInput"):
                        assert options["min"] <= options["default"] <= options["max"]


def test_the_package_imports_without_comfyui():
    assert not mm.IN_COMFYUI
    assert mm.compute_device().type in ("cpu", "cuda", "mps")
    assert mm.pick_dtype("auto", torch.device("cpu")) == torch.float32
    assert mm.pick_dtype("bf16", torch.device("cpu")) == torch.bfloat16


# --- AudioToMel --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate, channels", [(44100, 2), (24000, 1), (16000, 1)])
def test_audio_at_any_rate_mono_or_stereo_gives_the_engines_mel_chunks(speech, rate, channels):
    import librosa
    mono = librosa.resample(speech, orig_sr=16000, target_sr=rate) if rate != 16000 else speech
    samples = np.stack([mono, mono * 0.5])[:channels]
    mel, frame_count, fps = run("AudioToMel", audio=as_audio(samples, rate), fps=FPS)
    expected = speech_mel_chunks(to_mono_16k(samples, rate), FPS)
    np.testing.assert_array_equal(mel.chunks, expected)
    assert frame_count == mel.num_frames == len(expected) == 14 and fps == FPS


def test_integer_pcm_from_a_video_track_is_scaled_like_float_audio(speech):
    pcm = np.round(speech * 32767).astype(np.int16)
    from_int, *_ = run("AudioToMel", audio={"waveform": torch.from_numpy(pcm)[None, None], "sample_rate": 16000},
                       fps=FPS)
    from_float, *_ = run("AudioToMel", audio=as_audio(pcm / 32768.0, 16000), fps=FPS)
    np.testing.assert_allclose(from_int.chunks, from_float.chunks, atol=1e-5)


def test_missing_or_batched_audio_gets_a_message_saying_what_to_connect(speech):
    node = NODE_CLASS_MAPPINGS["AudioToMel"]()
    with pytest.raises(ValueError, match="Load Audio"):
        node.convert(None, FPS)
    two = {"waveform": torch.zeros(2, 1, 16000), "sample_rate": 16000}
    with pytest.raises(ValueError, match="one voice track"):
        node.convert(two, FPS)
    with pytest.raises(ValueError, match="too short"):
        node.convert(as_audio(speech[:1000], 16000), FPS)


# --- DetectFaces ---------------------------------------------------------------------------------------------

def test_a_manual_box_is_used_on_every_frame_and_the_crops_are_the_engines_crops_over_255():
    clip = astronaut_clip(5)
    faces, crops = run("DetectFaces", images=as_image(clip), **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    assert faces.boxes.tolist() == [list(BOX)] * 5 and faces.found.all()
    assert (faces.frame_height, faces.frame_width) == (128, 128)
    expected = np.stack([crop_face(frame, BOX) for frame in clip])
    np.testing.assert_array_equal(as_uint8(crops), expected)


def test_frames_past_the_audio_are_not_detected_or_cropped():
    faces, crops = run("DetectFaces", images=as_image(astronaut_clip(9)), frame_count=4,
                       **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    assert faces.num_frames == 4 and crops.shape == (4, 96, 96, 3)


def test_a_box_outside_the_frame_or_a_malformed_box_is_explained():
    node = NODE_CLASS_MAPPINGS["DetectFaces"]()
    images = as_image(astronaut_clip(2))
    with pytest.raises(ValueError, match="does not fit"):
        node.detect(images, **{**defaults("DetectFaces"), "manual_box": "0, 500, 0, 50"})
    with pytest.raises(ValueError, match="four numbers"):
        node.detect(images, **{**defaults("DetectFaces"), "manual_box": "10, 20, 30"})


def test_s3fd_detection_runs_through_the_node_and_matches_the_engines_tracker(random_s3fd_folder, monkeypatch):
    monkeypatch.setattr(mm, "model_search_dirs", lambda: [random_s3fd_folder])
    clip = astronaut_clip(4)
    options = {**defaults("DetectFaces"), "on_missing": "skip", "smoothing": "none"}
    faces, crops = run("DetectFaces", images=as_image(clip), **options)
    track = detect_face_boxes(clip, detector="s3fd", weights_path=random_s3fd_folder / "s3fd.pth",
                              allow_download=False, on_missing="skip", smoothing="none")
    np.testing.assert_array_equal(faces.boxes, track.boxes)
    np.testing.assert_array_equal(faces.found, track.found)
    assert crops.shape == (4, 96, 96, 3)
    assert not crops[torch.from_numpy(~faces.found)].any()     # frames without a face: black crops


# --- the whole chain equals the engine ---------------------------------------------------------------------

@pytest.mark.parametrize("num_frames, loop, blend", [
    (6, "loop", "feather"),          # audio longer than the video: the video loops
    (6, "pingpong", "original"),     # ... or plays back and forth; the original's hard paste
    (16, "loop", "original"),        # video longer than the audio: cut
    (1, "loop", "feather"),          # a still image
])
def test_the_five_nodes_give_what_the_engines_lipsync_gives(generator, wav2lip_model, speech, num_frames, loop,
                                                             blend, monkeypatch):
    """Exactly where both run the same computation: the node generates whole faces (its IMAGE is the user's), as
    the engine does for the original paste and when told its paste reads every face row. The engine's default
    generates only the rows its feather blend reads: other convolution shapes, which float32 rounds differently
    per CPU, so that comparison follows the README's parity rule (within 1 LSB on at most 0.1 % of values)."""
    clip = astronaut_clip(num_frames)
    out = chain(generator, clip, speech, loop=loop, blend=blend, batch_size=8)
    frames = as_uint8(out["frames"])
    expected = lipsync(clip, speech, FPS, wav2lip_model, box=BOX, loop=loop, blend=blend, batch_size=8)
    assert frames.shape == expected.shape and out["frame_count"] == len(expected)
    assert out["generated"].shape == (len(expected), 96, 96, 3)
    assert_within_one_lsb(frames, expected)
    monkeypatch.setattr(pipeline, "first_face_row_read", lambda *args, **kwargs: 0)
    whole_faces = lipsync(clip, speech, FPS, wav2lip_model, box=BOX, loop=loop, blend=blend, batch_size=8)
    np.testing.assert_array_equal(frames, whole_faces)


def test_the_chain_with_detection_equals_lipsync_with_the_same_detection_options(generator, wav2lip_model, speech,
                                                                               random_s3fd_folder, monkeypatch):
    monkeypatch.setattr(mm, "model_search_dirs", lambda: [random_s3fd_folder])
    clip = astronaut_clip(5)
    out = chain(generator, clip, speech, manual_box="", on_missing="nearest", smoothing="centered")
    boxes = detect_face_boxes(clip, detector="s3fd", weights_path=random_s3fd_folder / "s3fd.pth",
                              allow_download=False)
    expected = lipsync(clip, speech, FPS, wav2lip_model, batch_size=8, face_boxes=boxes)
    assert_within_one_lsb(as_uint8(out["frames"]), expected)      # lower face against whole faces, as above
    monkeypatch.setattr(pipeline, "first_face_row_read", lambda *args, **kwargs: 0)
    whole_faces = lipsync(clip, speech, FPS, wav2lip_model, batch_size=8, face_boxes=boxes)
    np.testing.assert_array_equal(as_uint8(out["frames"]), whole_faces)


def test_paste_back_follows_the_loop_mode_chosen_in_wav2lip_sync(generator, speech):
    out = chain(generator, astronaut_clip(4), speech, loop="pingpong")
    assert out["plan"].loop == "pingpong"
    assert out["plan"].source_frames.tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]


def test_the_mask_covers_the_face_box_only(generator, speech):
    out = chain(generator, astronaut_clip(3), speech, blend="original")
    y1, y2, x1, x2 = BOX
    mask = out["mask"].numpy().copy()
    assert mask.shape == (out["frame_count"], 128, 128)
    assert (mask[:, y1:y2, x1:x2] == 1).all()
    mask[:, y1:y2, x1:x2] = 0
    assert not mask.any()
    feathered = chain(generator, astronaut_clip(3), speech, blend="feather")["mask"]
    assert 0 < float(feathered.mean()) < float(out["mask"].mean())


def test_the_mask_is_off_by_default_and_a_node_using_it_is_told_how_to_switch_it_on(generator, speech):
    """A 1080p float mask costs a third of the output images' memory, so it is only made when asked for."""
    assert defaults("PasteBack")["mask"] == "off"
    with_mask = chain(generator, astronaut_clip(3), speech, mask="changed region")
    without = chain(generator, astronaut_clip(3), speech, mask="off")
    assert torch.equal(with_mask["frames"], without["frames"])
    assert isinstance(without["mask"], mm.DisabledOutput)
    assert "'mask' to 'changed region'" in without["mask"].message


def test_pixels_outside_the_face_box_keep_their_exact_float_values(generator, speech):
    """Images from a float source (an upscaler, a 10-bit video) are not rounded to 8 bits outside the face."""
    clip = astronaut_clip(3)
    mel, *_ = run("AudioToMel", audio=as_audio(speech, 16000), fps=FPS)
    images = as_image(clip) + 0.3 / 255          # between two 8-bit levels
    images.clamp_(0, 1)
    faces, crops = run("DetectFaces", images=images, **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          loop_mode="loop", batch_size=8)
    frames, _ = run("PasteBack", images=images, generated_faces=generated, sync=plan, blend="feather")
    y1, y2, x1, x2 = BOX
    outside = torch.ones(frames.shape[1:3], dtype=torch.bool)
    outside[y1:y2, x1:x2] = False
    expected = images[torch.tensor(plan.source_frames, dtype=torch.long)]
    assert torch.equal(frames[:, outside], expected[:, outside])
    assert not torch.equal(frames[:, y1:y2, x1:x2], expected[:, y1:y2, x1:x2])


def test_frames_without_a_face_pass_through_unchanged_with_an_empty_mask(generator, speech):
    clip = astronaut_clip(4)
    images = as_image(clip)
    mel, *_ = run("AudioToMel", audio=as_audio(speech, 16000), fps=FPS)
    faces = FaceBoxes(boxes=np.tile(BOX, (4, 1)), found=np.array([True, False, True, False]),
                      frame_height=128, frame_width=128)
    crops = as_image(np.stack([crop_face(f, BOX) if k in (0, 2) else np.zeros((96, 96, 3), np.uint8)
                               for k, f in enumerate(clip)]))
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          loop_mode="loop", batch_size=16)
    frames, mask = run("PasteBack", images=images, generated_faces=generated, sync=plan, blend="feather",
                       mask="changed region")
    without_face = np.flatnonzero(~plan.found)
    np.testing.assert_array_equal(as_uint8(frames[without_face]), clip[plan.source_frames[without_face]])
    assert not mask[without_face].any() and mask[np.flatnonzero(plan.found)].any()


# --- ComfyUI's rules: no mutation, interruption, OOM, mismatched inputs ---------------------------------------

def test_no_node_modifies_its_input_tensors(generator, speech):
    clip = astronaut_clip(5)
    images = as_image(clip)
    audio = as_audio(speech, 16000)
    snapshot_images, snapshot_wave = images.clone(), audio["waveform"].clone()
    mel, frame_count, _ = run("AudioToMel", audio=audio, fps=FPS)
    faces, crops = run("DetectFaces", images=images, frame_count=frame_count,
                       **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    snapshot_crops = crops.clone()
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          loop_mode="loop", batch_size=8)
    snapshot_generated = generated.clone()
    run("PasteBack", images=images, generated_faces=generated, sync=plan, blend="original")
    assert torch.equal(images, snapshot_images) and torch.equal(audio["waveform"], snapshot_wave)
    assert torch.equal(crops, snapshot_crops) and torch.equal(generated, snapshot_generated)
    for shared in (mel.chunks, faces.boxes, faces.found, plan.source_frames, plan.boxes):
        assert not shared.flags.writeable


class _CountingModel(torch.nn.Module):
    """Wraps the generator; calls ``on_call(batch)`` before every forward pass."""

    def __init__(self, inner: torch.nn.Module, on_call):
        super().__init__()
        self.inner, self.on_call, self.batches = inner, on_call, []

    def forward(self, mel, face, first_row=0):
        self.on_call(face.shape[0])
        self.batches.append(face.shape[0])
        return self.inner(mel, face, first_row)


def _sync_with(model: torch.nn.Module, speech: np.ndarray, batch_size: int):
    clip = astronaut_clip(6)
    mel, frame_count, _ = run("AudioToMel", audio=as_audio(speech, 16000), fps=FPS)
    faces, crops = run("DetectFaces", images=as_image(clip), **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    wrapped = Wav2LipModel(managed=mm.ManagedModel(model, "wrapped"), path=Path("w.pth"), dtype=torch.float32)
    return run("Wav2LipSync", wav2lip_model=wrapped, faces=faces, face_crops=crops, mel=mel, loop_mode="loop",
               batch_size=batch_size)


def test_cancel_stops_the_generator_between_batches(wav2lip_model, speech):
    model = _CountingModel(wav2lip_model, lambda batch: mm.request_interrupt())
    with pytest.raises(mm.InterruptedByUser):
        _sync_with(model, speech, batch_size=4)
    assert model.batches == [4]            # the first batch finished, no second one started (14 frames)
    mm.throw_if_interrupted()              # the request was consumed: the next run is not cancelled


def test_cancel_stops_face_detection_after_the_current_batch_and_paste_back_before_its_next(
        random_s3fd_folder, monkeypatch, generator, speech):
    from wav2lip_core.detection.s3fd import S3FDDetector
    monkeypatch.setattr(mm, "model_search_dirs", lambda: [random_s3fd_folder])
    batches = []
    original_detect = S3FDDetector.detect
    monkeypatch.setattr(S3FDDetector, "detect", lambda self, frames: batches.append(len(frames)) or
                        original_detect(self, frames))
    mm.request_interrupt()
    with pytest.raises(mm.InterruptedByUser):
        run("DetectFaces", images=as_image(astronaut_clip(4)), **{**defaults("DetectFaces"), "batch_size": 1})
    assert batches == [1]
    out = chain(generator, astronaut_clip(2), speech)
    mm.request_interrupt()
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["PasteBack"]().paste(as_image(astronaut_clip(2)), out["generated"], out["plan"])


def test_out_of_memory_halves_the_batch_and_gives_the_same_faces(wav2lip_model, speech):
    def fail_when_large(batch):
        if batch > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
    model = _CountingModel(wav2lip_model, fail_when_large)
    shrunk, _ = _sync_with(model, speech, batch_size=8)
    reference, _ = _sync_with(wav2lip_model, speech, batch_size=8)
    assert model.batches[0] == 2 and max(model.batches) == 2    # shrunk once, then kept
    torch.testing.assert_close(shrunk, reference, rtol=0, atol=1e-4)   # only batch-size rounding differs


def test_outputs_of_different_detect_faces_runs_cannot_be_mixed(generator, speech):
    clip = astronaut_clip(4)
    mel, *_ = run("AudioToMel", audio=as_audio(speech, 16000), fps=FPS)
    faces, crops = run("DetectFaces", images=as_image(clip), **{**defaults("DetectFaces"), "manual_box": BOX_TEXT})
    with pytest.raises(ValueError, match="same Detect Faces"):
        NODE_CLASS_MAPPINGS["Wav2LipSync"]().sync(generator, faces, crops[:2], mel)
    generated, plan = run("Wav2LipSync", wav2lip_model=generator, faces=faces, face_crops=crops, mel=mel,
                          loop_mode="loop", batch_size=32)
    with pytest.raises(ValueError, match="Detect Faces"):
        NODE_CLASS_MAPPINGS["PasteBack"]().paste(as_image(astronaut_clip(4, size=64)), generated, plan)


# --- LoadWav2LipModel ------------------------------------------------------------------------------------------

@pytest.fixture()
def model_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "wav2lip"
    folder.mkdir()
    monkeypatch.setattr(mm, "model_search_dirs", lambda: [folder])
    monkeypatch.setattr(mm, "download_dir", lambda: folder)
    return folder


def test_auto_precision_inside_comfyui_is_fp16_where_comfyui_uses_it_and_never_bf16(monkeypatch):
    class FakeComfy:
        def __init__(self, fp16: bool):
            self.fp16 = fp16

        def should_use_fp16(self, device):
            return self.fp16

        def should_use_bf16(self, device):
            return True

    monkeypatch.setattr(mm, "IN_COMFYUI", True)
    monkeypatch.setattr(mm, "comfy_mm", FakeComfy(fp16=True))
    assert mm.pick_dtype("auto", torch.device("cuda")) == torch.float16
    monkeypatch.setattr(mm, "comfy_mm", FakeComfy(fp16=False))
    assert mm.pick_dtype("auto", torch.device("cuda")) == torch.float32
    assert mm.pick_dtype("bf16", torch.device("cuda")) == torch.bfloat16


def test_the_loader_lists_the_folder_and_the_known_models_and_loads_in_the_chosen_precision(
        model_folder, official_checkpoint, wav2lip_model):
    import shutil
    shutil.copy(official_checkpoint, model_folder / "my_wav2lip.pth")
    choices = NODE_CLASS_MAPPINGS["LoadWav2LipModel"].INPUT_TYPES()["required"]["model_name"][0]
    assert choices[0] == "my_wav2lip.pth"
    assert "wav2lip_gan.pth (will be downloaded)" in choices and not any("s3fd" in c for c in choices)
    (model,) = run("LoadWav2LipModel", model_name="my_wav2lip.pth", precision="fp16", allow_download=False)
    assert model.dtype == torch.float16
    network = model.managed.load()
    assert network.decoder_dtype == torch.float16
    (full,) = run("LoadWav2LipModel", model_name="my_wav2lip.pth", precision="auto", allow_download=False)
    network = full.managed.load()
    assert {p.dtype for p in network.parameters()} == {torch.float32}
    mel, faces = torch.rand(2, 1, 80, 16) * 8 - 4, torch.rand(2, 6, 96, 96)
    with torch.inference_mode():   # the loaded network (BatchNorm folded) computes what the checkpoint holds
        assert torch.allclose(network(mel, faces).cpu(), wav2lip_model(mel, faces), atol=1e-4)


def test_a_saved_workflow_naming_a_known_model_with_or_without_the_download_mark_validates(model_folder,
                                                                                             monkeypatch):
    from wav2lip_core.checkpoints import fetch

    monkeypatch.setattr(fetch, "is_offline", lambda: False)      # online, and its source answers: it is
    monkeypatch.setattr(fetch, "_probe", lambda source: None)    # fetched when the node runs
    validate = NODE_CLASS_MAPPINGS["LoadWav2LipModel"].VALIDATE_INPUTS
    assert validate("wav2lip_gan.pth") is True and validate("wav2lip_gan.pth (will be downloaded)") is True
    message = validate("someone_elses.pth")
    assert isinstance(message, str) and str(model_folder) in message


def test_the_dropdown_lists_files_on_disk_then_known_models_that_will_be_downloaded(tmp_path):
    from nodes.loader import DOWNLOAD_MARK, choice_to_request, list_choices
    from wav2lip_core.checkpoints import S3FD, WAV2LIP, list_model_files

    (tmp_path / "wav2lip.pth").write_bytes(b"x")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "mine.safetensors").write_bytes(b"x")
    (tmp_path / ".wav2lip_gan.pth.1234.partial").write_bytes(b"x")
    (tmp_path / "old.pth.rejected").write_bytes(b"x")
    (tmp_path / "s3fd.pth").write_bytes(b"x")                    # the detector has its own use

    choices = list_choices(list_model_files([tmp_path]), WAV2LIP)

    assert choices == ["extra/mine.safetensors", "wav2lip.pth", "wav2lip_gan.pth" + DOWNLOAD_MARK]
    assert choice_to_request(choices[-1]) == "wav2lip_gan.pth"
    assert list_choices([], S3FD) == ["s3fd.pth" + DOWNLOAD_MARK]


def test_a_saved_choice_stays_valid_before_and_after_its_model_arrives_on_disk(tmp_path):
    from nodes.loader import DOWNLOAD_MARK, validate_choice
    from wav2lip_core.checkpoints import list_model_files

    def valid(choice):
        return validate_choice(choice, list_model_files([tmp_path]), [tmp_path])

    assert valid("wav2lip_gan.pth" + DOWNLOAD_MARK) is True and valid("wav2lip_gan.pth") is True
    assert "is not in" in valid("elsewhere/wav2lip_gan.pth"), "a path is never the known model of its file name"
    assert "is not in" in valid("someone_elses.pth")
    (tmp_path / "someone_elses.pth").write_bytes(b"x")
    assert valid("someone_elses.pth") is True


def test_an_empty_folder_says_what_to_download_and_where(model_folder):
    with pytest.raises(CheckpointError) as error:
        run("LoadWav2LipModel", model_name="wav2lip_gan.pth (will be downloaded)", precision="auto",
            allow_download=False)
    message = str(error.value)
    assert "wav2lip_gan.pth" in message and str(model_folder) in message and "huggingface" in message.lower()


def test_a_wrong_file_says_what_it_is(model_folder, syncnet_model):
    from random_weights import official_container
    torch.save(official_container(syncnet_model), model_folder / "not_a_generator.pth")
    with pytest.raises(CheckpointError, match="SyncNet"):
        run("LoadWav2LipModel", model_name="not_a_generator.pth", precision="auto", allow_download=False)


# --- packaging ---------------------------------------------------------------------------------------------

def _install_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("wav2lip_install", Path(__file__).resolve().parents[1] / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("opencv_present", [None, "opencv-python", "opencv-python-headless",
                                            "opencv-contrib-python"])
def test_install_script_never_adds_a_second_opencv_and_installs_face_alignment_without_its_deps(
        monkeypatch, opencv_present):
    install = _install_script()
    commands = []
    monkeypatch.setattr(install, "installed_version", lambda name: "5.0" if name == opencv_present else None)
    monkeypatch.setattr(install, "pip_install", lambda *args: commands.append(args))
    install.main()
    expected_opencv = [] if opencv_present else [("opencv-python-headless",)]
    assert commands == expected_opencv + [("--no-deps", "face-alignment")]
    assert not any("torch" in " ".join(command) for command in commands)


def test_pyproject_dependencies_match_requirements_txt_and_name_no_opencv_or_torch():
    import tomllib
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    requirements = [line.split("#")[0].strip() for line in (root / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in requirements if line]
    assert project["project"]["dependencies"] == requirements
    assert not any(line.lower().startswith(("opencv", "torch", "face-alignment")) for line in requirements)
    assert {"PublisherId", "DisplayName", "Icon"} <= set(project["tool"]["comfy"])


def test_on_cpu_the_sync_node_feeds_the_generator_at_most_8_faces_at_a_time(generator, speech, monkeypatch):
    """Parts of 8 are the fastest on CPU and keep the activations small whatever the node's batch size."""
    from nodes import sync_node

    seen = []
    real = sync_node.generate_faces
    monkeypatch.setattr(sync_node, "generate_faces", lambda net, crops, chunks: seen.append(len(crops)) or
                        real(net, crops, chunks))
    out = chain(generator, astronaut_clip(3), speech, batch_size=128)
    assert sum(seen) == out["frame_count"] == 14 and max(seen) == 8
