"""The nodes' tensor path (what Detect Faces, Wav2Lip Sync and Paste Back run on a GPU), forced onto the CPU
device: the same frames as their CPU path within 2/255, only face regions travelling, bounded host buffers."""
from __future__ import annotations


import numpy as np
import pytest
import torch

import nodes.paste_device as paste_device
from conftest import astronaut_clip
from nodes import model_management as mm
from nodes.device_frames import DeviceUint8Frames
from nodes.sync_node import make_sync_plan
from nodes.tensors import Uint8Frames
from nodes.types import SyncPlan
from test_nodes import as_image, as_uint8, chain, defaults, run

LOOPS_AND_BLENDS = [("loop", "feather"), ("pingpong", "original"), ("loop", "mouth")]


@pytest.fixture()
def tensor_path(monkeypatch):
    """Run the nodes' tensor path on the CPU device (on a CUDA GPU it is their default)."""
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", True)
    assert mm.tensor_path_device() == torch.device("cpu")


def test_the_tensor_path_is_taken_on_cuda_devices_only_unless_a_test_forces_it_on_the_cpu(monkeypatch):
    for device, expected in [("cpu", None), ("mps", None), ("cuda", torch.device("cuda")),
                             ("cuda:1", torch.device("cuda:1"))]:
        monkeypatch.setattr(mm, "compute_device", lambda name=device: torch.device(name))
        assert mm.tensor_path_device() == expected
    monkeypatch.setattr(mm, "compute_device", lambda: torch.device("cpu"))
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", True)
    assert mm.tensor_path_device() == torch.device("cpu")


def test_wav2lip_sync_on_the_tensor_path_takes_rgba_face_crops_as_the_cpu_path_does(generator, speech, tensor_path):
    """An IMAGE may carry a 4th (alpha) channel: both paths use the colour channels only."""
    wired = chain(generator, astronaut_clip(6), speech)
    rgba = torch.cat([wired["crops"], torch.ones_like(wired["crops"][..., :1])], dim=-1)
    generated, _ = run("Wav2LipSync", wav2lip_model=generator, faces=wired["faces"], face_crops=rgba,
                       mel=wired["mel"], loop_mode="loop", batch_size=8)
    assert torch.equal(generated, wired["generated"])


def test_the_tensor_path_gives_the_cpu_paths_crops_faces_and_frames(generator, speech, monkeypatch):
    clip = astronaut_clip(6)
    on_cpu = chain(generator, clip, speech)
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", True)
    on_tensors = chain(generator, clip, speech)
    assert torch.equal(on_tensors["crops"], on_cpu["crops"])
    assert torch.equal(on_tensors["generated"], on_cpu["generated"])
    difference = np.abs(as_uint8(on_tensors["frames"]).astype(int) - as_uint8(on_cpu["frames"]))
    assert difference.max() <= 2 and difference.mean() < 0.01
    assert float((on_tensors["mask"] - on_cpu["mask"]).abs().max()) < 1e-5


@pytest.mark.parametrize("loop, blend", LOOPS_AND_BLENDS)
def test_paste_back_on_tensors_gives_the_cpu_paths_frames_within_2_of_255_and_original_exactly(loop, blend,
                                                                                               monkeypatch):
    clip = as_image(astronaut_clip(6))
    faces, _ = run("DetectFaces", images=clip, **{**defaults("DetectFaces"), "manual_box": "30, 110, 40, 108"})
    plan = make_sync_plan(faces, 15, loop)
    inputs = dict(images=clip, generated_faces=torch.rand(15, 96, 96, 3, generator=torch.Generator().manual_seed(1)),
                  sync=plan, blend=blend, mask="changed region")
    on_cpu = run("PasteBack", **inputs)
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", True)
    on_tensors = run("PasteBack", **inputs)
    difference = np.abs(as_uint8(on_tensors[0]).astype(int) - as_uint8(on_cpu[0]))
    assert difference.max() <= (0 if blend == "original" else 2) and difference.mean() < 0.01
    assert float((on_tensors[1] - on_cpu[1]).abs().max()) < 1e-5


@pytest.mark.parametrize("face_size, blend", [(96, "feather"), (384, "mouth"), (512, "original")])
def test_paste_back_on_tensors_follows_paste_weights_colour_matching_and_large_faces(face_size, blend, tensor_path,
                                                                                   monkeypatch):
    rng = np.random.default_rng(face_size)
    clip = astronaut_clip(4)
    boxes = np.array([[30, 110, 40, 108], [20, 128, 0, 100], [0, 64, 64, 128], [30, 110, 40, 108]] * 2)
    plan = SyncPlan(source_frames=np.array([0, 1, 2, 3, 3, 2, 1, 0]), boxes=boxes,
                    found=np.array([True, True, True, False, True, True, True, True]), frame_height=128,
                    frame_width=128, num_input_frames=4, loop="pingpong",
                    paste_weights=np.array([1.0, 0.5, 0.0, 1.0, 0.25, 1.0, 0.75, 1.0]))
    faces = torch.from_numpy(rng.random((8, face_size, face_size, 3), dtype=np.float32))
    inputs = dict(images=as_image(clip), generated_faces=faces, sync=plan, blend=blend, mask="changed region",
                  color_match=True)
    on_tensors = run("PasteBack", **inputs)
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", False)
    on_cpu = run("PasteBack", **inputs)
    assert np.abs(as_uint8(on_tensors[0]).astype(int) - as_uint8(on_cpu[0])).max() <= 2
    assert float((on_tensors[1] - on_cpu[1]).abs().max()) < 1e-5
    for index in (2, 3):                                   # weight 0, and no face: the input frame as it is
        assert torch.equal(on_tensors[0][index], as_image(clip)[plan.source_frames[index]])


