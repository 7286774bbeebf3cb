"""Model files that pip packages install (``known_models.PACKAGED_MODEL_FILES``): located, verified by SHA-256
and recorded, like the checkpoints ``resolve_checkpoint`` handles.

They are looked for in the search folders first (a user may copy them into weights/), then in the installing
package's ``models/`` folder (found without importing it: face_recognition_models imports pkg_resources). A file
with other bytes is refused (never moved: it may be another package's file). The SHA-256 is recorded beside the
file (``<name>.verified.json``, skipped when the folder is read-only) so an unchanged file is hashed once.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from .known_models import PACKAGED_MODEL_FILES, PackagedModelFile
from .reading import CheckpointError
from .store import _unchanged_since, file_sha256, read_record, write_record

PACKAGED_ARCHITECTURE = "packaged_model_file"     # the record's "architecture": not a torch state dict


def package_models_dir(package: str) -> Path | None:
    """The ``models/`` folder of an installed package, or None when the package is not installed."""
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent / "models" if spec is not None and spec.origin else None


def _verified(path: Path, model: PackagedModelFile) -> bool:
    record = read_record(path)
    if record is not None and record.get("sha256") == model.sha256 and _unchanged_since(path, record):
        return True
    if file_sha256(path) != model.sha256:
        return False
    write_record(path, model.sha256, PACKAGED_ARCHITECTURE, f"pip package {model.pip_name}", official=True)
    return True


def locate_packaged_file(filename: str, search_dirs: Sequence[str | os.PathLike] = ()) -> Path:
    """The verified path of a known packaged model file; CheckpointError saying what to install when there is
    none (or only files with other bytes)."""
    model = PACKAGED_MODEL_FILES[filename]
    candidates = [Path(folder).expanduser() / filename for folder in search_dirs]
    installed = package_models_dir(model.package)
    if installed is not None:
        candidates.append(installed / filename)
    refused = []
    for candidate in candidates:
        if candidate.is_file():
            if _verified(candidate, model):
                return candidate
            refused.append(str(candidate))
    why = f" ({', '.join(refused)} holds other bytes than {model.pip_name} ships)" if refused else ""
    raise CheckpointError(f"{filename} ({model.description}) is missing{why}: run `pip install {model.pip_name}` "
                          f"(and `pip install dlib-bin` for dlib), or put the file in "
                          f"{', '.join(str(Path(d)) for d in search_dirs) or 'the weights folder'}")
