"""The pixels of the paste-back, computed independently in the test: the default feather blend is
round(region + (bicubic-resized face * 255 - region) * mask) inside the box and nothing else changes; the
original paste truncates to uint8 first and resizes the uint8 face bilinearly. Faces and frames are
non-uniform (textures), so a hard paste, another resize or a shifted mask cannot match by accident."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from nodes import NODE_CLASS_MAPPINGS
from nodes.types import SyncPlan
from wav2lip_core.compositing.blend import feather_mask, paste_face, paste_feathered
from wav2lip_core.pipeline import lipsync
from wav2lip_core.schedule import source_frame_indices

FRAME_HEIGHT, FRAME_WIDTH = 120, 128
BOX = (20, 100, 30, 94)          # y1, y2, x1, x2: an 80 high, 64 wide box, not square, not at the origin
FPS = 25.0


# --- inputs and the expected pixels, computed here ----------------------------------------------------------

def textured_face(seed: int = 0) -> np.ndarray:
    """(96, 96, 3) float32 RGB 0..1: a colour gradient plus fine random texture (every pixel different)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:96, 0:96] / 95.0
    gradient = np.stack([rows, cols, 1.0 - (rows + cols) / 2], axis=-1)
    return np.clip(0.15 + 0.6 * gradient + rng.uniform(-0.15, 0.15, (96, 96, 3)), 0, 1).astype(np.float32)


def textured_frames(count: int, seed: int = 1) -> np.ndarray:
    """(count, H, W, 3) uint8 RGB random texture frames."""
    return np.random.default_rng(seed).integers(0, 256, (count, FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)


def checked_feather_mask(height: int, width: int) -> np.ndarray:
    """feather_mask, after checking it has the documented shape at points known without its formula."""
    mask = feather_mask(height, width)[:, :, 0]
    assert mask.shape == (height, width)
    assert (mask[: int(0.45 * height)] == 0).all()                       # eyes and nose: the original's
    for corner in (mask[0, 0], mask[0, -1], mask[-1, 0], mask[-1, -1]):
        assert corner < 0.01                                             # no seam at the box corners
    assert mask[int(0.75 * height), width // 2] == pytest.approx(1.0)    # the mouth: all generated
    assert np.allclose(mask, mask[:, ::-1], atol=1e-6)                   # left-right symmetric
    assert 0.05 < mask.mean() < 0.6                                      # soft, neither off nor the whole box
    return mask


def expected_feather(frame: np.ndarray, face: np.ndarray, box) -> np.ndarray:
    """The whole frame after the feather blend, as float64 0..255 (not yet rounded)."""
    y1, y2, x1, x2 = box
    height, width = y2 - y1, x2 - x1
    resized = cv2.resize(face, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float64) * 255.0
    mask = checked_feather_mask(height, width).astype(np.float64)[:, :, None]
    region = frame[y1:y2, x1:x2].astype(np.float64)
    out = frame.astype(np.float64)
    out[y1:y2, x1:x2] = np.clip(region + (resized - region) * mask, 0, 255)
    return out


def hard_paste(frame: np.ndarray, face: np.ndarray, box) -> np.ndarray:
    y1, y2, x1, x2 = box
    out = frame.copy()
    out[y1:y2, x1:x2] = np.clip(np.rint(cv2.resize(face, (x2 - x1, y2 - y1), interpolation=cv2.INTER_CUBIC)
                                        * 255), 0, 255).astype(np.uint8)
    return out


def assert_feathered(actual: np.ndarray, frame: np.ndarray, face: np.ndarray, box) -> None:
    """Every pixel within 1 LSB of the blend inside the box, bit-exact outside it."""
    expected = expected_feather(frame, face, box)
    y1, y2, x1, x2 = box
    difference = np.abs(actual.astype(np.float64) - expected)
    inside = np.zeros(frame.shape[:2], bool)
    inside[y1:y2, x1:x2] = True
    worst = float(difference[inside].max())
    assert worst <= 1.0, f"{(difference[inside] > 1).mean():.0%} of the box's values are off, by up to {worst:.0f}/255"
    np.testing.assert_array_equal(actual[~inside], frame[~inside])


class FixedFaceGenerator(torch.nn.Module):
    """A stand-in generator: always returns the given RGB face (as the network does, in BGR NCHW)."""

    def __init__(self, face_rgb: np.ndarray):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        self.register_buffer("face_bgr", torch.from_numpy(np.ascontiguousarray(
            face_rgb[..., ::-1].transpose(2, 0, 1))))

    def forward(self, mel, face, first_row=0):
        return self.face_bgr[:, first_row:].expand(face.shape[0], -1, -1, -1).clone()


# --- the test inputs tell the blends apart -------------------------------------------------------------------

def test_the_texture_inputs_tell_the_feather_blend_from_a_hard_paste_and_from_no_paste():
    frame, face = textured_frames(1)[0], textured_face()
    expected = expected_feather(frame, face, BOX)
    y1, y2, x1, x2 = BOX
    against_hard = np.abs(expected - hard_paste(frame, face, BOX))[y1:y2, x1:x2]
    against_none = np.abs(expected - frame)[y1:y2, x1:x2]
    assert (against_hard > 1).mean() > 0.5 and (against_none > 1).mean() > 0.2


# --- engine ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("paste", [paste_feathered, lambda f, g, b: paste_face(f, g, b, "feather"),
                                   lambda f, g, b: paste_face(f, g, b)], ids=["paste_feathered", "feather",
                                                                              "default"])
