"""The generator computes only the face rows the paste reads: with the default feather blend (and the mouth blend)
the upper ~40 % of a generated face never reaches the frame, so the engine does not generate it, and the frames
are those of the whole face."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from conftest import astronaut_clip
from wav2lip_core.compositing.blend import first_face_row_read, paste_face
from wav2lip_core.detection.common import FaceTrack
from wav2lip_core.pipeline import lipsync
from wav2lip_core.runtime.fast_inference import prepare_for_inference

BOX_HEIGHTS = (1, 2, 3, 5, 8, 13, 31, 47, 64, 95, 96, 97, 150, 200, 333, 720)
BOX_WIDTHS = (1, 4, 17, 96, 301)


@pytest.fixture(scope="module")
def network_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    return torch.randn(3, 1, 80, 16, generator=generator), torch.rand(3, 6, 96, 96, generator=generator)


def test_the_generator_asked_for_rows_from_r_on_gives_the_full_pass_rows_from_r_on(wav2lip_model, network_inputs):
    """In float64 the same values; in float32 (prepared: folded, fused, channels-last) the same up to the
    convolutions' rounding, whose order can follow the input's size."""
    mel, faces = network_inputs
    float64 = copy.deepcopy(wav2lip_model).double()
    prepared = prepare_for_inference(copy.deepcopy(wav2lip_model), "cpu", torch.float32)
    with torch.inference_mode():
        whole, whole_prepared = float64(mel.double(), faces.double()), prepared(mel, faces)
        for first_row in (1, 2, 7, 39, 40, 41, 64, 95):
            rows = float64(mel.double(), faces.double(), first_row)
            assert rows.shape == (3, 3, 96 - first_row, 96)
            torch.testing.assert_close(rows, whole[:, :, first_row:], atol=1e-12, rtol=0)
            torch.testing.assert_close(prepared(mel, faces, first_row), whole_prepared[:, :, first_row:], atol=1e-5,
                                       rtol=0)


def test_the_decoder_leaves_out_the_rows_above_what_the_asked_rows_depend_on(wav2lip_model, network_inputs):
    """Rows computed by the largest layers for the feather blend's usual first row (40): the 96 px level from
    row 36 on, the 48 px level from row 16, the 24 px level from row 6; the full pass computes them all."""
    computed: dict[int, int] = {}

    def count_rows(module, inputs, output):
        computed[output.shape[-1]] = min(computed.get(output.shape[-1], 96), output.shape[-1] - output.shape[-2])

    hooks = [unit.register_forward_hook(count_rows) for block in wav2lip_model.face_decoder_blocks for unit in block]
    try:
        with torch.inference_mode():
            wav2lip_model(*network_inputs, first_row=40)
    finally:
        for hook in hooks:
            hook.remove()
    assert computed[96] == 36 and computed[48] == 16 and computed[24] == 6
    assert wav2lip_model.decoder_row_starts(0) == (0,) * 8
    with pytest.raises(ValueError, match="first_row"):
        wav2lip_model.decoder_row_starts(96)


@pytest.mark.parametrize("mode", ["feather", "mouth", "original"])
@pytest.mark.parametrize("color_match", [False, True], ids=["plain", "color_match"])
def test_face_rows_above_first_face_row_read_never_reach_the_frame(mode, color_match):
    rng = np.random.default_rng(3)
    for height in BOX_HEIGHTS:
        for width in BOX_WIDTHS:
            first_row = first_face_row_read(mode, height, width, color_match)
            face = rng.random((96, 96, 3), dtype=np.float32)
            scrambled = face.copy()
            scrambled[:first_row] = rng.uniform(-2.0, 3.0, (first_row, 96, 3))
            frame = rng.integers(0, 256, (height + 4, width + 6, 3), dtype=np.uint8)
            box = (3, 3 + height, 2, 2 + width)
            pasted, pasted_scrambled = frame.copy(), frame.copy()
            paste_face(pasted, face, box, mode, color_match=color_match, strength=0.8)
            paste_face(pasted_scrambled, scrambled, box, mode, color_match=color_match, strength=0.8)
            np.testing.assert_array_equal(pasted_scrambled, pasted, err_msg=f"{mode} {height}x{width}")


def test_the_default_blends_read_the_lower_face_only_and_the_original_paste_reads_it_all():
    for height, width in ((96, 96), (200, 160), (720, 600)):
        assert 38 <= first_face_row_read("feather", height, width) <= 42
        assert 40 <= first_face_row_read("mouth", height, width) <= 44
        assert first_face_row_read("original", height, width) == 0
    # A box too small for a soft edge: colour statistics come from the whole box, so the whole face counts.
    assert first_face_row_read("feather", 1, 1, color_match=True) == 0


class WholeFaceGenerator(torch.nn.Module):
    """Computes every row whatever it is asked for, and records the first rows asked for."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner, self.first_rows = inner, []

    def forward(self, mel, face, first_row=0):
        self.first_rows.append(first_row)
        return self.inner(mel, face)[:, :, first_row:]


@pytest.mark.parametrize("blend, color_match", [("feather", False), ("mouth", False), ("feather", True)])
def test_lipsync_generates_the_rows_the_paste_reads_and_gives_the_frames_of_whole_faces(wav2lip_model, speech_16k,
                                                                                     blend, color_match):
    frames = astronaut_clip(6, 128)
    boxes = FaceTrack(boxes=[(10, 120, 10, 118), (20, 90, 30, 100), (0, 128, 0, 128), (40, 60, 50, 70),
                             (10, 120, 10, 118), (5, 125, 6, 122)], found=[True] * 6)
    wav = speech_16k[:16000 // 4]                                       # 7 frames at 25 fps
    whole = WholeFaceGenerator(wav2lip_model)
    expected = lipsync(frames, wav, 25.0, whole, face_boxes=boxes, blend=blend, color_match=color_match)
    assert min(whole.first_rows) > 30                                   # the lower face was asked for
    actual = lipsync(frames, wav, 25.0, wav2lip_model, face_boxes=boxes, blend=blend, color_match=color_match)
    difference = np.abs(actual.astype(np.int16) - expected)
    assert difference.max() <= 1 and (difference > 0).mean() <= 1e-4   # the same up to the convolutions' rounding
