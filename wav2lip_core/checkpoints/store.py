"""Checkpoints on disk: where they are looked for, how they are listed, and their verification records.

A file is verified once in full (``content.check_state_dict``); its SHA-256 is then recorded beside it in
``<name>.verified.json`` with the file's size and modification time. Later loads hash the file again and
compare unless size and time are still the recorded ones, so a file that changed on disk is noticed
(``ChangedOnDiskError``) and an unchanged one is not read twice. A refused file under a known name is moved
aside to ``<name>.rejected`` (never deleted: it is the user's file).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .architectures import UNKNOWN, architecture as registered
from .content import check_state_dict
from .known_models import KnownModel
from .reading import CheckpointError, existing_file, read_state_dict

CHECKPOINT_EXTENSIONS = (".pth", ".pt", ".safetensors", ".ckpt", ".bin", ".model")   # .model: syncnet_v2.model
RECORD_SUFFIX = ".verified.json"
REJECTED_SUFFIX = ".rejected"
PARTIAL_SUFFIX = ".partial"
# A record written within this time of the file's modification could share its clock tick (see _unchanged_since).
_CLEAN_MTIME_MARGIN_NS = 2 * 10**9
_HASH_CHUNK = 8 * 2**20


class ChangedOnDiskError(CheckpointError):
    """A file still holds a valid checkpoint, but not the bytes that were verified (swapped or bit-flipped)."""


@dataclass(frozen=True)
class VerifiedCheckpoint:
    path: Path
    sha256: str
    architecture: str


def pack_weights_dir() -> Path:
    """The pack's own ``weights/`` folder (the CLI's, and read inside ComfyUI too)."""
    return Path(__file__).resolve().parents[2] / "weights"


def is_checkpoint_name(name: str) -> bool:
    return Path(name).suffix.lower() in CHECKPOINT_EXTENSIONS


def list_model_files(folders: Iterable[str | os.PathLike]) -> list[str]:
    """Checkpoint files under ``folders`` (recursive) as names relative to their folder (posix, as ComfyUI shows
    them), in folder order, each name once; hidden, partial and rejected files are left out."""
    names: list[str] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts) or not is_checkpoint_name(path.name):
                continue
            if path.is_file() and relative.as_posix() not in names:
                names.append(relative.as_posix())
    return names


def find_in_folders(relative_name: str, folders: Iterable[str | os.PathLike]) -> Path | None:
    """The first ``folder / relative_name`` that is a file (None for absolute names)."""
    relative = Path(relative_name)
    if relative.is_absolute():
        return None
    for folder in map(Path, folders):
        if (folder / relative).is_file():
            return folder / relative
    return None


def find_on_disk(model: KnownModel, folders: Iterable[str | os.PathLike]) -> Path | None:
    """The first file in ``folders`` (top level, in order) carrying one of ``model``'s usual names."""
    wanted = {name.lower() for name in model.filenames}
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for filename in model.filenames:  # exact names first, in the table's order
            if (folder / filename).is_file():
                return folder / filename
        for path in sorted(folder.iterdir()):  # then the same names in another case (Windows copies)
            if path.is_file() and path.name.lower() in wanted:
                return path
    return None


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(path: str | os.PathLike) -> Path:
    """Where the verification record of ``path`` lives: ``<file>.verified.json`` beside it."""
    path = Path(path)
    return path.with_name(path.name + RECORD_SUFFIX)


def read_record(path: Path) -> dict | None:
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("sha256"), str) else None


def write_record(path: Path, sha256: str, architecture: str, source: str | None,
                 official: bool | None = None) -> None:
    """Write the record atomically; a read-only folder only costs the re-check next time.
    ``official``: whether the bytes are the published official file (None: no published hash)."""
    stat = path.stat()
    record = {"file": path.name, "sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
              "recorded_ns": time.time_ns(), "architecture": architecture,
              "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if source:
        record["source"] = source
    if official is not None:
        record["official"] = official
    target = record_path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
    try:
        temporary.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)


def _unchanged_since(path: Path, record: dict) -> bool:
    """True when ``path`` still has the size and modification time (ns) of the verification ``record``, and the
    record was written well after that time (a write in the same clock tick as the hashing could keep the time
    unchanged: such a record is never trusted this way; the same rule as git's "racily clean" index entries).
    Saves hashing a few hundred MB on every load."""
    stat = path.stat()
    mtime_ns, recorded_ns = record.get("mtime_ns"), record.get("recorded_ns")
    if not isinstance(mtime_ns, int) or not isinstance(recorded_ns, int):
        return False
    return (stat.st_size == record.get("size") and stat.st_mtime_ns == mtime_ns
            and recorded_ns - mtime_ns > _CLEAN_MTIME_MARGIN_NS)


def check_file(path: Path, architecture: str | None) -> str:
    """Read ``path`` and run the content check; returns the architecture id found. Raises CheckpointError."""
    return check_state_dict(read_state_dict(path), path, architecture).id


def verify_checkpoint(path: str | os.PathLike, architecture: str | None = None, *,
                      source: str | None = None) -> VerifiedCheckpoint:
    """Check that ``path`` is a usable checkpoint of ``architecture`` (any known one if None).

    First time: the full content check, then the SHA-256 is recorded in ``<file>.verified.json``. Later: the
    hash is compared with the record; equal means verified (the tensors are not read again). Different: the
    full check runs again (a corrupt file raises what it is), and a file that passes it raises
    ChangedOnDiskError, so a swapped or bit-flipped file is noticed, never used silently. A file whose size
    and modification time are still those recorded is not hashed again.
    """
    path = existing_file(path)
    record = read_record(path)
    same_kind = record is not None and (architecture is None or record.get("architecture") == architecture)
    if same_kind and _unchanged_since(path, record):
        return VerifiedCheckpoint(path, record["sha256"], str(record.get("architecture", UNKNOWN)))
    sha256 = file_sha256(path)
    if same_kind and record["sha256"] == sha256:
        found = str(record.get("architecture", UNKNOWN))
        write_record(path, sha256, found, record.get("source"), record.get("official"))   # note the new time
        return VerifiedCheckpoint(path, sha256, found)
    found = check_file(path, architecture)  # a corrupt or wrong file says so, changed or not
    if record is not None and record["sha256"] != sha256:
        raise ChangedOnDiskError(
            f"{path}: the file changed on disk since it was verified on {record.get('verified_at', '?')} "
            f"(SHA-256 was {record['sha256'][:16]}…, is now {sha256[:16]}…), although it still reads as "
            f"{registered(found).description}. If you replaced it on purpose, delete {record_path(path).name} and "
            f"load it again; otherwise delete both files and download it again.")
    write_record(path, sha256, found, source)
    return VerifiedCheckpoint(path, sha256, found)


def move_aside(path: Path) -> Path | None:
    """Rename a refused file to ``<name>.rejected`` (out of every loader's sight) and drop its record;
    None when the folder is read-only."""
    aside = path.with_name(path.name + REJECTED_SUFFIX)
    try:
        os.replace(path, aside)
        record_path(path).unlink(missing_ok=True)
    except OSError:
        return None
    return aside
