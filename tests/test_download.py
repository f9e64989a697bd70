"""Downloads against a real HTTP server on 127.0.0.1 serving small synthetic files."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from synth import gz, idx_bytes, make_arrays, table_for

from digitnet.data import (
    DownloadError,
    DownloadProgress,
    MnistFile,
    download_mnist,
    load_mnist,
    read_idx,
)
from digitnet.errors import ConfigError, DataError

ARRAYS = make_arrays(n_train=30, n_test=10)
TABLE = table_for(ARRAYS, gz_md5=True)
GOOD = {f"/good/{spec.gz_name}": gz(idx_bytes(ARRAYS[role])) for role, spec in TABLE.items()}
# The same files with the pixel data altered (still valid gzip and IDX): fails the md5.
CORRUPT = {
    f"/corrupt/{spec.gz_name}": gz(idx_bytes(255 - ARRAYS[role])) for role, spec in TABLE.items()
}
TWO_FILES = {role: TABLE[role] for role in ("train_labels", "test_labels")}


class Handler(BaseHTTPRequestHandler):
    routes: dict[str, bytes] = {**GOOD, **CORRUPT}

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        if self.path.startswith("/slow/"):
            time.sleep(1.0)
        body = self.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up (BrokenPipeError) is expected here


@pytest.fixture(scope="module")
def server():
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base(server):
    server.requests.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def dead_mirror():
    """A URL on a port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def assert_holds_good_files(folder, table):
    assert listing(folder) == sorted(spec.gz_name for spec in table.values())
    for role, spec in table.items():
        np.testing.assert_array_equal(read_idx(folder / spec.gz_name, spec), ARRAYS[role])


def test_downloads_and_verifies_every_file(tmp_path, base):
    folder = tmp_path / "new" / "cache"  # created on demand
    calls = []
    result = download_mnist(
        folder, mirrors=[f"{base}/good/"], files=TABLE, progress=lambda *a: calls.append(a)
    )
    assert_holds_good_files(folder, TABLE)  # and no temp file left behind
    assert result.data_dir == folder and result.present == ()
    assert result.downloaded == tuple(folder / spec.gz_name for spec in TABLE.values())
    for spec in TABLE.values():
        size = len(GOOD[f"/good/{spec.gz_name}"])
        mine = [c for c in calls if c[2] == spec.gz_name]
        assert mine[0] == (0, size, spec.gz_name) and mine[-1] == (size, size, spec.gz_name)
    assert all((folder / spec.gz_name).stat().st_mode & 0o777 == 0o644 for spec in TABLE.values())


def test_present_files_are_not_downloaded_again(tmp_path, base, server):
    download_mnist(tmp_path, mirrors=[f"{base}/good/"], files=TABLE)
    server.requests.clear()
    result = download_mnist(tmp_path, mirrors=[f"{base}/good/"], files=TABLE)
    assert result.downloaded == () and len(result.present) == 4
    assert server.requests == []


def test_only_missing_files_are_fetched(tmp_path, base, server):
    download_mnist(tmp_path, mirrors=[f"{base}/good/"], files=TABLE)
    (tmp_path / TABLE["test_labels"].gz_name).unlink()
    server.requests.clear()
    result = download_mnist(tmp_path, mirrors=[f"{base}/good/"], files=TABLE)
    assert server.requests == [f"/good/{TABLE['test_labels'].gz_name}"]
    assert result.downloaded == (tmp_path / TABLE["test_labels"].gz_name,)


def test_corrupt_first_mirror_falls_back_to_the_next(tmp_path, base, server):
    download_mnist(tmp_path, mirrors=[f"{base}/corrupt/", f"{base}/good/"], files=TWO_FILES)
    assert_holds_good_files(tmp_path, TWO_FILES)
    assert server.requests == [
        f"/{m}/{spec.gz_name}" for spec in TWO_FILES.values() for m in ("corrupt", "good")
    ]


def test_content_checksum_is_checked_when_no_archive_md5_is_known(tmp_path, base):
    no_md5 = {role: MnistFile(s.name, s.shape, s.sha256, None) for role, s in TWO_FILES.items()}
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path, mirrors=[f"{base}/corrupt/"], files=no_md5)
    assert "bad content: checksum mismatch" in str(info.value)
    assert listing(tmp_path) == []
    download_mnist(tmp_path, mirrors=[f"{base}/corrupt/", f"{base}/good/"], files=no_md5)
    assert_holds_good_files(tmp_path, no_md5)


def test_all_mirrors_corrupt_leaves_nothing(tmp_path, base):
    mirrors = [f"{base}/corrupt/", f"{base}/corrupt"]  # with and without trailing slash
    with pytest.raises(DataError) as info:
        download_mnist(tmp_path, mirrors=mirrors, files=TWO_FILES)
    message = str(info.value)
    name = TWO_FILES["train_labels"].gz_name
    assert "\n" not in message
    assert message.startswith(f"could not download {name} into {tmp_path} (md5 of the download")
    assert message.endswith(
        "; 2 mirrors); point data_dir or DIGITNET_DATA_DIR at a folder with the MNIST files"
    )
    assert [
        f.startswith(f"{base}/corrupt/{name} (md5 of the download is ") for f in info.value.failures
    ] == [True, True]
    assert listing(tmp_path) == []  # no partial or temporary file


