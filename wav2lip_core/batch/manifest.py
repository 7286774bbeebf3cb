"""Reading a batch manifest: CSV (a header row, then one job per row) or JSONL (one JSON object per line), and
turning each row into the lip-sync command's own options.

Columns: ``face``, ``audio``, ``outfile`` and any option of ``python -m wav2lip_core`` by its name without dashes
(``blend``, ``silence``, ``pads`` ...). A row's options are the command line's options after MANIFEST with the
row's columns on top, parsed by the command's own parser: a column is checked exactly as the option is. An empty
cell (or a JSON null) means "not given". Paths in the manifest are relative to the manifest's folder.
"""
from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cli.run import build_parser

REQUIRED_COLUMNS = ("face", "audio", "outfile")
PATH_COLUMNS = ("face", "audio", "outfile")   # always paths: relative ones are taken from the manifest's folder
Cell = str | int | float | bool | list | None


class ManifestError(ValueError):
    """The manifest as a whole cannot be used (unreadable, unknown columns, no outfile column ...)."""


class RowError(ValueError):
    """One row cannot run as written; the message says why, in one line."""


@dataclass
class Row:
    number: int                         # 1-based, as a person counts the jobs (CSV: not counting the header)
    cells: dict[str, Cell]              # column -> value as written, empty cells left out


@dataclass
class Manifest:
    path: Path
    columns: list[str]                  # in the order first seen
    rows: list[Row]

    @property
    def folder(self) -> Path:
        return self.path.parent


def _raising_parser(required: bool) -> argparse.ArgumentParser:
    """The lip-sync command's parser, raising RowError instead of printing usage and exiting. ``required=False``:
    --face, --audio and --checkpoint may be left for the columns to give."""
    parser = build_parser()

    def error(message: str) -> None:
        raise RowError(message)

    parser.error = error                # type: ignore[method-assign]
    if not required:
        for action in parser._actions:  # argparse has no public way to relax a required option
            action.required = False
    return parser


def _option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Column name -> the option it sets: every long option string without its dashes (``checkpoint_path`` and
    ``no-download`` included), ``-`` and ``_`` alike."""
    actions = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            if option.startswith("--"):
                actions[option[2:]] = action
                actions[option[2:].replace("-", "_")] = action
    return actions


def read_manifest(path: Path) -> Manifest:
    """The manifest's rows (JSONL when the name ends in .jsonl or .ndjson, else CSV), empty cells left out."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read the manifest {path}: {error}") from error
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    columns, rows = _read_jsonl(text, path) if jsonl else _read_csv(text, path)
    if not rows:
        raise ManifestError(f"the manifest {path} has no rows")
    return Manifest(path, columns, rows)


def _read_jsonl(text: str, path: Path) -> tuple[list[str], list[Row]]:
    columns: list[str] = []
    rows = []
    for line_number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ManifestError(f"{path}, line {line_number}: not JSON ({error.msg})") from error
        if not isinstance(record, dict):
            raise ManifestError(f"{path}, line {line_number}: a row must be a JSON object, got {type(record).__name__}")
        columns += [str(name) for name in record if str(name) not in columns]
        rows.append(Row(len(rows) + 1, {str(k): v for k, v in record.items() if v is not None and v != ""}))
    return columns, rows


def _read_csv(text: str, path: Path) -> tuple[list[str], list[Row]]:
    reader = csv.reader(text.splitlines())
    header = [name.strip() for name in next(reader, [])]
    if not any(header):
        raise ManifestError(f"the manifest {path} has no header row ({', '.join(REQUIRED_COLUMNS)}, ...)")
    if len(set(header)) != len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise ManifestError(f"{path}: column(s) {', '.join(twice)} appear more than once in the header")
    rows = []
    for line_number, values in enumerate(reader, 2):
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            raise ManifestError(f"{path}, line {line_number}: {len(values)} values for {len(header)} columns")
        rows.append(Row(len(rows) + 1, {name: value.strip() for name, value in zip(header, values) if value.strip()}))
    return header, rows