def test_only_the_face_region_travels_to_the_device_and_host_buffers_do_not_grow_with_the_clip(
        generator, tensor_path, monkeypatch):
    travelled, staged = [], []
    real_to_device, real_staging = paste_device.to_device, paste_device.Staging

    class RecordedStaging(real_staging):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            staged.append(self)

    monkeypatch.setattr(paste_device, "to_device", lambda host, device: travelled.append(tuple(host.shape)) or
                        real_to_device(host, device))
    monkeypatch.setattr(paste_device, "Staging", RecordedStaging)
    clip = as_image(astronaut_clip(4))
    held = []
    for num_frames in (64, 320):
        plan = SyncPlan(source_frames=np.arange(num_frames) % 4, boxes=np.tile([30, 110, 40, 108], (num_frames, 1)),
                        found=np.ones(num_frames, bool), frame_height=128, frame_width=128, num_input_frames=4,
                        loop="loop")
        run("PasteBack", images=clip, generated_faces=torch.rand(num_frames, 96, 96, 3), sync=plan)
        held.append(staged[-1].nbytes)
    regions = [shape for shape in travelled if shape[-1] == 3 and shape[1:3] != (96, 96)]
    assert regions and all(shape[1:] == (80, 68, 3) for shape in regions)          # the box, not the frame
    assert held[0] == held[1] > 0


def test_frames_rounded_on_the_device_are_the_cpu_paths_bytes_at_every_index_in_any_order():
    image = torch.rand(11, 24, 32, 4, generator=torch.Generator().manual_seed(3))      # RGBA, every frame differs
    on_cpu, on_device = Uint8Frames(image, 10), DeviceUint8Frames(image, 10, torch.device("cpu"), batch=4)
    assert (len(on_device), on_device.height, on_device.width) == (10, 24, 32)
    for index in [0, 5, 4, 9, 1, 8, 3, 7, 2, 6, -1]:            # across batches, back and forth
        np.testing.assert_array_equal(on_device[index], on_cpu[index])
    np.testing.assert_array_equal(on_device[2:7], np.stack([on_cpu[i] for i in range(2, 7)]))
    with pytest.raises(IndexError):
        on_device[10]


def test_following_the_face_rounds_each_batch_of_frames_on_the_device_once(monkeypatch):
    """Key frames are detected ahead of the walk only as far as the frames rounded on the device stay at hand."""
    from test_face_following import TrueBoxDetector, dolly, filmed

    from wav2lip_core.detection import detect_face_boxes

    frames, truth = filmed(dolly(41))
    converted: list[int] = []
    convert = DeviceUint8Frames._frames_of_batch

    def counting(self, number):
        if number not in self._held:
            converted.append(number)
        return convert(self, number)

    monkeypatch.setattr(DeviceUint8Frames, "_frames_of_batch", counting)
    on_device = DeviceUint8Frames(torch.from_numpy(frames).float() / 255.0, len(frames), torch.device("cpu"), batch=8)
    detector = TrueBoxDetector(frames, truth)
    detector.batch_size = 16
    options = dict(pads=(0, 0, 0, 0), smoothing="none", detect_every=5, tracking="flow")
    track = detect_face_boxes(on_device, detector=detector, **options)
    assert sorted(converted) == list(range(6))                  # 41 frames in batches of 8, each rounded once
    in_memory = detect_face_boxes(frames, detector=TrueBoxDetector(frames, truth), **options)
    np.testing.assert_array_equal(track.boxes, in_memory.boxes)


def test_s3fd_on_the_tensor_path_finds_the_cpu_paths_boxes(random_s3fd_folder, monkeypatch):
    monkeypatch.setattr(mm, "model_search_dirs", lambda: [random_s3fd_folder])
    clip = as_image(astronaut_clip(3, size=256))
    options = {**defaults("DetectFaces"), "on_missing": "skip", "smoothing": "none", "detect_size": 128}
    on_cpu = run("DetectFaces", images=clip, **options)
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", True)
    on_tensors = run("DetectFaces", images=clip, **options)
    assert on_cpu[0].found.any()
    np.testing.assert_array_equal(on_tensors[0].boxes, on_cpu[0].boxes)
    np.testing.assert_array_equal(on_tensors[0].found, on_cpu[0].found)
    assert torch.equal(on_tensors[1], on_cpu[1])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_paste_back_on_tensors_takes_half_precision_images_as_the_cpu_path_does(dtype, monkeypatch):
    """Upstream nodes may hand over half-precision IMAGE batches; the output is float32 either way."""
    clip = as_image(astronaut_clip(4)).to(dtype)
    faces, _ = run("DetectFaces", images=clip, **{**defaults("DetectFaces"), "manual_box": "30, 110, 40, 108"})
    inputs = dict(images=clip, generated_faces=torch.rand(6, 96, 96, 3, generator=torch.Generator().manual_seed(2)),
                  sync=make_sync_plan(faces, 6, "loop"), blend="feather", mask="changed region")
    on_cpu = run("PasteBack", **inputs)
    monkeypatch.setattr(mm, "TENSOR_PATH_ON_CPU", True)
    on_tensors = run("PasteBack", **inputs)
    assert on_tensors[0].dtype == on_cpu[0].dtype == torch.float32
    difference = np.abs(as_uint8(on_tensors[0]).astype(int) - as_uint8(on_cpu[0]))
    assert difference.max() <= 2 and difference.mean() < 0.01
