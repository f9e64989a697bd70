"""`digitnet read-all`: folders, archives and lists; bad items answered with an error line;
resumable after SIGKILL (every image answered exactly once); --errors-only; CSV; local
processes and a 2-worker Dask LocalCluster giving the same answers."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter

import numpy as np
import pytest
from cli_helpers import SRC, run_cli
from photo_helpers import mnist_style_digits, photo

from digitnet.apps.bulk import Results, items, run


@pytest.fixture(scope="module")
def digits():
    return mnist_style_digits()


def jpeg(img) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def folder(tmp_path, digits):
    """Six photos in two sub-folders, a text file, a folder named like an image, and a
    symbolic link that leads out of the folder."""
    images, labels = digits
    root = tmp_path / "photos"
    for k in range(6):
        sub = root / ("a" if k % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{k}-{labels[k]}.jpg").write_bytes(jpeg(photo(images[k], k)))
    (root / "notes.txt").write_text("not an image")
    (tmp_path / "outside.jpg").write_bytes(jpeg(photo(images[0], 0)))
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    return root


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_folder_is_read_and_bad_items_get_an_error_line(folder, tmp_path):
    out = tmp_path / "r.jsonl"
    results = Results(out)
    counts = run(folder, results)
    results.close()
    records = {r["path"]: r for r in lines(out)}
    assert counts == {"images": 8, "skipped": 0, "read": 6, "errors": 2}
    assert len(records) == 8
    from digitnet.reading.recognise import recognise

    for key, r in records.items():
        if key.endswith(".jpg") and key != "link.jpg":  # what predict reads
            expected = recognise(folder / key)
            assert r["number"] == expected.prediction and r["error"] is None
            assert r["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
            assert len(r["digits"]) == 1
    assert "symbolic link out of the source" in records["link.jpg"]["error"]
    assert "not an image" in records["notes.txt"]["error"]


def zip_with_bad_members(path, good: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok/one.jpg", good)
        z.writestr("../escape.jpg", good)
        z.writestr("/abs.jpg", good)
        z.writestr("big.jpg", b"\0" * 100)
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02")  # the last member's directory entry claims 3 GB
    data[at + 24 : at + 28] = struct.pack("<I", 3 * 2**30)
    path.write_bytes(bytes(data))


def test_archives_refuse_traversal_links_and_bombs(tmp_path, digits):
    images, labels = digits
    good = jpeg(photo(images[1], 1))
    zipped = tmp_path / "in.zip"
    zip_with_bad_members(zipped, good)
    found = {i.key: i.where[0] for i in items(zipped)}
    assert found == {
        "in.zip:ok/one.jpg": "zip",
        "in.zip:../escape.jpg": "error",
        "in.zip:/abs.jpg": "error",
        "in.zip:big.jpg": "error",
    }
    tarred = tmp_path / "in.tar.gz"
    with tarfile.open(tarred, "w:gz") as t:
        info = tarfile.TarInfo("ok/one.jpg")
        info.size = len(good)
        t.addfile(info, io.BytesIO(good))
        link = tarfile.TarInfo("link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
        up = tarfile.TarInfo("../up.jpg")
        up.size = len(good)
        t.addfile(up, io.BytesIO(good))
    out = tmp_path / "r.jsonl"
    results = Results(out)
    run(tarred, results)
    results.close()
    records = {r["path"]: r for r in lines(out)}
    from digitnet.reading.recognise import recognise

    assert records["in.tar.gz:ok/one.jpg"]["number"] == recognise(good).prediction
    assert "link" in records["in.tar.gz:link.jpg"]["error"]
    assert ".." in records["in.tar.gz:../up.jpg"]["error"]


def test_a_list_of_paths_csv_and_errors_only(tmp_path, digits):
    images, labels = digits
    (tmp_path / "x.jpg").write_bytes(jpeg(photo(images[2], 2)))
    listing = tmp_path / "list.txt"
    listing.write_text("x.jpg\n# a comment\nlater.jpg\n")
    out = tmp_path / "r.csv"
    results = Results(out, "csv")
    run(listing, results)
    results.close()
    import csv

    rows = {r["path"]: r for r in csv.DictReader(out.open())}
    from digitnet.reading.recognise import recognise

    assert rows["x.jpg"]["number"] == recognise(tmp_path / "x.jpg").prediction
    assert "not found" in rows["later.jpg"]["error"]
    (tmp_path / "later.jpg").write_bytes(jpeg(photo(images[3], 3)))
    results = Results(out, "csv", retry_errors=True)
    counts = run(listing, results)
    results.close()
    rows = list(csv.DictReader(out.open()))
    assert counts["skipped"] == 1 and counts["read"] == 1
    assert Counter(r["path"] for r in rows) == {"x.jpg": 1, "later.jpg": 1}
    assert {r["path"]: r["number"] for r in rows}["later.jpg"] == recognise(
        tmp_path / "later.jpg"
    ).prediction


def test_a_list_may_hold_fsspec_urls(tmp_path, digits):
    """Lines with a protocol are read through fsspec (here file://; s3:// and the others
    the same way with their package installed); a missing URL is an error line."""
    pytest.importorskip("fsspec")
    from digitnet.reading.recognise import recognise

    images, _ = digits
    (tmp_path / "u.jpg").write_bytes(jpeg(photo(images[5], 5)))
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"file://{tmp_path / 'u.jpg'}\nfile://{tmp_path / 'gone.jpg'}\nnosuchprotocol://x/y.jpg\n"
    )
    out = tmp_path / "r.jsonl"
    results = Results(out)
    run(listing, results)
    results.close()
    records = {r["path"]: r for r in lines(out)}
    assert (
        records[f"file://{tmp_path / 'u.jpg'}"]["number"]
        == recognise(tmp_path / "u.jpg").prediction
    )
    assert records[f"file://{tmp_path / 'gone.jpg'}"]["error"]
    assert records["nosuchprotocol://x/y.jpg"]["error"]


def test_sigkill_then_rerun_answers_every_image_exactly_once(tmp_path, digits):
    images, labels = digits
    root = tmp_path / "many"
    root.mkdir()
    for k in range(40):
        (root / f"{k:03d}.jpg").write_bytes(jpeg(photo(images[k % 200], k)))
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digitnet",
            "read-all",
            str(root),
            "--out",
            str(out),
            "--workers",
            "2",
            "--quiet",
        ],
        env=env,
    )
    end = time.monotonic() + 120
    while not out.exists() or out.read_text().count("\n") < 5:
        assert proc.poll() is None and time.monotonic() < end
        time.sleep(0.02)
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 20  # its worker processes stop with it
    while any(
        os.path.exists(f"/proc/{c}")
        and "Z" not in open(f"/proc/{c}/stat").read().split(")")[1].split()[0]
        for c in children
    ):
        assert time.monotonic() < end, "worker processes outlived the killed run"
        time.sleep(0.1)
    with open(out, "a") as f:  # a line torn by the kill
        f.write('{"path": "000.jpg", "numb')
    before = out.read_text().count("\n")
    assert before < 40
    done = run_cli("read-all", str(root), "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert f"{before:,} already in" in done.stdout
    keys = Counter(r["path"] for r in lines(out))
    assert keys == Counter({f"{k:03d}.jpg": 1 for k in range(40)})


def test_dask_local_cluster_gives_the_same_answers(folder, tmp_path):
    pytest.importorskip("dask.distributed")
    local, dasked = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    for out, kwargs in ((local, {"workers": 2}), (dasked, {"workers": 2, "dask": "local"})):
        results = Results(out)
        run(folder, results, **kwargs)
        results.close()
    a = {r["path"]: (r["number"], r["error"]) for r in lines(local)}
    b = {r["path"]: (r["number"], r["error"]) for r in lines(dasked)}
    assert a == b and len(a) == 8


@pytest.mark.parametrize(
    "args,message",
    [
        (["nothing-here", "--out", "r.jsonl"], "no such folder"),
        ([".", "--out", "no/such/dir/r.jsonl"], "does not exist"),
    ],
)
def test_bad_sources_and_outputs_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    from digitnet.apps.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["read-all", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_reading_an_unrelated_file_as_results_is_refused(tmp_path, folder):
    out = tmp_path / "r.jsonl"
    out.write_text("hello\n")
    from digitnet.errors import ConfigError

    with pytest.raises(ConfigError, match="not a results line"):
        Results(out)
    assert np.array_equal(out.read_text(), "hello\n")


def test_a_results_file_from_another_source_is_refused_and_kept(tmp_path, folder):
    out = tmp_path / "r.jsonl"
    answered = (
        json.dumps(
            {
                "path": "elsewhere/1.jpg",
                "number": "1",
                "confidence": 0.9,
                "digits": [],
                "error": None,
            }
        )
        + "\n"
    )
    out.write_text(answered)
    from digitnet.errors import ConfigError

    results = Results(out)
    with pytest.raises(ConfigError, match="holds answers for another source"):
        run(folder, results)
    results.close()
    assert out.read_text() == answered


def test_the_results_file_is_locked_while_open(tmp_path):
    from digitnet.errors import BusyError

    out = tmp_path / "r.jsonl"
    with Results(out):
        assert (tmp_path / ".r.jsonl.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(
            BusyError, match=rf"being written by another process \(pid {os.getpid()},"
        ):
            Results(out)
    with Results(out):  # released by close
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]  # no sidecar left


def test_a_refused_results_file_releases_its_lock(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text("hello\n")
    from digitnet.errors import ConfigError

    with pytest.raises(ConfigError, match="not a results line"):
        Results(out)
    out.write_text("")
    Results(out).close()  # not locked by the failed attempt


def test_a_second_run_on_the_same_out_stops_at_once_naming_the_holder(tmp_path, folder):
    """Two terminals, one results file: the second run exits 1 with one line naming the
    first one's process id, and writes nothing; once the first is killed (SIGKILL: the
    kernel drops its lock), a run proceeds."""
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    hold = (
        "import sys, time; from digitnet.apps.bulk import Results; "
        "r = Results(sys.argv[1]); print('locked', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = run_cli("read-all", str(folder), "--out", str(out), timeout=120)  # no wait
        err = second.stderr.strip().splitlines()
        assert second.returncode == 1 and second.stdout == ""
        assert len(err) == 1 and err[0].startswith("digitnet read-all: error: ")
        assert f"{out} is being written by another process (pid {holder.pid}," in err[0]
        assert len(err[0]) <= 200 + len("digitnet read-all: error: ")
        assert out.read_text() == ""
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / ".r.jsonl.lock").exists()  # left by the killed holder: harmless
    with Results(out) as results:
        assert run(folder, results)["images"] == 8
    assert len(lines(out)) == 8
