"""Before any work: which of the model files a job needs cannot be had, so that all of them are named at once.

``unobtainable`` answers for one request what ``resolve_checkpoint`` would end with, quickly: files are only
looked up (they are verified when they are loaded), and a known model that is not on disk is fine when a download
can start now (``fetch.why_not_fetchable`` asks its sources for headers only). So a run that would fetch what it
needs is not held up, and one that cannot get a file hears about every such file before anything runs. The CLI's
job check and the ComfyUI nodes' validation both ask here; each words its own advice around the messages.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .fetch import Unavailable, where_to_get, why_not_fetchable
from .known_models import find_known_model
from .reading import CheckpointError
from .resolve import resolve_checkpoint
from .store import find_in_folders, find_on_disk, pack_weights_dir


def unobtainable(name_or_path: str | os.PathLike, *, search_dirs: Sequence[str | os.PathLike],
                 download_dir: str | os.PathLike | None = None, allow_download: bool = True,
                 architecture: str | None = None) -> Unavailable | None:
    """None when ``resolve_checkpoint`` with the same arguments finds a file on disk or can start a download now;
    else which file cannot be had, why, where to get it and where to put it (``str()``: the whole message)."""
    request = str(name_or_path)
    model = find_known_model(request)
    folders = [Path(folder) for folder in search_dirs]
    if find_in_folders(request, folders) is not None or (model is not None and find_on_disk(model, folders)):
        return None
    if Path(request).expanduser().is_file():
        return None
    target = Path(download_dir) if download_dir is not None else (folders[0] if folders else pack_weights_dir())
    if model is None or not allow_download:
        try:   # nothing is on disk, so the resolver only words its refusal (no file is read, nothing fetched)
            resolve_checkpoint(request, search_dirs=folders, download_dir=download_dir, allow_download=False,
                               architecture=architecture)
        except CheckpointError as error:
            where = where_to_get(model, target) if model is not None else ""
            reason = "automatic downloads are off" if model is not None else "there is no such file"
            return Unavailable(model.filename if model is not None else Path(request).name, reason, str(error), where)
        return None
    return why_not_fetchable(model, target)
