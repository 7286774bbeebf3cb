"""The one path by which any model file is found, fetched, verified and recorded: ``resolve_checkpoint``.

1. A name relative to one of the search folders (as ComfyUI lists them) or an existing path of the user's is
   verified and used as it is (never moved or replaced). A path (``names_a_path``) that is neither is an error
   naming it: another file that merely shares its file name is never used in its place (only the path a known
   model is downloaded to, e.g. ``weights/wav2lip_gan.pth`` from the pack's folder, is fetched there).
2. A known model (``known_models``) is looked for under its usual file names in the search folders; a file
   there that fails verification is moved aside to ``.rejected`` and the message says what it was.
3. A known model not on disk is fetched (``fetch.download_model``) into the download folder, when allowed.
Errors are ``CheckpointError`` or its subclasses ``DownloadError`` / ``ChangedOnDiskError``; their messages are
meant for the user, so callers print ``str(error)``, never a traceback.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from .fetch import DownloadError, ProgressCallback, download_model, where_to_get
from .known_models import KNOWN_MODELS, KnownModel, find_known_model
from .reading import CheckpointError
from .store import ChangedOnDiskError, find_in_folders, find_on_disk, move_aside, pack_weights_dir, verify_checkpoint

_log = logging.getLogger("wav2lip_core.checkpoints")


def names_a_path(request: str) -> bool:
    """Whether ``request`` names a file by its path (a folder part, ``~``, a drive or an absolute path) rather
    than by a bare name ("wav2lip_gan", "s3fd.pth") that may be looked up in the model folders and fetched."""
    text = request.strip()
    return "/" in text or "\\" in text or text.startswith("~") or Path(text).is_absolute() or \
        (len(text) > 1 and text[1] == ":")


def resolve_checkpoint(name_or_path: str | os.PathLike, *, search_dirs: Sequence[str | os.PathLike],
                       download_dir: str | os.PathLike | None = None, allow_download: bool = True,
                       progress: ProgressCallback | None = None, architecture: str | None = None) -> Path:
    """A verified checkpoint file for a path, a file name in ``search_dirs`` or a known model's name.

    ``name_or_path``: a name relative to one of ``search_dirs`` (looked up first); or an existing path; or a
    known model by its bare name ("wav2lip_gan", "wav2lip_gan.pth", any case). A path that is neither raises
    CheckpointError naming it (``/no/such/dir/wav2lip_gan.pth`` is not the known model). A known model that is
    missing from ``search_dirs``, or whose file there is not usable (it is moved aside), is downloaded into
    ``download_dir`` (default: the first search folder) when ``allow_download``. A valid file that changed since it was
    verified raises ChangedOnDiskError and is left alone.
    ``architecture``: what the file must hold (default: the known model's; None accepts any).
    """
    request = str(name_or_path)
    model = find_known_model(request)
    expected = architecture or (model.architecture if model else None)
    in_folder = find_in_folders(request, search_dirs)
    if in_folder is None and Path(request).expanduser().exists():  # a path of the user's own, as it is
        return verify_checkpoint(Path(request).expanduser(), expected).path
    if in_folder is not None and (model is None or in_folder.name.lower() not in
                                  {filename.lower() for filename in model.filenames}):
        return verify_checkpoint(in_folder, expected).path
    folders = [Path(folder) for folder in search_dirs]
    target = Path(download_dir) if download_dir is not None else (folders[0] if folders else pack_weights_dir())
    named_path = in_folder is None and names_a_path(request)
    if named_path and not _is_download_path(request, model, target):
        raise CheckpointError(_no_such_path(request, model, folders))
    if model is None:
        raise CheckpointError(
            f"{request}: no such file (looked in: {', '.join(map(str, folders)) or 'no folder'}), and it is not "
            f"one of the models this pack can download ({', '.join(KNOWN_MODELS)}).")
    # A path naming the very file a download makes (weights/wav2lip_gan.pth from the pack's folder) is fetched
    # there; no other copy stands in for it.
    on_disk = in_folder or (None if named_path else find_on_disk(model, folders))
    if on_disk is not None:
        try:
            return verify_checkpoint(on_disk, expected).path
        except ChangedOnDiskError:
            raise
        except CheckpointError as error:
            _set_aside_or_raise(error, model, on_disk, allow_download)
    if not allow_download:
        raise DownloadError(f"{model.filename} is not on disk and automatic downloads are off. "
                            f"{where_to_get(model, target)}")
    return download_model(model, target, progress=progress)


def _is_download_path(request: str, model: KnownModel | None, target: Path) -> bool:
    """Whether the path ``request`` is where ``model`` is downloaded to (its file name in ``target``)."""
    return model is not None and \
        Path(request).expanduser().resolve() == (target / model.filename).expanduser().resolve()


def _no_such_path(request: str, model: KnownModel | None, folders: Sequence[Path]) -> str:
    """The message for a path that names no file (a known model's file name in it is not that model)."""
    message = f"{request}: no such file"
    if folders and not Path(request).expanduser().is_absolute():
        message += f" (nor under {', '.join(map(str, folders))})"
    if model is not None:
        message += (f". To use the known model {model.name} (looked for in the model folders and downloaded when "
                    f"missing), give its bare name: {model.name}")
    return message + "."


def _set_aside_or_raise(error: CheckpointError, model: KnownModel, on_disk: Path, allow_download: bool) -> None:
    """A known model's file failed verification: move it aside and return (so a fresh copy is fetched), or raise
    a message saying what to do."""
    aside = move_aside(on_disk)
    if aside is None:  # cannot move it: the user has to
        raise CheckpointError(f"{error} Delete it (this folder is not writable here). "
                              f"{where_to_get(model, on_disk.parent)}") from None
    message = f"{error} It was moved aside to {aside.name}."
    if not allow_download:
        raise CheckpointError(f"{message} {where_to_get(model, on_disk.parent)}") from None
    _log.warning("%s Downloading a fresh copy.", message)
