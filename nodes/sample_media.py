"""The example workflows' media (the pack's workflows/media/) copied into ComfyUI's input folder at start-up, so a
fresh install runs every example workflow on the first click.

Load Video, Load Image and Load Audio only list the top level of the input folder, so the files go there. The
names are distinctive (``wav2lip_sample_*``) so they do not collide with a user's files; a file of the same name
is never overwritten (a different one is left alone, with a warning). What was copied is logged once.
"""
from __future__ import annotations

import filecmp
import logging
import os
import shutil
import uuid
from pathlib import Path

log = logging.getLogger("ComfyUI-Wav2Lip")

MEDIA_DIR = Path(__file__).resolve().parents[1] / "workflows" / "media"


def sample_media_files(media_dir: Path = MEDIA_DIR) -> list[Path]:
    """The media files the example workflows load (every plain file of workflows/media/, sorted)."""
    if not media_dir.is_dir():
        return []
    return sorted(path for path in media_dir.iterdir() if path.is_file() and not path.name.startswith("."))


def _copy_without_overwriting(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` unless something is there; True when copied. The bytes go to a temporary
    name first and appear under ``target`` only complete; a file that appeared meanwhile is kept."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        shutil.copyfile(source, temporary)
        try:
            os.link(temporary, target)              # fails if target exists: never replaces anything
        except FileExistsError:
            return False
        except OSError:                             # a file system without hard links
            if target.exists():
                return False
            os.replace(temporary, target)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def provide_sample_media(input_dir: Path | None, media_dir: Path = MEDIA_DIR) -> list[str]:
    """Copy each sample file into ``input_dir`` when no file of its name is there; returns the names copied.

    Never raises (start-up must not fail over an example): an unwritable folder is logged as a warning.
    """
    if input_dir is None:
        return []
    copied, kept = [], []
    try:
        input_dir.mkdir(parents=True, exist_ok=True)
        for source in sample_media_files(media_dir):
            target = input_dir / source.name
            if target.exists():
                if not (target.is_file() and filecmp.cmp(source, target, shallow=False)):
                    kept.append(source.name)
            elif _copy_without_overwriting(source, target):
                copied.append(source.name)
    except OSError as error:
        log.warning("ComfyUI-Wav2Lip: could not copy the example workflows' media into %s (%s); copy the files "
                    "of %s there yourself to run the examples.", input_dir, error, media_dir)
        return copied
    if copied:
        log.info("ComfyUI-Wav2Lip: copied the example workflows' media into %s: %s", input_dir, ", ".join(copied))
    for name in kept:
        log.warning("ComfyUI-Wav2Lip: %s in %s is not the pack's sample of that name; it was left as it is, so the "
                    "example workflows will load your file (the sample is in %s).", name, input_dir, media_dir)
    return copied
