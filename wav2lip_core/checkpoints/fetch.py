"""Fetching a known model over the network: the only code of this pack that reaches the network.

Sources (``known_models.KNOWN_MODELS``) are tried in order with ``huggingface_hub``'s building blocks
(``hf_hub_url``, ``get_hf_file_metadata``, ``http_get``, ``build_hf_headers``), so ``HF_ENDPOINT`` (a regional
mirror), ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` are honoured, read at call time. A metadata request with a short
timeout comes first, so an unreachable source costs seconds, not minutes. The body goes to a hidden temporary
file ``.<name>.<random>.partial`` in the download folder, a name no loader lists; it is verified there (the
same content check as every load), and only then renamed atomically to its final name. A cut or refused
download is deleted. Where the official file's SHA-256 is published, a source with those bytes is preferred to
one with another valid copy. For a download whose server gives a SHA-256 (the hub's ``X-Linked-Etag``), the
bytes are also checked against it.

Why not ``hf_hub_download``: when its metadata request fails it retries with a 60 s timeout and back-off (a
long hang offline); with ``local_dir`` it writes the finished file under its final name (a loader could list
it before verification) plus a ``.cache`` folder; with the shared cache a 416 MiB file is stored twice.
"""
from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from tqdm.auto import tqdm

from .content import GENERATOR_HINT
from .known_models import DEFAULT_ENDPOINT, HubSource, KnownModel, Source, UrlSource
from .reading import GET_WEIGHTS_HINT, CheckpointError
from .store import PARTIAL_SUFFIX, check_file, file_sha256, write_record

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when the server does not say."""

DEFAULT_METADATA_TIMEOUT_S = 5.0
STALE_PARTIAL_AGE_S = 600.0
_TRUE_WORDS = {"1", "on", "yes", "true"}
_log = logging.getLogger("wav2lip_core.checkpoints")


class DownloadError(CheckpointError):
    """A model could not be obtained; the message names the file, its folder and where to get it."""



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
            endpoint = DEFAULT_ENDPOINT
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
    refused: bool = False      # answered with an HTTP error (404: not there): not an address to suggest


class _SourceFailed(Exception):
    def __init__(self, attempt: _Attempt):
        super().__init__(attempt.outcome)
        self.attempt = attempt


def _http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _describe_http_failure(status: int, error: BaseException | None = None) -> str:
    """What an HTTP refusal means for the user, with the server's own explanation (its X-Error-Message) when it
    gives one: a mirror may say which files it holds."""
    if status == 404:
        text = "not found there (404)"
    elif status in (401, 403):
        text = f"access refused ({status}); if this mirror needs an account, set HF_TOKEN"
    else:
        text = f"the server answered HTTP {status}"
    said = _server_message(error)
    return f"{text}: the server says \"{said}\"" if said else text


def _server_message(error: BaseException | None) -> str | None:
    """The server's one-line explanation of a refusal (huggingface_hub's ``server_message``, else the
    X-Error-Message header), or None."""
    said = getattr(error, "server_message", None)
    if not said:
        response = getattr(error, "response", None)
        said = getattr(response, "headers", {}).get("X-Error-Message") if response is not None else None
    said = " ".join(str(said).split()) if said else ""
    return said or None


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
            raise _SourceFailed(_Attempt(url, _describe_http_failure(status, error) if status else
                                         _first_line(error), refused=status is not None))
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
            raise _SourceFailed(_Attempt(url, _describe_http_failure(status, error) if status else
                                         _first_line(error), refused=status is not None))
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


def where_to_get(model: KnownModel, folder: Path | None = None, refused: Collection[str] = ()) -> str:
    """One sentence for the user: which file, which folder, from where (and the licence). ``refused``: addresses
    that have just answered with an error (a mirror without the file); they are not suggested, and when every
    hub address was, the Hugging Face Hub's own are."""
    endpoint = hub_endpoint()
    sources = [source for source in model.sources if source.describe(endpoint) not in refused]
    if not sources:
        endpoint = DEFAULT_ENDPOINT
        sources = [source for source in model.sources if source.describe(endpoint) not in refused]
    addresses = " or ".join(source.describe(endpoint) for source in sources[:2]) or "the addresses above"
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
        found = check_file(temporary, model.architecture)
    except CheckpointError as error:
        reason = (str(error).replace(str(temporary), "the downloaded file").replace(GET_WEIGHTS_HINT, "").replace(GENERATOR_HINT, "")
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
    blocked = download_blocked(model, folder)
    if blocked is not None:
        raise DownloadError(blocked.message)
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
                    write_record(final, sha256, found, url, official=None if model.sha256 is None else True)
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
            write_record(final, sha256, found, url, official=False)
            _log.warning("%s: no source had the official file (SHA-256 %s); using the verified copy from %s "
                         "(SHA-256 %s).", model.filename, model.sha256, url, sha256)
            return final
    finally:
        if reserve is not None:
            reserve[0].unlink(missing_ok=True)

    raise DownloadError(_failure(model, folder, attempts).message)


@dataclass(frozen=True)
class Unavailable:
    """A model file that cannot be had now. ``message``: all of it for a terminal (the reason, every source
    tried, where to get it); ``reason``: why, in a few words; ``where``: where to download it and which folder to
    put it in ("" when it is no known model)."""
    filename: str
    reason: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        return self.message


def _failure(model: KnownModel, folder: Path, attempts: list[_Attempt]) -> Unavailable:
    tried = "".join(f"\n  - {attempt.source}: {attempt.outcome}" for attempt in attempts)
    if all(attempt.unreachable for attempt in attempts):
        where = where_to_get(model, folder)
        reason = (f"no source answered within {metadata_timeout_s():g} s (no network, or a firewall; a regional "
                  f"mirror can be set with HF_ENDPOINT)")
        return Unavailable(model.filename, reason, f"{model.filename} is not on disk and could not be downloaded: "
                                                   f"{reason}.{tried}\n{where}", where)
    refused = {attempt.source for attempt in attempts if attempt.refused}
    where = where_to_get(model, folder, refused)
    reason = "no source gave a usable copy (" + "; ".join(attempt.outcome for attempt in attempts[:2]) + ")"
    return Unavailable(model.filename, reason, f"{model.filename} could not be downloaded.{tried}\n{where}", where)


def download_blocked(model: KnownModel, folder: Path) -> Unavailable | None:
    """Why no download of ``model`` may even be tried (huggingface_hub missing, HF_HUB_OFFLINE), else None."""
    where = where_to_get(model, folder)
    if importlib.util.find_spec("huggingface_hub") is None:
        reason = "it cannot be downloaded because the package huggingface_hub is not installed (pip install huggingface_hub)"
    elif is_offline():
        reason = "downloads are off (HF_HUB_OFFLINE is set)"
    else:
        return None
    return Unavailable(model.filename, reason, f"{model.filename} is not on disk and {reason}. {where}", where)


# A source that gave no answer is not asked again for this long by ``why_not_fetchable``: several nodes ask
# about their models one after the other when a workflow is queued.
UNREACHABLE_MEMORY_S = 30.0
_unreachable_since: dict[tuple[str, str, int | None], float] = {}


def _probe(source: Source) -> _Attempt | None:
    """None when ``source`` answers a metadata request for its file (headers only, no body), else what happened."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import HfHubHTTPError

    if isinstance(source, HubSource):
        url, token = hf_hub_url(source.repo_id, source.path, revision=source.revision, endpoint=hub_endpoint()), None
    else:
        url, token = source.url, False
    try:
        get_hf_file_metadata(url, token=token, timeout=metadata_timeout_s())
    except HfHubHTTPError as error:
        status = _http_status(error)
        if isinstance(source, UrlSource) and status in (405, 501):  # no HEAD there; a GET would be tried
            return None
        return _Attempt(url, _describe_http_failure(status, error) if status else _first_line(error),
                        refused=status is not None)
    except Exception as error:  # connection refused, DNS failure, timeout: no answer at all
        return _Attempt(url, f"no answer ({_first_line(error)})", unreachable=True)
    return None


def why_not_fetchable(model: KnownModel, download_dir: str | os.PathLike) -> Unavailable | None:
    """None when a download of ``model`` can start now (one of its sources answers for its file); else what
    ``download_model`` would end with, found in seconds and without downloading anything. For checks before any
    work: a run that needs a missing model is refused up front only when the model cannot be had."""
    folder = Path(download_dir)
    blocked = download_blocked(model, folder)
    if blocked is not None:
        return blocked
    attempts: list[_Attempt] = []
    for source in model.sources:
        address = source.describe(hub_endpoint())
        since = _unreachable_since.get(_origin(address))
        if since is not None and time.monotonic() - since < UNREACHABLE_MEMORY_S:
            attempts.append(_Attempt(address, "skipped: its server did not answer just before", unreachable=True))
            continue
        attempt = _probe(source)
        if attempt is None:
            _unreachable_since.pop(_origin(address), None)
            return None
        attempts.append(attempt)
        if attempt.unreachable:
            _unreachable_since[_origin(address)] = time.monotonic()
    return _failure(model, folder, attempts)
