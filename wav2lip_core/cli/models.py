"""The ``download`` subcommand (fetch and verify known models) and the terminal progress bar of a download."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..checkpoints import (KNOWN_MODELS, CheckpointError, KnownModel, find_known_model, find_on_disk, hub_endpoint,
                           pack_weights_dir, resolve_checkpoint, verify_checkpoint)

DEFAULT_DOWNLOADS = ("wav2lip_gan", "s3fd")


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


def fetch_with_progress(name_or_path: str, architecture: str, folder: Path, allow_download: bool) -> Path:
    """``resolve_checkpoint`` in ``folder`` with a terminal progress bar for a download."""
    progress = TqdmProgress(Path(name_or_path).name)
    try:
        return resolve_checkpoint(name_or_path, search_dirs=[folder], download_dir=folder,
                                  allow_download=allow_download, progress=progress, architecture=architecture)
    finally:
        progress.close()


def present_state(model: KnownModel, folder: Path) -> str:
    """What is on disk for ``model`` in ``folder``: absent, the official file, another valid copy, or unusable."""
    on_disk = find_on_disk(model, [folder])
    if on_disk is None:
        return "not downloaded"
    try:
        verified = verify_checkpoint(on_disk, model.architecture)
    except CheckpointError as error:
        return f"present but unusable: {on_disk} ({str(error).split(': ', 1)[-1]})"
    if model.sha256 is None:
        return f"present, verified (no official SHA-256 is published to compare): {on_disk}"
    if verified.sha256 == model.sha256:
        return f"present, the official file (SHA-256 matches): {on_disk}"
    return f"present, a valid copy but NOT the official file (SHA-256 {verified.sha256[:12]}…): {on_disk}"


def download_main(argv: Sequence[str] | None = None) -> int:
    """``python -m wav2lip_core download [NAME ...] [--dir DIR] [--list]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m wav2lip_core download",
        description="Download and verify the checkpoints this pack knows. Honours HF_ENDPOINT (mirror), "
                    "HF_TOKEN and HF_HUB_OFFLINE.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to fetch: {', '.join(KNOWN_MODELS)} or 'all' "
                             f"(default: {' '.join(DEFAULT_DOWNLOADS)})")
    parser.add_argument("--dir", type=Path, default=None, help=f"folder to put them in (default: {pack_weights_dir()})")
    parser.add_argument("--list", action="store_true",
                        help="show the known models, their sources and what is on disk (official file or not)")
    args = parser.parse_args(argv)
    folder = args.dir or pack_weights_dir()

    if args.list:
        for model in KNOWN_MODELS.values():
            print(f"{model.name:15s} {model.filename:20s} {model.approx_size_text:16s} {present_state(model, folder)}")
            print(f"{'':15s} {model.description}; licence: {model.licence}")
            for source in model.sources:
                print(f"{'':15s}   from {source.describe(hub_endpoint())}")
        return 0

    names = args.names or list(DEFAULT_DOWNLOADS)
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
        try:
            path = fetch_with_progress(model.name, model.architecture, folder, allow_download=True)
            print(f"{model.name}: ready at {path}")
        except CheckpointError as error:  # DownloadError included: one clear message, no traceback
            print(f"error: {error}", file=sys.stderr)
            status = 1
    return status
