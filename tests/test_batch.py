"""``python -m wav2lip_core batch MANIFEST``: every row runs exactly as the lip-sync command would run it, with
the model loaded once; a bad row is reported with its reason and never stops the others; a second run redoes only
what is missing or changed; a manifest that cannot work is refused with a clear message before any work."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from batch_media import BOX, good_rows, write_csv, write_jsonl, write_media
from wav2lip_core.batch import worker as batch_worker
from wav2lip_core.batch.command import batch_main
from wav2lip_core.batch.journal import Journal, file_sha256, journal_path
from wav2lip_core.batch.manifest import RowError, read_manifest, row_arguments
from wav2lip_core.batch.plan import RUN, SKIP, plan_jobs
from wav2lip_core.cli.run import run_main


@pytest.fixture
def media(tmp_path) -> Path:
    write_media(tmp_path)
    return tmp_path


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every generator checkpoint the batch really loads (not taken from its worker's cache)."""
    loaded: list[str] = []
    real = batch_worker.load_wav2lip

    def counting(path, **options):
        loaded.append(str(path))
        return real(path, **options)

    monkeypatch.setattr(batch_worker, "load_wav2lip", counting)
    return loaded


def _batch(manifest: Path, checkpoint: Path, *options: str) -> int:
    return batch_main([str(manifest), "--checkpoint", str(checkpoint), "--box", *BOX, *options])


def _statuses(text: str) -> dict[int, str]:
    """Row number -> status, from the summary table."""
    return {int(number): status for number, status in re.findall(r"^\s*(\d+)\s+(\w+)\s", text, re.MULTILINE)}


def test_a_bad_row_is_reported_with_its_reason_and_the_other_rows_still_run(media, official_checkpoint, loads,
                                                                            capsys):
    (media / "clips" / "broken.mp4").write_bytes(b"not a video at all")
    rows = good_rows(2) + [
        {"face": "clips/broken.mp4", "audio": "speech/s2.wav", "outfile": "out/broken.mp4"},   # fails while running
        {"face": "clips/face.mp4", "audio": "speech/nope.wav", "outfile": "out/nope.mp4"},     # fails up front
        {"face": "clips/face.mp4", "audio": "speech/s2.wav", "outfile": "out/last.mp4", "blend": "mouth"},
    ]
    code = _batch(write_csv(media / "jobs.csv", rows), official_checkpoint)
    out, err = capsys.readouterr()
    assert code == 1, "a failed row makes the exit status 1"
    assert _statuses(out) == {1: "done", 2: "done", 3: "failed", 4: "failed", 5: "done"}
    assert "speech/nope.wav: no such file" in out and "broken.mp4" in out
    for name in ("r0", "r1", "last"):
        assert (media / "out" / f"{name}.mp4").is_file()
    assert not (media / "out" / "broken.mp4").exists() and not (media / "out" / "nope.mp4").exists()
    assert not list((media / "out").glob(".*partial*")), "a failed row leaves no temporary file"
    assert loads == [str(official_checkpoint)], "the model loads once for all rows"
    assert re.search(r"batch: rows 1/4 \| frames \d+/~\d+ \| [\d.]+ frames/s \| ETA \d+s\n", err), err
    assert re.search(r"batch: rows 4/4, 1 failed \| frames (\d+)/\1 \| [\d.]+ frames/s \| ETA 0s\n", err), err

    # The batch runs what the command line runs: the same row through run_main gives the same file.
    single = media / "single.mp4"
    assert run_main(["--checkpoint", str(official_checkpoint), "--face", str(media / "clips" / "face.mp4"),
                     "--audio", str(media / "speech" / "s2.wav"), "--outfile", str(single), "--box", *BOX,
                     "--blend", "mouth"]) == 0
    assert file_sha256(single) == file_sha256(media / "out" / "last.mp4")


