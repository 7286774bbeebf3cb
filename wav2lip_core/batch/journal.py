"""The batch's journal: one JSON line per finished row, beside the manifest (``MANIFEST.journal.jsonl``).

A record holds what the row's output was made from (its input files' size and modification time, the checkpoint
file's too when it is a file, and every option) and the output's size and SHA-256. A later run skips a row whose
last record still matches all of that; anything changed (an input touched, an option, the output replaced or
deleted) and the row runs again. Lines are only ever appended (and flushed to disk), so a run killed at any point
leaves every earlier record readable; a torn last line is ignored.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

JOURNAL_SUFFIX = ".journal.jsonl"
DONE, FAILED = "done", "failed"


def journal_path(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + JOURNAL_SUFFIX)


def output_key(args: argparse.Namespace) -> str:
    """The row's identity in the journal: its output file, as an absolute path."""
    return str(Path(args.outfile).expanduser().resolve())


def _stamp(path: str | os.PathLike) -> dict:
    stat = Path(path).expanduser().stat()
    return {"path": str(Path(path).expanduser().resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def row_fingerprint(args: argparse.Namespace) -> dict:
    """What the row's output is made from: input files' stamps and every option (JSON values)."""
    inputs = {"face": _stamp(args.face), "audio": _stamp(args.audio)}
    checkpoint = Path(args.checkpoint).expanduser()
    inputs["checkpoint"] = _stamp(checkpoint) if checkpoint.is_file() else {"name": args.checkpoint}
    options = json.loads(json.dumps(dict(sorted(vars(args).items())), default=str))
    for name in ("face", "audio", "outfile", "checkpoint"):
        options.pop(name, None)                 # in ``inputs`` / the key, as absolute paths
    return {"inputs": inputs, "options": options}


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Journal:
    """The records of one manifest's earlier runs (the last record of each output wins), appended to as rows end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict] = {}
        self._torn = False          # the file ends inside a line: the next record starts on a new one
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace")
            self._torn = bool(text) and not text.endswith("\n")
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                    self.records[record["outfile"]] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue                    # a line torn by a kill mid-write

    def finished(self, args: argparse.Namespace, fingerprint: dict) -> bool:
        """Whether the row's output is there, made from exactly these inputs and options, unchanged since."""
        record = self.records.get(output_key(args))
        if not record or record.get("status") != DONE or record.get("fingerprint") != fingerprint:
            return False
        output = Path(record["outfile"])
        try:
            if output.stat().st_size != record["output"]["size"]:
                return False
            return file_sha256(output) == record["output"]["sha256"]
        except (OSError, KeyError, TypeError):
            return False

    def _append(self, record: dict) -> None:
        self.records[record["outfile"]] = record
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(("\n" if self._torn else "") + json.dumps(record) + "\n")
            self._torn = False
            file.flush()
            os.fsync(file.fileno())

    def record_done(self, row: int, args: argparse.Namespace, fingerprint: dict, frames: int, seconds: float) -> None:
        """A row that wrote its output (hashed here, as it lies on disk now)."""
        output = Path(output_key(args))
        self._append({"outfile": str(output), "row": row, "status": DONE, "fingerprint": fingerprint,
                      "output": {"size": output.stat().st_size, "sha256": file_sha256(output)},
                      "frames": frames, "seconds": round(seconds, 3), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def record_failed(self, row: int, args: argparse.Namespace, reason: str) -> None:
        self._append({"outfile": output_key(args), "row": row, "status": FAILED, "reason": reason,
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
