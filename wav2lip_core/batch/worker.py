"""One batch worker: runs rows one after another through the lip-sync command's own job (cli.run.run), keeping
the generator loaded between rows. The plain batch has one in its own process; on Ray each actor holds one.
"""
from __future__ import annotations

import argparse
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoints import load_wav2lip
from ..cli.run import run
from ..pipeline import Progress
from .report import one_line

KEPT_GENERATORS = 2     # rows may alternate between two checkpoints (or precisions) without reloading


@dataclass
class RowOutcome:
    frames: int                 # output frames written (0 on failure)
    seconds: float              # wall time of the row
    error: str | None = None    # the one-line reason when the row failed


class GeneratorCache:
    """load_wav2lip that returns the model it already loaded for the same file (same size and modification time),
    device and dtype. The job never changes the model, so rows can share it."""

    def __init__(self, load: Callable[..., torch.nn.Module] | None = None, keep: int = KEPT_GENERATORS) -> None:
        self._load, self._keep = load, keep
        self._models: OrderedDict[tuple, torch.nn.Module] = OrderedDict()
        self.loads = 0              # how many times a file was really loaded

    def __call__(self, path: str | os.PathLike, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> torch.nn.Module:
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, str(device), dtype)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        model = (self._load or load_wav2lip)(path, device=device, dtype=dtype)
        self.loads += 1
        self._models[key] = model
        while len(self._models) > self._keep:
            self._models.popitem(last=False)
        return model


class RowWorker:
    """Runs rows; the model stays loaded between them."""

    def __init__(self) -> None:
        self.generators = GeneratorCache()

    def run_row(self, args: argparse.Namespace, progress: Progress | None = None) -> RowOutcome:
        """The row's job, exactly as ``python -m wav2lip_core`` runs it; a failure is returned, not raised (a stop
        asked by the user, KeyboardInterrupt, still stops)."""
        started = time.perf_counter()
        frames = 0

        def count(done: int, total: int) -> None:
            nonlocal frames
            frames = done
            if progress is not None:
                progress(done, total)

        try:
            run(args, load_generator=self.generators, progress=count)
        except Exception as error:      # one bad row never stops the others: its reason is reported instead
            return RowOutcome(0, time.perf_counter() - started, one_line(error))
        return RowOutcome(frames, time.perf_counter() - started)
