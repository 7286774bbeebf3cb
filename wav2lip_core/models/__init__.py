"""Network architectures of Wav2Lip, one module each (state-dict layouts of the original)."""
from .syncnet import SyncNetColor
from .wav2lip import Wav2Lip

__all__ = ["Wav2Lip", "SyncNetColor"]
