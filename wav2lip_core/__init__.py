"""wav2lip_core: the Wav2Lip lip-sync engine (plain torch / numpy / OpenCV / librosa; no ComfyUI)."""
__version__ = "0.1.0"
