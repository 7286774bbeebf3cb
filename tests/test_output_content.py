"""What the outputs hold, not only their shapes: Detect Faces' crops are the boxes' pixels resized to 96x96;
``convert`` writes exactly the source tensors in the chosen dtype; an odd-sized still becomes a video that
shows the still, changed only inside the face box."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import load_file
from skimage.data import astronaut

from conftest import astronaut_clip
from nodes import NODE_CLASS_MAPPINGS
from wav2lip_core.checkpoints import load_wav2lip
from wav2lip_core.cli import main as cli_main
from wav2lip_core.cli.convert import convert_main
from wav2lip_core.detection.dlib_detectors import DlibHOGDetector   # imports dlib only when constructed
from wav2lip_core.video.reading import read_video


def as_image(frames_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames_uint8).float() / 255.0


def detect_options(**changes) -> dict:
    spec = NODE_CLASS_MAPPINGS["DetectFaces"].INPUT_TYPES()["required"]
    values = {name: (options.get("default", kind[0]) if isinstance(kind, list) else options["default"])
              for name, (kind, options) in spec.items() if kind != "IMAGE"}
    return {**values, **changes}


def expected_crop(frame: np.ndarray, box) -> torch.Tensor:
    """The box's pixels resized to 96x96 (OpenCV's default bilinear, as the original), as IMAGE values."""
    y1, y2, x1, x2 = box
    return torch.from_numpy(cv2.resize(frame[y1:y2, x1:x2], (96, 96))).float() / 255.0


def assert_crop_is(crop: torch.Tensor, frame: np.ndarray, box) -> None:
    expected = expected_crop(frame, box)
    off = (crop - expected).abs() * 255
    assert torch.equal(crop, expected), f"{float((off > 0.5).float().mean()):.0%} of the crop's values differ, " \
                                        f"by up to {float(off.max()):.0f}/255"


def textured_clip(count: int) -> np.ndarray:
    """A real face with fine random texture on top: a crop one pixel off differs everywhere."""
    clip = astronaut_clip(count).astype(np.int16)
    noise = np.random.default_rng(0).integers(-40, 41, clip.shape, dtype=np.int16)
    return np.clip(clip + noise, 0, 255).astype(np.uint8)


# --- Detect Faces' crops -----------------------------------------------------------------------------------

def test_the_crops_of_a_manual_box_are_the_boxes_pixels_resized_to_96():
    clip = textured_clip(4)
    box = (30, 111, 37, 108)                                  # 81 high, 71 wide: not square, odd sizes
    _, crops = NODE_CLASS_MAPPINGS["DetectFaces"]().detect(as_image(clip), **detect_options(
        manual_box=", ".join(map(str, box))))
    for frame, crop in zip(clip, crops):
        assert_crop_is(crop, frame, box)


def test_the_crops_of_detected_boxes_follow_each_frames_own_box_and_are_black_without_a_face(monkeypatch):
    pytest.importorskip("dlib")
    clip = textured_clip(5)
    # (x1, y1, x2, y2) per frame as a detector reports it; frame 3 has no face.
    detections = [(40, 30, 108, 110), (42, 31, 110, 112), (45, 28, 111, 105), None, (20, 10, 90, 100)]
    by_content = {clip[i].tobytes(): d for i, d in enumerate(detections)}

    def detect(self, batch):
        found = [by_content[np.ascontiguousarray(frame).tobytes()] for frame in batch]
        return [np.zeros((0, 5)) if d is None else np.array([[*d, 0.9]], float) for d in found]
    monkeypatch.setattr(DlibHOGDetector, "detect", detect)
    faces, crops = NODE_CLASS_MAPPINGS["DetectFaces"]().detect(as_image(clip), **detect_options(
        detector="dlib_hog", pad_top=0, pad_bottom=0, pad_left=0, pad_right=0, smoothing="none",
        on_missing="skip", detect_size=128, batch_size=2, detect_every=1))
    assert faces.found.tolist() == [True, True, True, False, True]
    for index, detection in enumerate(detections):
        if detection is None:
            assert not crops[index].any()
            continue
        x1, y1, x2, y2 = detection
        assert faces.boxes[index].tolist() == [y1, y2, x1, x2]
        assert_crop_is(crops[index], clip[index], (y1, y2, x1, x2))


# --- convert ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def source_tensors(official_checkpoint) -> dict[str, torch.Tensor]:
    """The official file's tensors under their bare names, read without the engine's reader."""
    container = torch.load(official_checkpoint, map_location="cpu", weights_only=True)
    return {key.removeprefix("module."): value for key, value in container["state_dict"].items()}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, official_checkpoint):
    """``python -m wav2lip_core convert SOURCE OUT [--dtype FLAG]`` once per flag (None: the default)."""
    files = {}

    def convert(flag: str | None):
        if flag not in files:
            out = tmp_path_factory.mktemp("converted") / "wav2lip.safetensors"
            assert convert_main([str(official_checkpoint), str(out)] + ([] if flag is None else ["--dtype", flag])) == 0
            files[flag] = out
        return files[flag]
    return convert


@pytest.mark.parametrize("flag, dtype", [(None, torch.float16), ("bf16", torch.bfloat16), ("fp32", torch.float32)],
                         ids=["default-fp16", "bf16", "fp32"])
def test_convert_writes_every_source_tensor_cast_to_the_chosen_dtype_under_its_bare_key(
        converted, source_tensors, flag, dtype):
    written = load_file(str(converted(flag)))
    assert sorted(written) == sorted(source_tensors)          # nothing dropped or added, no "module." prefix
    assert any(not t.is_floating_point() for t in source_tensors.values())   # BatchNorm counters are int64
    for key, source in source_tensors.items():
        expected = source.to(dtype) if source.is_floating_point() else source
        assert written[key].dtype == expected.dtype, key
        assert torch.equal(written[key], expected), key


def test_a_converted_fp16_file_computes_what_the_source_network_computes(converted, wav2lip_model):
    network = load_wav2lip(converted(None))
    generator = torch.Generator().manual_seed(0)
    mel = torch.rand(2, 1, 80, 16, generator=generator) * 8 - 4
    faces = torch.rand(2, 6, 96, 96, generator=generator)
    with torch.inference_mode():
        difference = (network(mel, faces) - wav2lip_model(mel, faces)).abs()
    # fp16 weights on the random network: measured max 0.016, mean 0.0006 (bf16 weights: 0.14, 0.005).
    assert float(difference.max()) < 0.03 and float(difference.mean()) < 0.002


# --- an odd-sized still through the command line -----------------------------------------------------------

STILL_HEIGHT, STILL_WIDTH = 131, 127
STILL_BOX = (25, 120, 15, 112)           # y1, y2, x1, x2


def test_an_odd_sized_still_becomes_an_even_sized_video_of_the_still_with_only_the_face_box_changed(
        tmp_path, official_checkpoint, speech_16k):
    still = np.ascontiguousarray(cv2.resize(astronaut()[20:220, 140:335], (STILL_WIDTH, STILL_HEIGHT),
                                            interpolation=cv2.INTER_AREA))
    image, audio, out = tmp_path / "still.png", tmp_path / "speech.wav", tmp_path / "talking.mp4"
    cv2.imwrite(str(image), still[:, :, ::-1])
    soundfile.write(str(audio), speech_16k[8000:16000], 16000)
    y1, y2, x1, x2 = STILL_BOX
    assert cli_main(["--checkpoint", str(official_checkpoint), "--face", str(image), "--audio", str(audio),
                     "--outfile", str(out), "--box", str(y1), str(y2), str(x1), str(x2)]) == 0
    frames, _ = read_video(out)
    assert frames.shape[1:] == (STILL_HEIGHT + 1, STILL_WIDTH + 1, 3)     # padded by one row and one column
    assert frames[:, STILL_HEIGHT].mean() < 10 and frames[:, :, STILL_WIDTH].mean() < 10   # ... of black
    shown = frames[:, :STILL_HEIGHT, :STILL_WIDTH].astype(np.float64)   # the picture, without the padding
    outside = np.ones((STILL_HEIGHT, STILL_WIDTH), bool)
    outside[y1:y2, x1:x2] = False
    # H.264 (crf 18, 4:2:0) alone costs this detailed little picture 2.4/255 on average; the still shifted by
    # one pixel would be off by ~13, with red and blue swapped by ~15.
    assert np.abs(shown[:, outside] - still[outside]).mean() < 4, "outside the box the video shows the still"
    mouth = (slice(y1 + (y2 - y1) * 2 // 3, y2 - 8), slice(x1 + 20, x2 - 20))   # where the feather mask is 1
    assert np.abs(shown[:, mouth[0], mouth[1]] - still[mouth]).mean() > 10, "the mouth is the generated one"