def test_every_pixel_of_the_box_is_the_face_blended_over_the_frame_by_the_feather_mask(paste):
    frame, face = textured_frames(1)[0], textured_face()
    actual = frame.copy()
    paste(actual, face, BOX)
    assert_feathered(actual, frame, face, BOX)


def test_the_feather_blend_of_a_box_at_the_frame_edge_blends_the_same_way():
    frame, face = textured_frames(1, seed=3)[0], textured_face(seed=4)
    box = (FRAME_HEIGHT - 57, FRAME_HEIGHT, 0, 45)      # touching the bottom and the left border
    actual = frame.copy()
    paste_face(actual, face, box, "feather")
    assert_feathered(actual, frame, face, box)


def test_the_original_paste_truncates_to_uint8_then_resizes_the_uint8_face_bilinearly():
    frame, face = textured_frames(1)[0], textured_face()
    actual = frame.copy()
    paste_face(actual, face, BOX, "original")
    y1, y2, x1, x2 = BOX
    truncated = (face * 255.0).astype(np.uint8)
    expected = frame.copy()
    expected[y1:y2, x1:x2] = cv2.resize(truncated, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(actual, expected)
    rounded = cv2.resize(np.rint(face * 255.0).astype(np.uint8), (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    assert (actual[y1:y2, x1:x2] != rounded).mean() > 0.2      # rounding instead of truncating would show


# --- through the engine's lipsync and the Paste Back node ----------------------------------------------------

def test_lipsync_with_the_feather_blend_gives_the_blended_pixels_on_every_output_frame(speech_16k):
    frames, face = textured_frames(2), textured_face()
    out = lipsync(frames, speech_16k[:8000], FPS, FixedFaceGenerator(face), box=BOX, blend="feather")
    sources = source_frame_indices(len(frames), len(out))
    assert len(out) > len(frames)
    for actual, source in zip(out, sources):
        assert_feathered(actual, frames[source], face, BOX)


def test_the_paste_back_node_feathers_each_generated_face_into_its_frame_by_the_mask():
    frames = textured_frames(3)
    faces = np.stack([textured_face(seed) for seed in (10, 11, 12, 13)])
    boxes = np.array([BOX, BOX, (10, 70, 50, 120), BOX])
    plan = SyncPlan(source_frames=np.array([0, 1, 2, 0]), boxes=boxes, found=np.ones(4, bool),
                    frame_height=FRAME_HEIGHT, frame_width=FRAME_WIDTH, num_input_frames=3, loop="loop")
    images = torch.from_numpy(frames).float() / 255.0
    node = NODE_CLASS_MAPPINGS["PasteBack"]()
    output, _ = node.paste(images, torch.from_numpy(faces), plan, blend="feather")
    actual = (output * 255).round().to(torch.uint8).numpy()
    for index in range(4):
        assert_feathered(actual[index], frames[plan.source_frames[index]], faces[index], tuple(boxes[index]))