def test_a_second_run_redoes_only_the_rows_whose_output_is_missing_or_changed_or_whose_inputs_changed(
        media, official_checkpoint, capsys):
    manifest = write_csv(media / "jobs.csv", good_rows(3))
    assert _batch(manifest, official_checkpoint) == 0
    outputs = [media / "out" / f"r{i}.mp4" for i in range(3)]
    first = [path.stat().st_mtime_ns for path in outputs]
    capsys.readouterr()

    outputs[1].unlink()                                            # row 2: output gone
    later = os.stat(media / "speech" / "s2.wav").st_mtime_ns + 10**9
    os.utime(media / "speech" / "s2.wav", ns=(later, later))       # row 3: an input touched
    assert _batch(manifest, official_checkpoint) == 0
    assert _statuses(capsys.readouterr().out) == {1: "skipped", 2: "done", 3: "done"}
    assert outputs[0].stat().st_mtime_ns == first[0], "a skipped row's output is left as it was"

    # What the next run would redo (the same path as above once planned): a row whose option changed in the
    # manifest or on the command line, a row whose output was replaced; --force plans every row again. A record
    # torn by a kill mid-write is ignored, the records before it still count.
    with open(journal_path(manifest), "a") as file:
        file.write('{"outfile": "' + str(outputs[0]) + '", "status": "do')
    journal = Journal(journal_path(manifest))
    common = ["--checkpoint", str(official_checkpoint), "--box", *BOX]

    def plan(rows: list[dict], *extra: str, force: bool = False) -> list[str]:
        return [job.status for job in plan_jobs(read_manifest(write_csv(manifest, rows)), common + list(extra),
                                                journal, force)]

    assert plan(good_rows(3)) == [SKIP] * 3
    rows = good_rows(3)
    rows[0]["blend"] = "mouth"
    assert plan(rows) == [RUN, SKIP, SKIP]
    assert plan(good_rows(3), "--color_match") == [RUN] * 3
    assert plan(good_rows(3), force=True) == [RUN] * 3
    outputs[2].write_bytes(outputs[2].read_bytes()[:-100])
    assert plan(good_rows(3)) == [SKIP, SKIP, RUN]
    row_3 = plan_jobs(read_manifest(manifest), common, journal, False)[2]
    journal.record_failed(3, row_3.args, "a record written after the torn one")
    assert Journal(journal_path(manifest)).records[str(outputs[2])]["reason"] == "a record written after the torn one"


@pytest.mark.parametrize("manifest_text, options, message", [
    ("face,audio,outfile,blnd\nclips/face.mp4,speech/s0.wav,out/a.mp4,mouth\n", [],
     "unknown column(s) blnd"),
    ("face,audio,outfile,checkpoint,checkpoint_path\nclips/face.mp4,speech/s0.wav,out/a.mp4,x.pth,y.pth\n", [],
     "columns checkpoint and checkpoint_path set the same option"),
    ("face,audio\nclips/face.mp4,speech/s0.wav\n", [], "no outfile column"),
    ("audio,outfile\nspeech/s0.wav,out/a.mp4\n", [], "no face column, nor --face after the manifest"),
    ("face,audio,outfile\nclips/face.mp4,speech/s0.wav,out/a.mp4,extra\n", [], "line 2: 4 values for 3 columns"),
    ("face,face,outfile\na,b,c\n", [], "column(s) face appear more than once"),
    ("face,audio,outfile\n", [], "has no rows"),
    ("face,audio,outfile\nclips/face.mp4,speech/s0.wav,out/a.mp4\n", ["--blend", "bogus"],
     "the options after the manifest: argument --blend: invalid choice: 'bogus'"),
])
def test_a_manifest_that_cannot_work_is_refused_before_any_work(media, official_checkpoint, capsys, manifest_text,
                                                                options, message):
    manifest = media / "jobs.csv"
    manifest.write_text(manifest_text)
    assert _batch(manifest, official_checkpoint, *options) == 2
    assert message in capsys.readouterr().err
    assert not (media / "out").exists() and not journal_path(manifest).exists()


def test_a_jsonl_manifest_that_is_not_json_names_the_line(media, official_checkpoint, capsys):
    manifest = media / "jobs.jsonl"
    manifest.write_text('{"face": "clips/face.mp4", "audio": "speech/s0.wav", "outfile": "out/a.mp4"}\n{"face": \n')
    assert _batch(manifest, official_checkpoint) == 2
    assert "jobs.jsonl, line 2: not JSON" in capsys.readouterr().err


