"""Finding, fetching and verifying the checkpoints of ``zoo.KNOWN_MODELS``.

What happens when a model is asked for by name (``resolve_checkpoint("wav2lip_gan", ...)``):

1. Every search folder is looked at for one of the model's usual file names. A file found there is verified
   (below); a file that fails is moved aside to ``<name>.rejected`` (never deleted: it is the user's file) and
   the message says what it was.
2. If none is there and downloads are allowed, the sources of the model are tried in order, with
   ``huggingface_hub`` (it honours ``HF_ENDPOINT`` for regional mirrors, ``HF_TOKEN`` and ``HF_HUB_OFFLINE``).
   A metadata request with a short timeout comes first, so an unreachable source costs seconds, not minutes.
   The body goes to a hidden temporary file ``.<name>.<random>.partial`` in the download folder, a name no
   loader lists; it is verified there, and only then renamed (atomically) to its final name. A cut or refused
   download is deleted, so no file that looks complete is ever left behind. Where the official file's
   SHA-256 is published (``KnownModel.sha256``), a source with those bytes is preferred to one with another
   valid copy.
3. Offline (``HF_HUB_OFFLINE=1``, no network, or no source answering) gives one ``DownloadError`` naming the
   file, the folder it goes in and where to get it, without sending any request when offline is declared.

Verification (``verify_checkpoint``): the file loads with ``torch.load(weights_only=True)`` (or safetensors),
its keys and shapes are those of the expected network, every value is finite. Its SHA-256 is then recorded
beside it in ``<name>.verified.json`` with the file's size and modification time; later loads hash the file
again and compare unless size and time are still the recorded ones, so a file that changed on disk is noticed
(``ChangedOnDiskError``; an unchanged one is not read twice). For a download whose server
gives a SHA-256 (the hub's ``X-Linked-Etag`` for large files), the bytes are also checked against it.

Why not ``hf_hub_download``: when its metadata request fails it retries with a 60 s timeout and back-off (a
long hang offline); with ``local_dir`` it writes the finished file under its final name (a loader could list
it before verification) plus a ``.cache`` folder; with the shared cache a 416 MiB file is stored twice. So
this module uses the library's building blocks instead (``hf_hub_url``, ``get_hf_file_metadata``,
``http_get``, ``build_hf_headers``): same endpoint, token, offline and resume behaviour, with the temporary
name, the verification and the atomic move in our hands. The environment is read at call time, not import
time, so ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` set after ``huggingface_hub`` was imported still count.

Errors are ``CheckpointError`` (a bad file) or its subclass ``DownloadError`` (could not get one); both carry a
message meant for the user, so callers print ``str(error)``, never a traceback.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import torch
from tqdm.auto import tqdm

from .checkpoint import (ARCHITECTURE_DESCRIPTIONS, GET_WEIGHTS_HINT, S3FD, SYNCNET, UNKNOWN, WAV2LIP,
                         CheckpointError, identify_architecture, layout_problems, non_finite_keys,
                         read_state_dict)
from .zoo import KNOWN_MODELS, HubSource, KnownModel, Source, UrlSource, find_known_model

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when the server does not say."""

DOWNLOAD_MARK = " (will be downloaded)"
CHECKPOINT_EXTENSIONS = (".pth", ".pt", ".safetensors", ".ckpt", ".bin")
RECORD_SUFFIX = ".verified.json"
_CLEAN_MTIME_MARGIN_NS = 2 * 10**9   # see _unchanged_since
REJECTED_SUFFIX = ".rejected"
PARTIAL_SUFFIX = ".partial"
DEFAULT_METADATA_TIMEOUT_S = 5.0
STALE_PARTIAL_AGE_S = 600.0
_HASH_CHUNK = 8 * 2**20
_TRUE_WORDS = {"1", "on", "yes", "true"}
_log = logging.getLogger("wav2lip_core.download")


class DownloadError(CheckpointError):
    """A model could not be obtained; the message names the file, its folder and where to get it."""


class ChangedOnDiskError(CheckpointError):
    """A file still holds a valid checkpoint, but not the bytes that were verified (swapped or bit-flipped)."""