def check_columns(manifest: Manifest, common: argparse.Namespace) -> None:
    """ManifestError naming every unknown column (a typo would otherwise be silently ignored), two columns for
    one option, and a required column neither in the manifest nor on the command line (``common``)."""
    actions = _option_actions(_raising_parser(required=False))
    path, columns = manifest.path, manifest.columns
    unknown = [name for name in columns if name not in actions]
    if unknown:
        raise ManifestError(f"{path}: unknown column(s) {', '.join(unknown)}: a column is face, audio, outfile or an "
                            f"option of `python -m wav2lip_core` without its dashes (see its --help)")
    by_dest: dict[str, str] = {}
    for name in columns:
        dest = actions[name].dest
        if dest in by_dest:
            raise ManifestError(f"{path}: columns {by_dest[dest]} and {name} set the same option")
        by_dest[dest] = name
    if "outfile" not in by_dest:
        raise ManifestError(f"{path}: no outfile column: every row needs its own output file")
    missing = [name for name in ("face", "audio", "checkpoint")
               if name not in by_dest and getattr(common, name) is None]
    if missing:
        raise ManifestError(f"{path}: no {' or '.join(missing)} column, nor --{' or --'.join(missing)} after the "
                            f"manifest")


def _cell_tokens(action: argparse.Action, option: str, value: Cell) -> list[str]:
    """A cell as command-line tokens for ``option``: a list or a space-separated string for options that take
    several values (``pads``: "0 10 0 0" or [0, 10, 0, 0]); one value as ``--option=value``, so that a value
    starting with a dash (a negative number) stays a value."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    if action.nargs not in (None, "?", 0):
        items = value if isinstance(value, list) else str(value).split()
        return [option, *(str(item) for item in items)]
    if isinstance(value, list):
        raise RowError(f"column {option[2:]}: one value expected, got a list")
    return [f"{option}={value}"]


def _cell_switch(option: str, value: Cell) -> bool:
    """A column for an on/off option (``color_match``, ``nosmooth`` ...): true/false, yes/no, 1/0."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "true", "yes", "y", "on"}:
        return True
    if lowered in {"0", "false", "no", "n", "off"}:
        return False
    raise RowError(f"column {option}: expected true or false, got {value!r}")


def _resolve(value: Cell, folder: Path, column: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"column {column}: a path expected, got {value!r}")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else folder / path)


def row_arguments(row: Row, common: Sequence[str], folder: Path) -> argparse.Namespace:
    """The row's options: ``common`` (the command line after MANIFEST) with the row's cells on top, parsed and
    checked by the lip-sync command's parser (RowError with its message otherwise). Paths in cells are relative
    to ``folder``; a checkpoint cell is a path there when such a file exists, else a known model name."""
    parser = _raising_parser(required=True)
    actions = _option_actions(parser)
    tokens = list(common)
    switches: dict[str, bool] = {}
    for column, value in row.cells.items():
        action = actions[column]
        option = f"--{column}"
        if column in PATH_COLUMNS:
            value = _resolve(value, folder, column)
        elif action.dest == "checkpoint" and isinstance(value, str) and (folder / value).expanduser().is_file():
            value = str(folder / Path(value).expanduser())
        if action.nargs == 0:           # an on/off switch: a false cell turns off what the command line turned on
            switches[action.dest] = _cell_switch(column, value)
        else:
            tokens += _cell_tokens(action, option, value)
    args = parser.parse_args(tokens)
    for dest, on in switches.items():
        setattr(args, dest, on)
    return args


def parse_common(common: Sequence[str]) -> argparse.Namespace:
    """The options given after MANIFEST, checked once before any row (ManifestError with the parser's message);
    --face, --audio and --checkpoint may be left to the columns."""
    try:
        return _raising_parser(required=False).parse_args(list(common))
    except RowError as error:
        raise ManifestError(f"the options after the manifest: {error}") from error
