"""Cancel is honoured in every loop of the nodes: a cancel arriving while a batch is processed stops the node with
InterruptedByUser before the next batch starts, so at most one batch of work is done after it. Each test
requests the interrupt from inside the first batch (a stand-in generator or detector, or the node's progress
update after the batch) and counts the batches that ran."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nodes import NODE_CLASS_MAPPINGS
from nodes import model_management as mm
from nodes.detect_node import CROP_BATCH
from nodes.paste_node import PASTE_BATCH
from nodes.types import FaceBoxes, MelChunks, SyncPlan, Wav2LipModel
from wav2lip_core.detection.dlib_detectors import DlibHOGDetector   # imports dlib only when constructed

SIZE = 32                                   # small frames: the loops, not the pixels, are under test
BOX_TEXT = "4, 28, 6, 26"


pytestmark = pytest.mark.usefixtures("no_interrupt_left_over")


def as_image(frames_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames_uint8).float() / 255.0


def random_frames(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, SIZE, SIZE, 3), dtype=np.uint8)


def detect_options(**changes) -> dict:
    spec = NODE_CLASS_MAPPINGS["DetectFaces"].INPUT_TYPES()["required"]
    values = {name: (options.get("default", kind[0]) if isinstance(kind, list) else options["default"])
              for name, (kind, options) in spec.items() if kind != "IMAGE"}
    return {**values, **changes}


def interrupt_when_progress_advances(monkeypatch) -> list[int]:
    """Every Progress.advance(n) of a node is recorded, and requests a cancel, as if the user pressed Cancel
    while the progress bar moved."""
    advances: list[int] = []
    real_advance = mm.Progress.advance

    def advance(self, count):
        advances.append(int(count))
        real_advance(self, count)
        mm.request_interrupt()
    monkeypatch.setattr(mm.Progress, "advance", advance)
    return advances


class CountingGenerator(torch.nn.Module):
    """A fast stand-in generator returning grey faces; records each batch and cancels during the first."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        self.batches: list[int] = []

    def forward(self, mel, face, first_row=0):
        self.batches.append(face.shape[0])
        if len(self.batches) == 1:
            mm.request_interrupt()
        return torch.full((face.shape[0], 3, 96 - first_row, 96), 0.5)


def test_detect_faces_with_a_manual_box_stops_cropping_after_the_batch_being_cropped(monkeypatch):
    count = 2 * CROP_BATCH + 5                              # three crop batches
    advances = interrupt_when_progress_advances(monkeypatch)
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["DetectFaces"]().detect(as_image(random_frames(count)),
                                                    **detect_options(manual_box=BOX_TEXT))
    assert advances == [CROP_BATCH]                         # one batch cropped, the next never started


def test_detect_faces_with_a_detector_stops_detecting_after_the_batch_being_detected(monkeypatch):
    pytest.importorskip("dlib")
    batches: list[int] = []

    def detect(self, batch):
        batches.append(len(batch))
        if len(batches) == 1:
            mm.request_interrupt()
        return [np.array([[6.0, 4.0, 26.0, 28.0, 0.9]]) for _ in batch]   # no dlib run: a fixed face
    monkeypatch.setattr(DlibHOGDetector, "detect", detect)
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["DetectFaces"]().detect(as_image(random_frames(8)), **detect_options(
            detector="dlib_hog", batch_size=2, detect_size=SIZE, detect_every=1))
    assert batches == [2]                                   # 1 of 4 detection batches; no crops either


def test_wav2lip_sync_stops_generating_after_the_batch_being_generated():
    num_frames = 11
    generator = CountingGenerator()
    model = Wav2LipModel(managed=mm.ManagedModel(generator, "counting"), path=Path("counting.pth"),
                         dtype=torch.float32)
    faces = FaceBoxes(boxes=np.tile([4, 28, 6, 26], (3, 1)), found=np.ones(3, bool), frame_height=SIZE,
                      frame_width=SIZE)
    crops = torch.rand(3, 96, 96, 3)
    mel = MelChunks(chunks=np.zeros((num_frames, 80, 16), np.float32), fps=25.0, audio_seconds=num_frames / 25)
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["Wav2LipSync"]().sync(model, faces, crops, mel, loop_mode="loop", batch_size=2)
    assert generator.batches == [2]                         # 1 of 6 batches generated


def test_paste_back_stops_pasting_after_the_batch_being_pasted(monkeypatch):
    num_outputs = 2 * PASTE_BATCH + 3                       # three paste batches
    plan = SyncPlan(source_frames=np.arange(num_outputs) % 4, boxes=np.tile([4, 28, 6, 26], (num_outputs, 1)),
                    found=np.ones(num_outputs, bool), frame_height=SIZE, frame_width=SIZE, num_input_frames=4,
                    loop="loop")
    generated = torch.rand(num_outputs, 96, 96, 3)
    advances = interrupt_when_progress_advances(monkeypatch)
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["PasteBack"]().paste(as_image(random_frames(4)), generated, plan, blend="feather")
    assert advances == [PASTE_BATCH]                        # one batch pasted, the next never started


def test_lip_sync_score_stops_scoring_after_the_batch_of_windows_being_scored(monkeypatch):
    from nodes import score_node
    from sync_stand_ins import LoudnessBrightnessSyncNetV2

    class CountingScorer(LoudnessBrightnessSyncNetV2):
        def forward_lips(self, lips):
            if self.largest_lip_batch == 0:
                mm.request_interrupt()
            return super().forward_lips(lips)

    scorer = CountingScorer()
    monkeypatch.setattr(score_node, "managed_scoring_model", lambda choice: mm.ManagedModel(scorer, "counting"))
    num_frames = 60                                          # 55 windows: three batches of 20
    faces = FaceBoxes(boxes=np.tile([4, 28, 6, 26], (num_frames, 1)), found=np.ones(num_frames, bool),
                      frame_height=SIZE, frame_width=SIZE)
    audio = {"waveform": torch.zeros(1, 1, num_frames * 640), "sample_rate": 16000}
    calls = []
    monkeypatch.setattr(scorer, "forward_audio", lambda mfcc: calls.append(len(mfcc)) or torch.zeros(len(mfcc), 5))
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["LipSyncScore"]().score(as_image(random_frames(num_frames)), audio, 25.0, "counting",
                                                    faces=faces)
    assert calls == [20]                                     # 1 of 3 batches scored


def test_a_cancel_is_consumed_so_the_next_run_of_a_node_completes():
    images = as_image(random_frames(3))
    mm.request_interrupt()
    with pytest.raises(mm.InterruptedByUser):
        NODE_CLASS_MAPPINGS["DetectFaces"]().detect(images, **detect_options(manual_box=BOX_TEXT))
    faces, crops = NODE_CLASS_MAPPINGS["DetectFaces"]().detect(images, **detect_options(manual_box=BOX_TEXT))
    assert faces.found.all() and crops.shape == (3, 96, 96, 3)
