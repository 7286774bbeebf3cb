"""Shared fixtures: random checkpoints in the official format and real-face clips (skimage's astronaut)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from random_weights import official_container, random_syncnet, random_wav2lip  # noqa: E402

SAMPLES = ROOT / "workflows" / "media"
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def wav2lip_model() -> torch.nn.Module:
    """A seeded random Wav2Lip generator with calibrated BatchNorm, eval mode, float32, CPU."""
    return random_wav2lip(seed=0).eval()


@pytest.fixture(scope="session")
def syncnet_model() -> torch.nn.Module:
    return random_syncnet(seed=0).eval()


@pytest.fixture(scope="session")
def official_checkpoint(tmp_path_factory, wav2lip_model) -> Path:
    """wav2lip.pth as the original trainers save it: {"state_dict": {"module.*": ...}, "optimizer": ...}."""
    path = tmp_path_factory.mktemp("ckpt") / "wav2lip.pth"
    torch.save(official_container(wav2lip_model, module_prefix=True), path)
    return path


@pytest.fixture(scope="session")
def speech_16k() -> np.ndarray:
    import soundfile

    wav, rate = soundfile.read(SAMPLES / "wav2lip_sample_speech.wav", dtype="float32")
    assert rate == 16000
    return wav


@pytest.fixture(scope="module")
def speech(speech_16k) -> np.ndarray:
    """0.55 s of the sample speech -> 14 output frames at 25 fps (keeps the node tests fast)."""
    return speech_16k[8000:16800]


@pytest.fixture(scope="module")
def generator(wav2lip_model):
    """The random generator as Load Wav2Lip Model hands it to the nodes (a Wav2LipModel, float32)."""
    from nodes import model_management as mm
    from nodes.types import Wav2LipModel

    return Wav2LipModel(managed=mm.ManagedModel(wav2lip_model, "random"), path=Path("random.pth"),
                        dtype=torch.float32)


@pytest.fixture(scope="module")
def random_s3fd_folder(tmp_path_factory) -> Path:
    """A model folder holding random S3FD weights in the real layout, as s3fd.pth."""
    from random_s3fd import write_random_s3fd

    folder = tmp_path_factory.mktemp("models")
    write_random_s3fd(folder / "s3fd.pth")
    return folder


def astronaut_clip(num_frames: int = 8, size: int = 128, step: int = 2) -> np.ndarray:
    """uint8 RGB (N, size, size, 3): the astronaut's face with a small pan of ``step`` px per frame."""
    import cv2
    from skimage.data import astronaut

    image = astronaut()
    frames = [cv2.resize(image[40 + step * i:200 + step * i, 150 + step * i:310 + step * i], (size, size),
                         interpolation=cv2.INTER_AREA) for i in range(num_frames)]
    return np.stack(frames)


def assert_within_one_lsb(ours: np.ndarray, theirs: np.ndarray, max_fraction: float = 0.001) -> None:
    """The README's parity rule for uint8 frames (or faces) made by two different computations (another
    kernel, tensor shape or CPU rounds float32 differently): no value more than 1 apart, and at most
    ``max_fraction`` of the values (0.1 %) apart at all. Where the very same computation runs twice, compare
    exactly instead."""
    assert ours.shape == theirs.shape, f"shapes differ: {ours.shape} and {theirs.shape}"
    difference = np.abs(np.asarray(ours, np.int16) - np.asarray(theirs, np.int16))
    assert difference.max() <= 1, \
        f"{int((difference > 1).sum())} values differ by more than 1 (up to {difference.max()})"
    differing = int((difference > 0).sum())
    assert differing <= max_fraction * difference.size, \
        f"{differing} of {difference.size} values differ by 1, more than {max_fraction:.1%}"


@pytest.fixture
def no_interrupt_left_over():
    """An interrupt a broken node never consumed must not cancel the next test."""
    from nodes import model_management as mm

    yield
    try:
        mm.throw_if_interrupted()
    except mm.InterruptedByUser:
        pass


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """uint8 RGB: the group photo of six distinct people (fetched and verified by tests/group_photo.py)."""
    from group_photo import group_photo

    return group_photo()


@pytest.fixture(scope="session")
def conversation(photo):
    """The three-shot clip of the photo's people and where each stands (group_photo.conversation_clip)."""
    from group_photo import conversation_clip

    return conversation_clip(photo)
