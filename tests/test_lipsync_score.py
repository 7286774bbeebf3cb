"""Acting on a lip-sync score: the speech shift (``offset_frames``) that undoes a measured AV offset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SAMPLES
from sync_stand_ins import LoudnessBrightnessSyncNetV2
from wav2lip_core.audio import mel_chunks, melspectrogram, shift_speech
from wav2lip_core.scoring import score_lipsync

# --------------------------------------------------------------------------------------------------
# offset_frames: the speech shift


def test_shifting_the_speech_keeps_its_length_and_moves_it_by_whole_frames():
    wav = np.arange(1, 16001, dtype=np.float32)              # 1 s at 16 kHz: sample k holds k + 1
    earlier = shift_speech(wav, 2, fps=25)                   # 2 frames = 1280 samples
    assert len(earlier) == len(wav) and earlier[0] == 1281 and (earlier[-1280:] == 0).all()
    later = shift_speech(wav, -2, fps=25)
    assert later[1280] == 1 and (later[:1280] == 0).all() and later[-1] == 16000 - 1280
    assert shift_speech(wav, 3, fps=30)[0] == 1601           # 3 frames at 30 fps = 1600 samples
    assert shift_speech(wav, 0, fps=25) is wav
    assert (shift_speech(wav, 100, fps=25) == 0).all()       # more than the whole clip: silence
    assert len(mel_chunks(melspectrogram(earlier), 25)) == len(mel_chunks(melspectrogram(wav), 25))


def _as_audio(wav: np.ndarray) -> dict:
    return {"waveform": torch.from_numpy(np.asarray(wav, np.float32))[None, None], "sample_rate": 16000}


def _bursts(num_frames: int, seed: int = 3) -> np.ndarray:
    """float32 16 kHz speech stand-in: a noise burst in the middle of every loud frame's 40 ms."""
    generator = np.random.default_rng(seed)
    wav = (generator.standard_normal(num_frames * 640) * 0.001).astype(np.float32)
    for frame in np.flatnonzero(generator.integers(0, 2, num_frames)):
        wav[frame * 640 + 160:frame * 640 + 480] = generator.standard_normal(320) * 0.3
    return wav


def _late_mouth_lipsync(wav: np.ndarray, lag: int, offset_frames: int) -> np.ndarray:
    """A lip-sync stand-in whose mouth shows the sound ``lag`` frames late: output frame i is bright when the mel
    chunk of frame i - lag is loud. The chunks come from the speech shifted by ``offset_frames``, as Audio To Mel
    and the CLI cut them. uint8 RGB (N, 64, 64, 3)."""
    chunks = mel_chunks(melspectrogram(shift_speech(wav, offset_frames, 25.0)), 25.0)
    loudness = chunks[:, :, 1:3].mean(axis=(1, 2))           # the columns centred on the chunk's first frame
    loud = loudness > (loudness.min() + loudness.max()) / 2
    source = np.arange(len(loud)) - lag
    bright = np.where((source >= 0) & (source < len(loud)), loud[np.clip(source, 0, len(loud) - 1)], False)
    return np.where(bright[:, None, None, None], 200, 50).astype(np.uint8) * np.ones((1, 64, 64, 3), np.uint8)


@pytest.mark.parametrize("lag", [3, -2])
def test_feeding_the_measured_av_offset_back_as_offset_frames_puts_the_mouth_in_sync(lag):
    wav = _bursts(80)
    scorer = LoudnessBrightnessSyncNetV2()
    measured = score_lipsync(scorer, _late_mouth_lipsync(wav, lag, offset_frames=0), wav)
    assert measured.av_offset == lag                          # positive: the mouth shows the sound late
    corrected = score_lipsync(scorer, _late_mouth_lipsync(wav, lag, offset_frames=measured.av_offset), wav)
    assert corrected.av_offset == 0 and corrected.min_dist < measured.offset_dists[measured.vshift]


def test_the_lip_sync_command_line_cuts_its_mel_chunks_from_the_shifted_speech(tmp_path, monkeypatch,
                                                                              official_checkpoint):
    from wav2lip_core.audio import load_audio
    from wav2lip_core.cli import run as cli_run

    seen = {}

    def capture(frames, chunks, model, boxes, **options):
        seen["chunks"] = chunks
        yield np.stack([frames[i % len(frames)] for i in range(len(chunks))])

    monkeypatch.setattr(cli_run, "iter_lipsync", capture)
    arguments = ["--checkpoint", str(official_checkpoint), "--face", str(SAMPLES / "astronaut_face.mp4"),
                 "--audio", str(SAMPLES / "speech.wav"), "--box", "60", "230", "90", "230", "--offset_frames", "3",
                 "--outfile", str(tmp_path / "out.mp4")]
    assert cli_run.run_main(arguments) == 0
    speech = load_audio(SAMPLES / "speech.wav")
    np.testing.assert_array_equal(seen["chunks"], mel_chunks(melspectrogram(shift_speech(speech, 3, 25.0)), 25.0))


def test_audio_to_mel_shifts_the_speech_by_offset_frames(speech_16k):
    from nodes import NODE_CLASS_MAPPINGS

    node = NODE_CLASS_MAPPINGS["AudioToMel"]()
    assert node.INPUT_TYPES()["required"]["offset_frames"][1]["default"] == 0
    mel, count, _ = node.convert(_as_audio(speech_16k), 30.0, offset_frames=-4)
    expected = mel_chunks(melspectrogram(shift_speech(speech_16k, -4, 30.0)), 30.0)
    np.testing.assert_array_equal(mel.chunks, expected)
    unshifted, unshifted_count, _ = node.convert(_as_audio(speech_16k), 30.0)
    assert count == unshifted_count and not np.array_equal(mel.chunks, unshifted.chunks)
