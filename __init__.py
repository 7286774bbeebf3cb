"""ComfyUI-Wav2Lip: lip-sync nodes for ComfyUI (entry point ComfyUI imports from custom_nodes/).

The engine lives in ``wav2lip_core`` (no ComfyUI), the nodes in ``nodes/``. The pack folder is appended to
``sys.path`` so the engine is importable as ``wav2lip_core`` from the nodes.
"""
import importlib.util
import logging
import os
import sys

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)

_missing = [name for name, module in (("OpenCV (cv2)", "cv2"), ("librosa", "librosa"), ("soundfile", "soundfile"))
            if importlib.util.find_spec(module) is None]
if _missing:
    raise ImportError(f"ComfyUI-Wav2Lip needs {', '.join(_missing)}. In ComfyUI's Python environment, run "
                      f"`pip install -r requirements.txt` and then `python install.py` in {_PACK_DIR} "
                      f"(ComfyUI-Manager does both when it installs the pack), then restart ComfyUI.")
if importlib.util.find_spec("face_alignment") is None:
    logging.getLogger("ComfyUI-Wav2Lip").warning(
        "ComfyUI-Wav2Lip: face-alignment is not installed, so the s3fd face detector is unavailable; run "
        "`python install.py` in %s (or use a manual box / the dlib detectors).", _PACK_DIR)

if __package__:  # ComfyUI imports the pack as a package (named after its folder)
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: E402
else:
    # Imported as a lone file, not as a package: pytest does this with the repository's own __init__.py when
    # the clone's folder name is not a Python identifier. There is no ComfyUI then, so no nodes to register;
    # the tests import nodes/ directly.
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

# The editor loads every .js file of this folder: web/template_order.js puts the pack's templates in their numbered
# order in Workflow > Browse Templates.
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
