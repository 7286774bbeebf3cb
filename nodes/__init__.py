"""ComfyUI nodes of the Wav2Lip pack: thin adapters from ComfyUI types to the wav2lip_core engine and back.

Importable without ComfyUI (tests drive the classes directly); inside ComfyUI they use its model management.
"""
from __future__ import annotations

from .audio_node import AudioToMel
from .detect_node import DetectFaces
from .loader import LoadWav2LipModel
from .model_check import register_model_checks, register_prompt_handler
from .model_management import input_directory, register_model_folder
from .paste_node import PasteBack
from .sample_media import provide_sample_media
from .score_node import LipSyncScore
from .sync_node import Wav2LipSync
from .video_node import LipSyncVideo

register_model_folder()
register_prompt_handler()
register_model_checks({"LoadWav2LipModel": ("model_name", LoadWav2LipModel.VALIDATE_INPUTS),
                       "LipSyncScore": ("model", LipSyncScore.VALIDATE_INPUTS)})
provide_sample_media(input_directory())

NODE_CLASS_MAPPINGS = {
    "LoadWav2LipModel": LoadWav2LipModel,
    "AudioToMel": AudioToMel,
    "DetectFaces": DetectFaces,
    "Wav2LipSync": Wav2LipSync,
    "PasteBack": PasteBack,
    "LipSyncScore": LipSyncScore,
    "LipSyncVideo": LipSyncVideo,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadWav2LipModel": "Load Wav2Lip Model",
    "AudioToMel": "Audio To Mel (Wav2Lip)",
    "DetectFaces": "Detect Faces (Wav2Lip)",
    "Wav2LipSync": "Wav2Lip Sync",
    "PasteBack": "Paste Back (Wav2Lip)",
    "LipSyncScore": "Lip Sync Score (Wav2Lip)",
    "LipSyncVideo": "Lip Sync Video (Wav2Lip)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