@dataclass(frozen=True)
class VerifiedCheckpoint:
    path: Path
    sha256: str
    architecture: str


# ---------------------------------------------------------------------------------------------------- places

def pack_weights_dir() -> Path:
    """The pack's own ``weights/`` folder (used outside ComfyUI)."""
    return Path(__file__).resolve().parents[1] / "weights"


def _checkpoint_files(folder: Path) -> list[Path]:
    """Checkpoint-looking files under ``folder`` (recursive), without hidden, partial or rejected ones."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in CHECKPOINT_EXTENSIONS:
            found.append(path)
    return sorted(found)


def find_on_disk(model: KnownModel, search_dirs: Iterable[str | os.PathLike]) -> Path | None:
    """The first file in ``search_dirs`` (top level, in order) carrying one of ``model``'s usual names."""
    wanted = {name.lower() for name in model.filenames}
    for folder in map(Path, search_dirs):
        if not folder.is_dir():
            continue
        for filename in model.filenames:  # exact names first, in the table's order
            if (folder / filename).is_file():
                return folder / filename
        for path in sorted(folder.iterdir()):  # then the same names in another case (Windows copies)
            if path.is_file() and path.name.lower() in wanted:
                return path
    return None


# ---------------------------------------------------------------------------------------------- verification

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


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("sha256"), str) else None


def _write_record(path: Path, sha256: str, architecture: str, source: str | None,
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


def _reference_shapes(architecture: str) -> dict[str, torch.Size] | None:
    """Key -> shape of a fresh network of ``architecture`` (built on the meta device: no memory, no time),
    or None when the pack has no such network to compare with."""
    if architecture == WAV2LIP:
        from .models import Wav2Lip as network
    elif architecture == SYNCNET:
        from .models import SyncNetColor as network
    elif architecture == S3FD:
        try:
            from face_alignment.detection.sfd.net_s3fd import s3fd as network
        except ImportError:
            return None
    else:
        return None
    with torch.device("meta"):
        return {key: tensor.shape for key, tensor in network().state_dict().items()}


def _check_content(path: Path, architecture: str | None) -> str:
    """Deep check of a file's tensors; returns the architecture found. Raises CheckpointError.

    weights_only load (HTML pages, empty and truncated files are refused by ``read_state_dict``), the
    architecture recognised from the keys, keys and shapes against a fresh network, every value finite.
    """
    state_dict = read_state_dict(path)
    found = identify_architecture(state_dict)
    if architecture is not None and found != architecture:
        raise CheckpointError(
            f"{path}: this file is {ARCHITECTURE_DESCRIPTIONS[found]}, but {ARCHITECTURE_DESCRIPTIONS[architecture]} "
            f"is needed here.")
    reference = _reference_shapes(found)
    if reference is not None:
        problems = layout_problems(state_dict, reference)
        if problems:
            raise CheckpointError(
                f"{path}: looks like {ARCHITECTURE_DESCRIPTIONS[found]} but does not match its layout: "
                f"{'; '.join(problems)}. It may be a modified or different-resolution variant.")
    bad = non_finite_keys(state_dict)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} tensors hold NaN or infinite values (e.g. {bad[0]}); the file "
                              f"is corrupted. Delete it and download it again.")
    return found


def _unchanged_since(path: Path, record: dict) -> bool:
    """True when ``path`` still has the size and modification time (ns) of the verification ``record``, and the
    record was written well after that time (a write in the same clock tick as the hashing, within
    ``_CLEAN_MTIME_MARGIN_NS``, could keep the time unchanged: such a record is never trusted this way; the
    same rule as git's "racily clean" index entries). Saves hashing ~140-420 MB on every load."""
    stat = path.stat()
    mtime_ns, recorded_ns = record.get("mtime_ns"), record.get("recorded_ns")
    if not isinstance(mtime_ns, int) or not isinstance(recorded_ns, int):
        return False
    return (stat.st_size == record.get("size") and stat.st_mtime_ns == mtime_ns
            and recorded_ns - mtime_ns > _CLEAN_MTIME_MARGIN_NS)


