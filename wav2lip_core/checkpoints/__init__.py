"""Weight management: which networks a file can hold, which models are known, where files are, how they are
verified and recorded, fetched, and loaded. Every model file goes through ``resolve_checkpoint``.

Modules, lowest first: ``architectures`` (the registry), ``known_models`` (names, files, sources),
``reading`` (safe reading of any container), ``content`` (the one content check), ``store`` (files on disk and
verification records), ``fetch`` (the network), ``resolve`` (find, verify, fetch), ``availability`` (what a
job cannot get, named before any work), ``loading`` (into networks).
"""
from .architectures import (ARCHITECTURES, S3FD, SYNCNET, SYNCNET_V2, UNKNOWN, VISUAL_DISCRIMINATOR, WAV2LIP,
                            Architecture, identify_architecture)
from .availability import unobtainable
from .fetch import DownloadError, Unavailable, download_model, hub_endpoint, is_offline, where_to_get
from .known_models import KNOWN_MODELS, HubSource, KnownModel, UrlSource, find_known_model
from .loading import convert_to_safetensors, load_network, load_syncnet, load_syncnet_v2, load_wav2lip
from .reading import CheckpointError, read_state_dict
from .resolve import names_a_path, resolve_checkpoint
from .store import (CHECKPOINT_EXTENSIONS, ChangedOnDiskError, find_in_folders, find_on_disk, list_model_files,
                    pack_weights_dir, read_record, record_path, verify_checkpoint)

__all__ = [
    "ARCHITECTURES", "CHECKPOINT_EXTENSIONS", "KNOWN_MODELS", "S3FD", "SYNCNET", "SYNCNET_V2", "UNKNOWN",
    "VISUAL_DISCRIMINATOR", "WAV2LIP", "Architecture", "ChangedOnDiskError", "CheckpointError", "DownloadError",
    "HubSource", "KnownModel", "Unavailable", "UrlSource", "convert_to_safetensors", "download_model", "find_in_folders",
    "find_known_model", "find_on_disk", "hub_endpoint", "identify_architecture", "is_offline", "list_model_files",
    "load_network", "load_syncnet", "load_syncnet_v2", "load_wav2lip", "names_a_path", "pack_weights_dir",
    "read_record", "read_state_dict", "record_path", "resolve_checkpoint", "unobtainable", "verify_checkpoint", "where_to_get",
]
