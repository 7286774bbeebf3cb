"""Frame-rate mismatches the pack can see, said out loud: a video made at another rate than the speech's frames
runs too fast or too slow against its sound, with no error anywhere (Create Video's fps defaults to 30, Wav2Lip
works at the rate Audio To Mel was given, 25 unless wired).

Paste Back looks, when it runs, at the Create Video nodes its frames go to (through any nodes in between, in the
queued prompt ComfyUI hands it) and warns when one has a typed-in fps other than the frames'. Lip Sync Score
compares its fps input with the sync plan's."""
from __future__ import annotations

import logging
import math

from .types import SyncPlan

log = logging.getLogger("ComfyUI-Wav2Lip")

FPS_TOLERANCE = 1e-3


def differs(first: float, second: float) -> bool:
    return not math.isclose(float(first), float(second), rel_tol=0.0, abs_tol=FPS_TOLERANCE)


def mismatch_text(where: str, given: float, frames: int, fps: float) -> str:
    """One sentence: ``where`` uses ``given`` fps for ``frames`` frames made for ``fps`` fps speech."""
    return (f"{where} uses {given:g} fps, but the {frames} lip-synced frames were made for {fps:g} fps speech: the "
            f"video lasts {frames / given:.2f} s against {frames / fps:.2f} s of sound, and the mouth drifts out of "
            f"sync. Wire Audio To Mel's fps output into it.")


def downstream_nodes(prompt: dict, node_id: str) -> set[str]:
    """Ids of the nodes of an API-format ``prompt`` that take, directly or through others, an output of ``node_id``."""
    consumers: dict[str, set[str]] = {}
    for target, node in prompt.items():
        for value in (node.get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2:
                consumers.setdefault(str(value[0]), set()).add(str(target))
    found: set[str] = set()
    todo = [str(node_id)]
    while todo:
        for target in consumers.get(todo.pop(), ()):
            if target not in found:
                found.add(target)
                todo.append(target)
    return found


def video_fps_mismatches(prompt: dict | None, node_id: str | None, frames: int, fps: float | None) -> list[str]:
    """Messages for every Create Video downstream of ``node_id`` whose fps is typed in and is not ``fps``."""
    if not prompt or node_id is None or fps is None:
        return []
    messages = []
    for target in sorted(downstream_nodes(prompt, node_id)):
        node = prompt.get(target) or {}
        given = (node.get("inputs") or {}).get("fps")
        if node.get("class_type") == "CreateVideo" and isinstance(given, (int, float)) and given > 0 \
                and differs(given, fps):
            messages.append(mismatch_text(f"Create Video (node {target})", float(given), frames, fps))
    return messages


def warn_about_video_fps(prompt: dict | None, unique_id: str | None, sync: SyncPlan) -> list[str]:
    """Log (and return) the frame-rate mismatches of the videos made from Paste Back ``unique_id``'s frames."""
    messages = video_fps_mismatches(prompt, unique_id, sync.num_frames, sync.fps)
    for message in messages:
        log.warning("ComfyUI-Wav2Lip: %s", message)
    return messages


def score_fps_mismatch(fps: float, sync: SyncPlan | None) -> str | None:
    """Lip Sync Score's fps input against the sync plan's rate; None when they agree or the plan has none."""
    if sync is None or sync.fps is None or not differs(fps, sync.fps):
        return None
    return (f"Lip Sync Score's fps is {fps:g}, but the frames were made for {sync.fps:g} fps speech: wire Audio "
            f"To Mel's fps output into Lip Sync Score's fps, and into Create Video's.")