def test_http_error_falls_back(tmp_path, base):
    download_mnist(tmp_path, mirrors=[f"{base}/missing/", f"{base}/good/"], files=TWO_FILES)
    assert_holds_good_files(tmp_path, TWO_FILES)


def test_dead_mirror_falls_back_and_is_not_retried(tmp_path, base, dead_mirror, monkeypatch):
    opened = []
    urlopen = urllib.request.urlopen

    def spy(request, *args, **kwargs):
        opened.append(request.full_url)
        return urlopen(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    download_mnist(tmp_path, mirrors=[dead_mirror, f"{base}/good/"], files=TWO_FILES)
    assert_holds_good_files(tmp_path, TWO_FILES)
    first, second = (spec.gz_name for spec in TWO_FILES.values())
    assert opened == [dead_mirror + first, f"{base}/good/{first}", f"{base}/good/{second}"]


def test_malformed_mirror_url_is_one_more_failure(tmp_path, base):
    download_mnist(tmp_path, mirrors=["not a url", f"{base}/good/"], files=TWO_FILES)
    assert_holds_good_files(tmp_path, TWO_FILES)


def test_timeout_falls_back(tmp_path, base, server):
    one = {"test_labels": TABLE["test_labels"]}
    start = time.perf_counter()
    download_mnist(tmp_path, mirrors=[f"{base}/slow/", f"{base}/good/"], files=one, timeout=0.2)
    assert time.perf_counter() - start < 0.9  # gave up on /slow/ before it answered
    assert server.requests[0].startswith("/slow/")
    assert_holds_good_files(tmp_path, one)


def test_timeout_is_reported(tmp_path, base):
    one = {"test_labels": TABLE["test_labels"]}
    with pytest.raises(
        DownloadError, match=r"t10k-labels-idx1-ubyte.gz into .* \(no response within 0.2 s\)"
    ) as info:
        download_mnist(tmp_path, mirrors=[f"{base}/slow/"], files=one, timeout=0.2)
    assert info.value.failures == [
        f"{base}/slow/t10k-labels-idx1-ubyte.gz (no response within 0.2 s)"
    ]
    assert listing(tmp_path) == []


def test_all_mirrors_dead(tmp_path, dead_mirror):
    mirrors = [dead_mirror, dead_mirror.replace("/mnist/", "/other/")]
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path / "cache", mirrors=mirrors, files=TABLE)
    error = info.value
    assert error.spec == TABLE["train_images"]  # gave up at the first file
    assert "Connection refused" in error.failures[0]
    assert "\n" not in str(error)
    assert not (tmp_path / "cache").exists()  # the folder it created is removed again


def test_load_mnist_offline_gives_one_clear_message(tmp_path, dead_mirror, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA_DIR", str(tmp_path / "mnist"))
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / TABLE["test_labels"].gz_name).write_bytes(b"present")
    with pytest.raises(DataError) as info:
        load_mnist(files=TABLE, mirrors=[dead_mirror], val_size=5)
    assert str(info.value) == (
        f"3 MNIST files missing from {tmp_path / 'mnist'} (DIGITNET_DATA_DIR) and the "
        "download failed (Connection refused); point data_dir or DIGITNET_DATA_DIR at a "
        "folder with the MNIST files"
    )
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        TABLE["test_labels"].gz_name
    ]  # a folder that was there stays


def test_load_mnist_downloads_missing_files(tmp_path, base):
    mnist = load_mnist(tmp_path, files=TABLE, mirrors=[f"{base}/good/"], val_size=10)
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (20, 10, 10)
    np.testing.assert_array_equal(mnist.test.images, ARRAYS["test_images"])
    assert_holds_good_files(tmp_path, TABLE)


@pytest.mark.parametrize(
    "interruption", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_failed_write_leaves_no_temp_file(tmp_path, base, monkeypatch, interruption):
    def failing_replace(src, dst):
        raise interruption

    monkeypatch.setattr(os, "replace", failing_replace)
    expected = DataError if isinstance(interruption, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        download_mnist(tmp_path, mirrors=[f"{base}/good/"], files=TWO_FILES)
    if expected is DataError:
        assert f"cannot write {tmp_path / TABLE['train_labels'].gz_name}: No space left" in str(
            info.value
        )
    assert listing(tmp_path) == []


def test_folder_that_cannot_be_created(tmp_path, base):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DataError, match="cannot create the data folder .*file/sub"):
        download_mnist(tmp_path / "file" / "sub", mirrors=[f"{base}/good/"], files=TABLE)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mirrors": "http://one.example/"}, "mirrors must be a non-empty sequence of URLs"),
        ({"mirrors": []}, "mirrors must be"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
        ({"progress": "bar"}, "progress must be a callable or None, got 'bar'"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        download_mnist(tmp_path, files=TABLE, **kwargs)


def test_download_progress_draws_one_bar_per_file(tmp_path, base):
    stream = io.StringIO()
    with DownloadProgress(stream=stream, enabled=True) as bar:
        download_mnist(tmp_path, mirrors=[f"{base}/good/"], files=TWO_FILES, progress=bar)
    text = stream.getvalue()
    for spec in TWO_FILES.values():
        assert f"downloading {spec.gz_name}: 100%" in text  # each file's bar reached the end
    assert text.endswith("\r")  # the last bar was erased
