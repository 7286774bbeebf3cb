"""Half precision against float32 on the bundled sample: how far fp16 / bf16 move the picture, and how fast.

The sample clip (workflows/media/wav2lip_sample_face.mp4, 320x320, 25 fps) and speech
(workflows/media/wav2lip_sample_speech.wav) go through the engine's ``lipsync`` with the same face boxes
(dlib_hog, detected once) in float32 and in each
half precision (decoder in half, encoders float32, as the engine loads them; and, for comparison, everything in
half). Reported, in 1/255 units: the
largest difference of the final uint8 RGB frames, their 99.9th percentile over changed values, the share of
values off by more than 2; and the same for the 96x96 generated faces (float, before pasting). For scale, the
float32 network's own response to invisible input noise (+-0.5/255 on the face input) is given too.

With no checkpoint given, the seeded random-weight generator of the tests is used (its float32 output moves up
to ~14/255 under that invisible noise: a far more sensitive network than a trained one is expected to be).
Give the real one to check the issue's target (fp16/bf16 within 2/255) where it is available:

    .venv/bin/python bench/bench_precision.py [--checkpoint weights/wav2lip_gan.pth] [--device cuda]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import ROOT

CLIP = ROOT / "workflows" / "media" / "wav2lip_sample_face.mp4"
SPEECH = ROOT / "workflows" / "media" / "wav2lip_sample_speech.wav"
HALF = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _generator(checkpoint: str | None, device: str, dtype: torch.dtype) -> torch.nn.Module:
    from wav2lip_core.checkpoints import load_wav2lip
    from wav2lip_core.runtime.fast_inference import prepare_for_inference

    if checkpoint:
        return load_wav2lip(checkpoint, device=device, dtype=dtype)
    from random_weights import random_wav2lip

    return prepare_for_inference(random_wav2lip(seed=0).eval(), device, dtype)


def briefly_trained_checkpoint(steps: int) -> str:
    """The seeded random generator trained for ``steps`` Adam steps (6 jittered astronaut face crops each, lr 2e-4)
    to rebuild the face from its masked copy and a reference, L1 loss: a stand-in for a trained network when the
    real weights are not at hand. Cached in the benchmark cache folder; 400 steps take ~6 minutes on 2 cores."""
    import numpy as np

    from common import cache_dir
    from random_weights import _calibration_faces, _calibration_mels, official_container, random_wav2lip

    path = cache_dir() / f"wav2lip_seed0_trained{steps}.pth"
    if path.is_file():
        return str(path)
    torch.manual_seed(0)
    model = random_wav2lip(seed=0).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    rng = np.random.default_rng(0)
    for step in range(steps):
        faces = _calibration_faces(6, rng)                    # (6, 3, 96, 96) BGR 0..1
        masked = faces.clone()
        masked[:, :, 48:] = 0
        output = model(_calibration_mels(6, step), torch.cat([masked, faces[torch.randperm(6)]], dim=1))
        loss = (output - faces).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.save(official_container(model.eval()), path)
    return str(path)


def _describe(difference: np.ndarray) -> str:
    changed = difference[difference > 0]
    p999 = float(np.percentile(changed, 99.9)) if changed.size else 0.0
    return (f"max {float(difference.max()):.2f}, 99.9th pct of changed {p999:.2f}, "
            f"> 2: {float((difference > 2).mean()) * 100:.3f} %")


def run(checkpoint: str | None, device: str, precisions: list[str]) -> list[str]:
    from wav2lip_core.audio import load_audio, speech_mel_chunks
    from wav2lip_core.compositing.faces import crop_face, generate_faces
    from wav2lip_core.detection import detect_face_boxes
    from wav2lip_core.pipeline import lipsync
    from wav2lip_core.video.reading import read_video

    frames, fps = read_video(CLIP)
    wav = load_audio(SPEECH)
    boxes = detect_face_boxes(frames, detector="dlib_hog")
    chunks = speech_mel_chunks(wav, fps)
    crops = np.stack([crop_face(frames[i % len(frames)], boxes.boxes[i % len(frames)]) for i in range(8)])

    lines = [f"checkpoint: {checkpoint or 'seeded random weights (tests/random_weights.py)'}; device {device}; "
             f"{len(chunks)} frames of {frames.shape[2]}x{frames.shape[1]}"]
    reference_model = _generator(checkpoint, device, torch.float32)
    started = time.perf_counter()
    reference = lipsync(frames, wav, fps, reference_model, face_boxes=boxes).astype(np.int16)
    lines.append(f"fp32: {time.perf_counter() - started:.2f} s")
    reference_faces = generate_faces(reference_model, crops, chunks[:8])
    noisy_faces = _faces_with_input_noise(reference_model, crops, chunks[:8])
    lines.append("fp32 with +-0.5/255 noise on the face input (the network's own sensitivity), faces: "
                 + _describe(np.abs(noisy_faces - reference_faces) * 255))
    for name in precisions:
        model = _generator(checkpoint, device, HALF[name])
        lipsync(frames[:2], wav[:8000], fps, model, face_boxes=boxes)           # warm-up
        started = time.perf_counter()
        output = lipsync(frames, wav, fps, model, face_boxes=boxes).astype(np.int16)
        seconds = time.perf_counter() - started
        faces = generate_faces(model, crops, chunks[:8])
        lines.append(f"{name}: {seconds:.2f} s; pasted frames: {_describe(np.abs(output - reference))}; "
                     f"faces: {_describe(np.abs(faces - reference_faces) * 255)}")
        everywhere = model.to(HALF[name])                   # for comparison: the encoders in half precision too
        output = lipsync(frames, wav, fps, everywhere, face_boxes=boxes).astype(np.int16)
        lines.append(f"  {name} in the encoders too (not what the engine does): pasted frames: "
                     f"{_describe(np.abs(output - reference))}")
    return lines


def _faces_with_input_noise(model: torch.nn.Module, crops_rgb: np.ndarray, chunks: np.ndarray) -> np.ndarray:
    """generate_faces with uniform +-0.5/255 noise on the network's face input (where it is not masked): below
    the input's own 8-bit step, so invisible. Output as generate_faces: float32 RGB 0..1 (B, 96, 96, 3)."""
    from wav2lip_core.compositing.faces import model_face_input, model_mel_input

    parameter = next(model.parameters())
    faces = model_face_input(crops_rgb)                      # (B, 6, 96, 96) BGR 0..1, channels 0-2 lower half 0
    noise = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, faces.shape).astype(np.float32)) / 255
    noisy = torch.where(faces > 0, (faces + noise).clamp(0, 1), faces)   # the masked half stays exactly zero
    with torch.inference_mode():
        out = model(model_mel_input(chunks).to(parameter.device, parameter.dtype),
                    noisy.to(parameter.device, parameter.dtype))
    return np.ascontiguousarray(out.float().cpu().numpy().transpose(0, 2, 3, 1)[..., ::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a Wav2Lip checkpoint (default: seeded random weights)")
    parser.add_argument("--train-steps", type=int, default=0,
                        help="instead of a checkpoint: the random generator briefly trained for this many steps "
                             "(400 in bench/README.md), a stand-in for a trained network")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=sorted(HALF), action="append",
                        help="half precisions to compare (default: bf16, and fp16 except on the CPU, where fp16 "
                             "convolutions take ~10x longer; add it to measure anyway)")
    args = parser.parse_args()
    precisions = args.precision or (["bf16"] if args.device == "cpu" else ["fp16", "bf16"])
    checkpoint = args.checkpoint or (briefly_trained_checkpoint(args.train_steps) if args.train_steps > 0 else None)
    for line in run(checkpoint, args.device, precisions):
        print(line)


if __name__ == "__main__":
    main()
