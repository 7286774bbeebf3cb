"""Network architectures of Wav2Lip, one module each (state-dict layouts of the original), and SyncNet v2, the
network of the LSE-D / LSE-C lip-sync metrics (state-dict layout of syncnet_v2.model)."""
from .syncnet import SyncNetColor
from .syncnet_v2 import SyncNetV2
from .wav2lip import Wav2Lip

__all__ = ["Wav2Lip", "SyncNetColor", "SyncNetV2"]
