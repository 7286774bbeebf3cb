"""``batch MANIFEST --ray ADDRESS``: the rows run on a Ray cluster's workers, each output identical to the plain
batch's; a worker killed in the middle of a row costs nothing (the row runs again elsewhere, its unfinished file is
removed, the output is written once); the driver keeps the journal, and its progress line counts the frames as the
workers write them. Ray is imported by nothing else."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from batch_media import BOX, good_rows, write_csv, write_media
from conftest import ROOT
from wav2lip_core.batch.command import batch_main
from wav2lip_core.batch.journal import Journal, file_sha256, journal_path
from wav2lip_core.batch.ray_pool import plan_workers


def test_workers_are_one_per_gpu_and_on_nodes_without_one_one_per_few_cores():
    nodes = [{"NodeID": "gpu", "Alive": True, "Resources": {"CPU": 16.0, "GPU": 2.0}},
             {"NodeID": "cpu", "Alive": True, "Resources": {"CPU": 10.0}},
             {"NodeID": "small", "Alive": True, "Resources": {"CPU": 2.0}},
             {"NodeID": "gone", "Alive": False, "Resources": {"CPU": 64.0}}]
    planned = [(w["node"], w["num_gpus"], w["num_cpus"]) for w in plan_workers(nodes, None, cpus_per_worker=4)]
    assert planned == [("gpu", 1, 8), ("gpu", 1, 8), ("cpu", 0, 5), ("cpu", 0, 5), ("small", 0, 2)]
    assert len(plan_workers(nodes, 3, cpus_per_worker=4)) == 3


def test_ray_is_imported_only_by_the_ray_runner_and_is_no_requirement_of_the_pack():
    importing = [path.relative_to(ROOT).as_posix() for folder in ("wav2lip_core", "nodes")
                 for path in (ROOT / folder).rglob("*.py")
                 if re.search(r"^\s*(import ray|from ray)", path.read_text(), re.MULTILINE)]
    assert importing == ["wav2lip_core/batch/ray_pool.py"]
    for requirements in ("requirements.txt", "pyproject.toml"):
        assert not re.search(r"^\s*\"?ray\b", (ROOT / requirements).read_text(), re.MULTILINE)


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster on 127.0.0.1 with two cores (two workers of one core each); its address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, object_store_memory=100 * 2**20,
             logging_level="WARNING")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


PROGRESS = re.compile(r"^batch: rows (\d+)/(\d+)(?:, \d+ failed)? \| frames (\d+)/(~?)(\d+) \| [\d.]+ frames/s "
                      r"\| ETA (\S+)$", re.MULTILINE)


def _progress_lines(stderr: str) -> list[tuple[int, int, str, str]]:
    """The batch's progress lines: (rows finished, frames written, frames expected ('~' before it while some rows
    have not started), ETA)."""
    return [(int(rows), int(written), about + expected, eta)
            for rows, _, written, about, expected, eta in PROGRESS.findall(stderr)]


def _done_frames(table: str) -> int:
    """The frames of the done rows, from the summary table."""
    return sum(int(frames) for frames in re.findall(r"^\s*\d+\s+done\s+(\d+)\s", table, re.MULTILINE))


def _ray_batch(manifest: Path, address: str, checkpoint: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "wav2lip_core", "batch", str(manifest), "--ray", address, "--cpus_per_worker", "1",
            "--checkpoint", str(checkpoint), "--box", *BOX, *options]


def test_on_a_ray_cluster_the_progress_line_counts_frames_as_rows_run_not_only_as_they_end(
        ray_cluster, tmp_path, official_checkpoint):
    write_media(tmp_path)
    manifest = write_csv(tmp_path / "jobs.csv", good_rows(3))
    # Batches of two frames: each row reports its frames several times before it ends.
    result = subprocess.run(_ray_batch(manifest, ray_cluster, official_checkpoint, "--wav2lip_batch_size", "2"),
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = _progress_lines(result.stderr)
    total = _done_frames(result.stdout)
    row_frames = total // 3
    assert total and lines, result.stderr
    rows, written, expected, eta = lines[0]
    assert rows == 0 and 0 < written < row_frames, \
        f"frames written before any row ended, fewer than one row holds: {lines[0]}"
    assert eta != "?" and expected == f"~{3 * row_frames}", \
        "the time left and the frames to come are estimated from the rows seen so far"
    assert lines[-1] == (3, total, str(total), "0s"), "at the end: every row's frames, once"
    assert all(written <= total for _, written, _, _ in lines)


def _kill_the_worker_writing(folder: Path, stop: threading.Event, killed: list[str]) -> None:
    """Once a row's output is being written under ``folder`` (its temporary file is there), SIGKILL the Ray worker
    writing it: the parent of the ffmpeg process writing that file."""
    while not stop.is_set() and not killed:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if not any(b".partial" in part and str(folder).encode() in part for part in command):
                    continue
                parent = Path(f"/proc/{pid}/status").read_text().split("PPid:")[1].split()[0]
                title = Path(f"/proc/{parent}/cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if title.startswith(b"ray::BatchWorker"):
                os.kill(int(parent), signal.SIGKILL)
                killed.append(title.split(b"\0")[0].decode())
                return
        time.sleep(0.02)


def test_rows_on_a_ray_cluster_survive_a_worker_killed_mid_row_and_match_the_plain_batch(
        ray_cluster, tmp_path, official_checkpoint, capsys):
    write_media(tmp_path)
    rows = good_rows(3)
    rows[1]["blend"] = "mouth"
    plain = write_csv(tmp_path / "plain.csv", rows)
    assert batch_main([str(plain), "--checkpoint", str(official_checkpoint), "--box", *BOX]) == 0
    capsys.readouterr()

    for row in rows:
        row["outfile"] = row["outfile"].replace("out/", "on_ray/")
    manifest = write_csv(tmp_path / "ray.csv", rows)
    command = _ray_batch(manifest, ray_cluster, official_checkpoint)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_the_worker_writing, args=(tmp_path / "on_ray", stop, killed))
    killer.start()
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
        killer.join()
    assert killed == ["ray::BatchWorker.run_row"], "a worker was killed in the middle of a row"
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the Ray worker was lost" in result.stderr and "trying it again on another worker" in result.stderr
    assert result.stdout.count(" done ") == 3
    total = _done_frames(result.stdout)
    lines = _progress_lines(result.stderr)
    assert lines[-1] == (3, total, str(total), "0s") and all(written <= total for _, written, _, _ in lines), \
        "the row tried again counts its frames once"
    for i in range(3):
        assert file_sha256(tmp_path / "on_ray" / f"r{i}.mp4") == file_sha256(tmp_path / "out" / f"r{i}.mp4"), \
            f"row {i + 1}: the same file as the plain batch's"
    assert not [path.name for path in (tmp_path / "on_ray").iterdir() if path.name.startswith(".")], \
        "the killed worker's unfinished file is gone"
    lines = journal_path(manifest).read_text().splitlines()
    assert len(lines) == 3 and len(Journal(journal_path(manifest)).records) == 3, "each row recorded once, as done"

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count(" skipped ") == 3, again.stdout + again.stderr
    assert "ray:" not in again.stderr, "nothing to run: no worker is started"