def verify_checkpoint(path: str | os.PathLike, architecture: str | None = None, *,
                      source: str | None = None) -> VerifiedCheckpoint:
    """Check that ``path`` is a usable checkpoint of ``architecture`` (any known one if None).

    First time: full check (weights_only load, keys/shapes, finite values), then the SHA-256 is recorded in
    ``<file>.verified.json``. Later: the hash is compared with the record; equal means verified (the tensors
    are not read again). Different: the full check runs again (a corrupt file raises what it is), and a file
    that passes it raises ChangedOnDiskError, so a swapped or bit-flipped file is noticed, never used silently.
    A file whose size and modification time are still those recorded is not hashed again (``_unchanged_since``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file.")
    record = _read_record(path)
    if record is not None and _unchanged_since(path, record) and \
            (architecture is None or record.get("architecture") == architecture):
        return VerifiedCheckpoint(path, record["sha256"], str(record.get("architecture", UNKNOWN)))
    sha256 = file_sha256(path)
    if record is not None and record["sha256"] == sha256 and \
            (architecture is None or record.get("architecture") == architecture):
        found = str(record.get("architecture", UNKNOWN))
        if not _unchanged_since(path, record):     # same bytes, new time (or an older record): note the time
            _write_record(path, sha256, found, record.get("source"), record.get("official"))
        return VerifiedCheckpoint(path, sha256, found)
    found = _check_content(path, architecture)  # a corrupt or wrong file says so, changed or not
    if record is not None and record["sha256"] != sha256:
        raise ChangedOnDiskError(
            f"{path}: the file changed on disk since it was verified on {record.get('verified_at', '?')} "
            f"(SHA-256 was {record['sha256'][:16]}…, is now {sha256[:16]}…), although it still reads as "
            f"{ARCHITECTURE_DESCRIPTIONS[found]}. If you replaced it on purpose, delete {record_path(path).name} "
            f"and load it again; otherwise delete both files and download it again.")
    _write_record(path, sha256, found, source)
    return VerifiedCheckpoint(path, sha256, found)


def _move_aside(path: Path) -> Path | None:
    """Rename a refused file to ``<name>.rejected`` (out of every loader's sight) and drop its record;
    None when the folder is read-only."""
    aside = path.with_name(path.name + REJECTED_SUFFIX)
    try:
        os.replace(path, aside)
        record_path(path).unlink(missing_ok=True)
    except OSError:
        return None
    return aside


# ------------------------------------------------------------------------------------------------- network

def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE_WORDS


def is_offline() -> bool:
    """True when downloads are forbidden by ``HF_HUB_OFFLINE`` (read now, or when huggingface_hub was imported)."""
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def hub_endpoint() -> str:
    """The hub address in use: ``HF_ENDPOINT`` (read now) or huggingface.co."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip()
    if not endpoint:
        try:
            from huggingface_hub import constants
            endpoint = constants.ENDPOINT
        except ImportError:
            endpoint = "https://huggingface.co"
    return endpoint.rstrip("/")


def metadata_timeout_s() -> float:
    """Seconds to wait for a source's first answer: ``HF_HUB_ETAG_TIMEOUT`` if set, else 5."""
    try:
        return float(os.environ["HF_HUB_ETAG_TIMEOUT"])
    except (KeyError, ValueError):
        return DEFAULT_METADATA_TIMEOUT_S


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    return parsed.scheme, (parsed.hostname or "").lower(), parsed.port


class _ProgressFile:
    """A binary file that reports its size to ``progress`` after every write (seek/truncate pass through).

    An exception raised by the callback (a user's interrupt in ComfyUI) is kept in ``callback_error`` so the
    caller can let it through instead of treating it as a failed transfer."""

    def __init__(self, handle: BinaryIO, progress: ProgressCallback | None, total: int | None):
        self._handle, self._progress, self.total = handle, progress, total
        self.callback_error: BaseException | None = None

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        if self._progress is not None:
            try:
                self._progress(self._handle.tell(), self.total)
            except BaseException as error:
                self.callback_error = error
                raise
        return written

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


class _SilentTqdm(tqdm):
    """huggingface_hub's bar, switched off while our own callback reports the progress."""

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


@dataclass
class _Attempt:
    source: str
    outcome: str
    unreachable: bool = False  # no answer at all (network down, timeout), as opposed to a refusal or a cut


class _SourceFailed(Exception):
    def __init__(self, attempt: _Attempt):
        super().__init__(attempt.outcome)
        self.attempt = attempt


def _http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _describe_http_failure(status: int) -> str:
    if status == 404:
        return "not found there (404)"
    if status in (401, 403):
        return f"access refused ({status}); if this mirror needs an account, set HF_TOKEN"
    return f"the server answered HTTP {status}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _fetch_one(source: Source, temporary: Path, display_name: str,
               progress: ProgressCallback | None) -> tuple[str, str | None]:
    """Download ``source`` into ``temporary``; returns (address, sha256 the server vouches for or None)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import HfHubHTTPError, build_hf_headers

    endpoint = hub_endpoint()
    if isinstance(source, HubSource):
        url = hf_hub_url(source.repo_id, source.path, revision=source.revision, endpoint=endpoint)
        token: bool | None = None  # huggingface_hub reads HF_TOKEN / the saved login
    else:
        url = source.url
        token = False  # never send a hub token to another site
    try:
        metadata = get_hf_file_metadata(url, token=token, timeout=metadata_timeout_s())
        location, size, etag = metadata.location or url, metadata.size, metadata.etag
    except HfHubHTTPError as error:
        status = _http_status(error)
        if isinstance(source, UrlSource) and status in (405, 501):  # the site does not answer HEAD: just GET
            location, size, etag = url, None, None
        else:
            raise _SourceFailed(_Attempt(url, _describe_http_failure(status) if status else _first_line(error)))
    except Exception as error:  # connection refused, DNS failure, timeout, offline: no answer at all
        raise _SourceFailed(_Attempt(url, f"no answer ({_first_line(error)})", unreachable=True))

    headers = build_hf_headers(token=token)
    if _origin(location) != _origin(url):
        headers.pop("authorization", None)  # signed CDN address: the token stays on the hub
    extra = {}
    if progress is not None and "tqdm_class" in inspect.signature(http_get).parameters:
        extra["tqdm_class"] = _SilentTqdm  # our callback draws the bar; older huggingface_hub draws its own too
    with open(temporary, "wb") as handle:
        writer = _ProgressFile(handle, progress, size)
        try:
            http_get(location, writer, headers=headers, expected_size=size, displayed_filename=display_name, **extra)
        except HfHubHTTPError as error:
            status = _http_status(error)
            raise _SourceFailed(_Attempt(url, _describe_http_failure(status) if status else _first_line(error)))
        except Exception as error:  # cut connection that could not be resumed, size mismatch, disk full
            if writer.callback_error is error:
                raise  # the progress callback stopped the download (an interrupt): not a source failure
            raise _SourceFailed(_Attempt(url, f"the transfer failed ({_first_line(error)})"))
    vouched = etag.lower() if etag and len(etag) == 64 and all(c in "0123456789abcdefABCDEF" for c in etag) else None
    return url, vouched


def _remove_stale_partials(folder: Path, filename: str) -> None:
    """Delete temporary files of earlier, killed downloads of ``filename`` (not of one still running)."""
    now = time.time()
    for partial in folder.glob(f".{filename}.*{PARTIAL_SUFFIX}"):
        try:
            if now - partial.stat().st_mtime > STALE_PARTIAL_AGE_S:
                partial.unlink()
        except OSError:
            pass


def where_to_get(model: KnownModel, folder: Path | None = None) -> str:
    """One sentence for the user: which file, which folder, from where (and the licence)."""
    endpoint = hub_endpoint()
    addresses = " or ".join(source.describe(endpoint) for source in model.sources[:2])
    place = f"put it in {folder}" if folder is not None else "put it in ComfyUI's models/wav2lip folder (or this " \
                                                            "pack's weights/ folder outside ComfyUI)"
    return (f"Download {model.filename} ({model.approx_size_text}) yourself from {addresses} and {place}; "
            f"licence: {model.licence}.")


def _fetch_and_check(model: KnownModel, source: Source, temporary: Path,
                     progress: ProgressCallback | None) -> tuple[str, str, str]:
    """Download one source into ``temporary`` and verify it; returns (address, sha256, architecture).
    Raises _SourceFailed (the caller deletes ``temporary``)."""
    url, vouched_sha256 = _fetch_one(source, temporary, model.filename, progress)
    sha256 = file_sha256(temporary)
    if vouched_sha256 is not None and sha256 != vouched_sha256:
        raise _SourceFailed(_Attempt(url, f"refused and removed: the bytes received (SHA-256 {sha256[:12]}…) are "
                                          f"not the file the server announced ({vouched_sha256[:12]}…); the "
                                          f"transfer was corrupted"))
    try:
        found = _check_content(temporary, model.architecture)
    except CheckpointError as error:
        reason = (str(error).replace(str(temporary), "the downloaded file").replace(GET_WEIGHTS_HINT, "")
                  .replace(" Delete it.", "").strip())
        raise _SourceFailed(_Attempt(url, f"refused and removed: {reason}")) from None
    return url, sha256, found


def download_model(model: KnownModel, download_dir: str | os.PathLike, *,
                   progress: ProgressCallback | None = None) -> Path:
    """Fetch ``model`` into ``download_dir`` from its sources in order; returns the verified file's path.

    The first source whose file passes verification and has the official SHA-256 (``model.sha256``) wins;
    if none has the official bytes, the first verified copy is used (logged, recorded as not official).

    Raises DownloadError (offline, nothing answered, or every answer was refused) with a message for the user.
    """
    folder = Path(download_dir)
    final = folder / model.filename
    if importlib.util.find_spec("huggingface_hub") is None:
        raise DownloadError(f"{model.filename} is not on disk and cannot be downloaded because the package "
                            f"huggingface_hub is not installed (pip install huggingface_hub). "
                            f"{where_to_get(model, folder)}")
    if is_offline():
        raise DownloadError(f"{model.filename} is not on disk and downloads are off (HF_HUB_OFFLINE is set). "
                            f"{where_to_get(model, folder)}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
    except OSError as error:
        raise DownloadError(f"cannot write to {folder} ({error}). {where_to_get(model, folder)}") from None
    if free < model.approx_bytes * 1.05:
        raise DownloadError(f"not enough free space in {folder} for {model.filename}: it needs "
                            f"{model.approx_size_text}, {free / 2**20:.0f} MiB are free.")
    _remove_stale_partials(folder, model.filename)

    attempts: list[_Attempt] = []
    unreachable_origins: set[tuple[str, str, int | None]] = set()
    reserve: tuple[Path, str, str, str] | None = None  # valid, not the official bytes: (path, url, sha, arch)
    try:
        for source in model.sources:
            address = source.describe(hub_endpoint())
            if _origin(address) in unreachable_origins:
                attempts.append(_Attempt(address, "skipped: its server did not answer just before", unreachable=True))
                continue
            temporary = folder / f".{model.filename}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
            try:
                url, sha256, found = _fetch_and_check(model, source, temporary, progress)
                if model.sha256 is None or sha256 == model.sha256:
                    os.replace(temporary, final)
                    _write_record(final, sha256, found, url, official=None if model.sha256 is None else True)
                    return final
                if reserve is None:
                    reserve_path = temporary.with_name(temporary.name + ".reserve")
                    os.replace(temporary, reserve_path)
                    reserve = (reserve_path, url, sha256, found)
                attempts.append(_Attempt(url, f"a valid checkpoint, but not the official file (SHA-256 "
                                              f"{sha256[:12]}…, the official one is {model.sha256[:12]}…)"))
            except _SourceFailed as failure:
                attempts.append(failure.attempt)
                if failure.attempt.unreachable:
                    unreachable_origins.add(_origin(address))
            finally:
                temporary.unlink(missing_ok=True)
        if reserve is not None:  # no source had the official bytes: a verified copy beats nothing
            reserve_path, url, sha256, found = reserve
            os.replace(reserve_path, final)
            _write_record(final, sha256, found, url, official=False)
            _log.warning("%s: no source had the official file (SHA-256 %s); using the verified copy from %s "
                         "(SHA-256 %s).", model.filename, model.sha256, url, sha256)
            return final
    finally:
        if reserve is not None:
            reserve[0].unlink(missing_ok=True)

    tried = "".join(f"\n  - {attempt.source}: {attempt.outcome}" for attempt in attempts)
    if all(attempt.unreachable for attempt in attempts):
        raise DownloadError(
            f"{model.filename} is not on disk and could not be downloaded: no source answered within "
            f"{metadata_timeout_s():g} s (no network, or a firewall; a regional mirror can be set with HF_ENDPOINT)."
            f"{tried}\n{where_to_get(model, folder)}")
    raise DownloadError(f"{model.filename} could not be downloaded.{tried}\n{where_to_get(model, folder)}")


# ------------------------------------------------------------------------------------------- entry points

def resolve_checkpoint(name_or_path: str | os.PathLike, *, search_dirs: Sequence[str | os.PathLike],
                       download_dir: str | os.PathLike | None = None, allow_download: bool = True,
                       progress: ProgressCallback | None = None, architecture: str | None = None) -> Path:
    """A verified checkpoint file for a path, a file name in ``search_dirs`` or a known model's name.

    ``name_or_path``: a name relative to one of ``search_dirs`` (as ComfyUI lists them; looked up first); or
    an existing path (absolute or from the working directory: used as it is, verified, never moved or
    replaced); or a known model ("wav2lip_gan", "wav2lip_gan.pth", or a dropdown choice ending in
    DOWNLOAD_MARK). A known model that is missing from ``search_dirs``, or whose file there is not a usable
    checkpoint (it is then moved aside to ``.rejected``), is downloaded into ``download_dir`` (default: the
    first search folder) when ``allow_download``. A valid file that changed since it was verified raises
    ChangedOnDiskError and is left alone.
    ``architecture``: what the file must hold (default: the known model's; None accepts any).
    Raises CheckpointError / DownloadError with a message for the user.
    """
    request = choice_to_request(str(name_or_path))
    model = find_known_model(request)
    expected = architecture or (model.architecture if model else None)
    in_folder = _find_in_folders(request, search_dirs)
    if in_folder is None and Path(request).expanduser().is_file():  # a path of the user's own, as it is
        return verify_checkpoint(Path(request).expanduser(), expected).path
    if in_folder is not None and (model is None or in_folder.name.lower() not in
                                  {filename.lower() for filename in model.filenames}):
        return verify_checkpoint(in_folder, expected).path
    folders = [Path(folder) for folder in search_dirs]
    if model is None:
        raise CheckpointError(
            f"{request}: no such file (looked in: {', '.join(map(str, folders)) or 'no folder'}), and it is not "
            f"one of the models this pack can download ({', '.join(KNOWN_MODELS)}).")
    on_disk = in_folder or find_on_disk(model, folders)
    if on_disk is not None:
        try:
            return verify_checkpoint(on_disk, expected).path
        except ChangedOnDiskError:
            raise
        except CheckpointError as error:
            aside = _move_aside(on_disk)
            if aside is None:  # cannot move it: the user has to
                raise CheckpointError(f"{error} Delete it (this folder is not writable here). "
                                      f"{where_to_get(model, on_disk.parent)}") from None
            message = f"{error} It was moved aside to {aside.name}."
            if not allow_download:
                raise CheckpointError(f"{message} {where_to_get(model, on_disk.parent)}") from None
            _log.warning("%s Downloading a fresh copy.", message)
    target = Path(download_dir) if download_dir is not None else (folders[0] if folders else pack_weights_dir())
    if not allow_download:
        raise DownloadError(f"{model.filename} is not on disk and automatic downloads are off. "
                            f"{where_to_get(model, target)}")
    return download_model(model, target, progress=progress)


def _find_in_folders(request: str, search_dirs: Sequence[str | os.PathLike]) -> Path | None:
    relative = Path(request)
    if relative.is_absolute():
        return None
    for folder in map(Path, search_dirs):
        if (folder / relative).is_file():
            return folder / relative
    return None


def list_choices(search_dirs: Iterable[str | os.PathLike], architectures: Iterable[str] | None = None) -> list[str]:
    """Dropdown entries: files found in ``search_dirs`` (relative names, as ComfyUI shows them), then every
    known model of ``architectures`` (all if None) that is not on disk, as ``"<file><DOWNLOAD_MARK>"``."""
    present: list[str] = []
    for folder in map(Path, search_dirs):
        for path in _checkpoint_files(folder):
            name = path.relative_to(folder).as_posix()
            if name not in present:
                present.append(name)
    present_basenames = {name.rsplit("/", 1)[-1].lower() for name in present}
    wanted = set(architectures) if architectures is not None else None
    missing = [model.filename + DOWNLOAD_MARK for model in KNOWN_MODELS.values()
               if (wanted is None or model.architecture in wanted)
               and not present_basenames & {filename.lower() for filename in model.filenames}]
    return present + missing


def is_download_choice(choice: str) -> bool:
    return choice.endswith(DOWNLOAD_MARK)


def choice_to_request(choice: str) -> str:
    """A dropdown entry back to what ``resolve_checkpoint`` takes (the download mark removed)."""
    return choice[: -len(DOWNLOAD_MARK)] if choice.endswith(DOWNLOAD_MARK) else choice


def validate_choice(choice: str, search_dirs: Iterable[str | os.PathLike]) -> bool | str:
    """True when ``choice`` can be resolved (a file in ``search_dirs`` or a known model, marked or not), else a
    message. For a ComfyUI node's VALIDATE_INPUTS: the list changes when a model arrives on disk
    ("wav2lip_gan.pth (will be downloaded)" becomes "wav2lip_gan.pth"), and saved workflows must keep working."""
    request = choice_to_request(choice)
    if find_known_model(request) is not None or _find_in_folders(request, list(search_dirs)) is not None:
        return True
    return (f"{request}: not found in {', '.join(map(str, search_dirs)) or 'any model folder'}, and not a model "
            f"this pack can download ({', '.join(model.filename for model in KNOWN_MODELS.values())}).")


class TqdmProgress:
    """A ``progress(done_bytes, total_bytes)`` callback drawing a tqdm bar, opened on the first call."""

    def __init__(self, label: str):
        self.label = label
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = tqdm(desc=self.label, total=total, unit="B", unit_scale=True, unit_divisor=1024)
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def download_main(argv: Sequence[str] | None = None) -> int:
    """``python -m wav2lip_core download [NAME ...]``: fetch known models; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m wav2lip_core download",
        description="Download and verify the checkpoints this pack knows. Honours HF_ENDPOINT (mirror), "
                    "HF_TOKEN and HF_HUB_OFFLINE.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to fetch: {', '.join(KNOWN_MODELS)} or 'all' (default: wav2lip_gan s3fd)")
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"folder to put them in (default: {pack_weights_dir()})")
    parser.add_argument("--list", action="store_true", help="show the known models, their sources and status")
    args = parser.parse_args(argv)
    folder = args.dir or pack_weights_dir()

    if args.list:
        for model in KNOWN_MODELS.values():
            on_disk = find_on_disk(model, [folder])
            state = f"present: {on_disk}" if on_disk else "not downloaded"
            print(f"{model.name:15s} {model.filename:20s} {model.approx_size_text:16s} {state}")
            print(f"{'':15s} {model.description}; licence: {model.licence}")
            for source in model.sources:
                print(f"{'':15s}   from {source.describe(hub_endpoint())}")
        return 0

    names = args.names or ["wav2lip_gan", "s3fd"]
    if "all" in names:
        names = list(KNOWN_MODELS)
    models = []
    for name in names:
        model = find_known_model(name)
        if model is None:
            print(f"error: unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}", file=sys.stderr)
            return 2
        models.append(model)

    status = 0
    for model in models:
        progress = TqdmProgress(model.filename)
        try:
            path = resolve_checkpoint(model.name, search_dirs=[folder], download_dir=folder, progress=progress)
            progress.close()
            print(f"{model.name}: ready at {path}")
        except CheckpointError as error:  # DownloadError included: one clear message, no traceback
            progress.close()
            print(f"error: {error}", file=sys.stderr)
            status = 1
    return status