def test_rows_whose_paths_cannot_work_fail_with_their_reason_before_the_model_loads(media, official_checkpoint,
                                                                                   loads, capsys):
    rows = [{"face": "clips/missing.mp4", "audio": "speech/s0.wav", "outfile": "out/a.mp4"},
            {"face": "clips", "audio": "speech/s0.wav", "outfile": "out/b.mp4"},
            {"face": "clips/face.mp4", "audio": "speech/s0.wav", "outfile": "out/c.mp4"},
            {"face": "clips/face.mp4", "audio": "speech/s1.wav", "outfile": "out/c.mp4"},
            {"face": "clips/face.mp4", "audio": "speech/s2.wav", "outfile": "speech/s0.wav"},
            {"face": "clips/face.mp4", "audio": "speech/s2.wav", "outfile": "out/d.mp4", "pads": "0 10 0"},
            {"face": "clips/face.mp4", "audio": "speech/s2.wav", "outfile": "out/e.mp4", "color_match": "maybe"}]
    manifest = write_csv(media / "jobs.csv", rows)
    jobs = plan_jobs(read_manifest(manifest), ["--checkpoint", str(official_checkpoint), "--box", *BOX],
                     Journal(journal_path(manifest)), False)
    reasons = [job.reason for job in jobs]
    assert f"{media}/clips/missing.mp4: no such file" in reasons[0]
    assert f"{media}/clips: is a folder" in reasons[1]
    assert reasons[2] == "" and jobs[2].status == RUN
    assert reasons[3] == f"outfile {media}/out/c.mp4 is also row 3's outfile: each row needs its own"
    assert "is an input of a row in this manifest" in reasons[4]
    assert reasons[5] == "argument --pads: expected 4 arguments"
    assert reasons[6] == "column color_match: expected true or false, got 'maybe'"
    assert loads == [], "nothing is loaded to find these"
    assert (media / "speech" / "s0.wav").stat().st_size > 1000, "an input is never overwritten"


def test_a_row_is_the_command_line_options_with_its_cells_on_top(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.pth").write_bytes(b"")
    manifest = write_jsonl(tmp_path / "jobs.jsonl", [
        {"face": "a.mp4", "audio": "/abs/a.wav", "outfile": "out/a.mp4", "color_match": False, "pads": [0, 5, 0, 0],
         "offset_frames": -2, "checkpoint": "models/mine.pth"},
        {"face": "b.mp4", "audio": "b.wav", "outfile": "out/b.mp4", "blend": None, "checkpoint": "wav2lip"},
    ])
    rows = read_manifest(manifest).rows
    common = ["--checkpoint", "wav2lip_gan", "--color_match", "--blend", "mouth", "--pads", "1", "2", "3", "4"]
    first = row_arguments(rows[0], common, tmp_path)
    assert (first.face, first.audio, first.outfile) == (str(tmp_path / "a.mp4"), "/abs/a.wav",
                                                        str(tmp_path / "out" / "a.mp4"))
    assert first.color_match is False and first.pads == [0, 5, 0, 0] and first.offset_frames == -2
    assert first.blend == "mouth" and first.checkpoint == str(tmp_path / "models" / "mine.pth")
    second = row_arguments(rows[1], common, tmp_path)
    assert second.color_match is True and second.pads == [1, 2, 3, 4] and second.blend == "mouth"
    assert second.checkpoint == "wav2lip", "a checkpoint that is no file beside the manifest is a model name"
    with pytest.raises(RowError, match="argument --silence_db: invalid float value: 'loud'"):
        row_arguments(read_manifest(write_csv(tmp_path / "x.csv", [{"face": "a", "audio": "b", "outfile": "c",
                                                                     "silence_db": "loud"}])).rows[0], common, tmp_path)


def test_without_ray_the_ray_option_says_how_to_get_it(media, official_checkpoint, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)        # as if Ray were not installed
    manifest = write_csv(media / "jobs.csv", good_rows(1))
    assert _batch(manifest, official_checkpoint, "--ray") == 2
    assert "--ray needs Ray, which is not installed: pip install ray" in capsys.readouterr().err
    assert not (media / "out").exists()
