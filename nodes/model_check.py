"""Before a queued workflow runs: every model file it needs and cannot get, named at once, in the nodes' words.

ComfyUI validates every node of a queued workflow before it runs any (``execution.validate_prompt`` calls each
node's ``VALIDATE_INPUTS``) and shows all failures together, each on its node. The nodes that hold a model choice
(Load Wav2Lip Model, Detect Faces, Lip Sync Score) ask here; the engine (``checkpoints.unobtainable``) decides
what cannot be had: not on disk, and no download can start (downloads off, HF_HUB_OFFLINE, no network). A model
that can still be downloaded is fetched when its node runs, as before. Messages speak of node inputs, never of
command-line options.

ComfyUI reports a failed VALIDATE_INPUTS once per argument it declares, so each node declares only its model
choice; what else decides whether the model is needed (a typed face box, a wired sync plan, allow_download) is
read from the queued prompt, which a PromptServer on_prompt handler keeps just before validation.
"""
from __future__ import annotations

from collections.abc import Callable

from wav2lip_core.checkpoints import S3FD, Unavailable, unobtainable
from wav2lip_core.detection import DETECTORS, missing_detector_package

from . import model_management as mm

OFFLINE_DETECTOR_ADVICE = ("Or set Detect Faces' detector to dlib_hog (offline, no weights file; pip install "
                           "dlib-bin), or type the face box into its manual_box.")

_queued_prompt: dict = {}   # the API-format prompt being validated: {node id: {"class_type", "inputs"}}
# class_type -> (the input holding its model choice, its VALIDATE_INPUTS), for the nodes other nodes wait for
_model_checks: dict[str, tuple[str, Callable[[str], bool | str]]] = {}


def remember_queued_prompt(json_data: dict) -> dict:
    """PromptServer on_prompt handler: keep the queued prompt for the validation that follows; changes nothing."""
    global _queued_prompt
    prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
    _queued_prompt = prompt if isinstance(prompt, dict) else {}
    return json_data


def register_prompt_handler() -> None:
    """Inside ComfyUI, call ``remember_queued_prompt`` for every queued prompt."""
    if not mm.IN_COMFYUI:
        return
    try:
        from server import PromptServer
        PromptServer.instance.add_on_prompt_handler(remember_queued_prompt)
    except Exception as error:  # an older or changed server: the nodes then assume the model is needed
        mm.log.info("ComfyUI-Wav2Lip: cannot see queued prompts (%s); models are checked without them", error)


def queued_inputs(class_type: str, input_name: str, value: object) -> list[dict] | None:
    """The inputs of the queued prompt's ``class_type`` nodes whose ``input_name`` is ``value`` (a wired input is
    a [node id, slot] list); None when no queued prompt is known."""
    if not _queued_prompt:
        return None
    return [node.get("inputs") or {} for node in _queued_prompt.values()
            if isinstance(node, dict) and node.get("class_type") == class_type
            and (node.get("inputs") or {}).get(input_name) == value]


def is_wired(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2


def describe(missing: Unavailable) -> str:
    """One paragraph for the editor: which file, why it cannot be had, where to get it and where to put it."""
    return f"{missing.filename} is missing and {missing.reason}. {missing.where}".strip()


def model_problem(request: str, architecture: str | None, allow_download: bool = True) -> str | None:
    """Why the model ``request`` (a dropdown value without its download mark) cannot be had, or None. Creates
    ComfyUI's models/wav2lip first, so the folder the message names is there to put the file in."""
    mm.ensure_download_dir()
    missing = unobtainable(request, search_dirs=mm.model_search_dirs(), download_dir=mm.download_dir(),
                           allow_download=allow_download, architecture=architecture)
    return None if missing is None else describe(missing)


def detector_problem(detector: str, advice: str = OFFLINE_DETECTOR_ADVICE) -> str | None:
    """Why the face detector ``detector`` cannot run here (an unknown name, a missing package or S3FD's weights),
    with ``advice``: the way round it in the nodes' inputs; None when it can."""
    if detector not in DETECTORS:
        return f"detector {detector!r} is not one of {', '.join(DETECTORS)}"
    package = missing_detector_package(detector)
    if package is not None:
        if detector != "s3fd":
            advice = "Or set the detector to s3fd (its weights are fetched on first use), or give a face box."
        return f"{package}. {advice}"
    if detector == "s3fd":
        problem = model_problem("s3fd", S3FD)
        if problem is not None:
            return f"the s3fd face detector needs its weights: {problem} {advice}"
    return None


def register_model_checks(checks: dict[str, tuple[str, Callable[[str], bool | str]]]) -> None:
    """Name the nodes whose models the rest of a workflow needs (see ``others_lack_models``)."""
    _model_checks.update(checks)


def others_lack_models(class_type: str) -> bool:
    """Whether a node of another registered type in the queued prompt cannot get its model. ComfyUI runs every
    output whose nodes all validate: Detect Faces refuses too then, so no output (a face-crop preview) starts
    before the workflow can finish."""
    for node in _queued_prompt.values():
        kind = node.get("class_type") if isinstance(node, dict) else None
        if kind == class_type or kind not in _model_checks:
            continue
        input_name, check = _model_checks[kind]
        value = (node.get("inputs") or {}).get(input_name)
        if isinstance(value, str) and check(value) is not True:
            return True
    return False
