"""Every parser survives any input (Hypothesis): the only exceptions that escape are digitnet's
own, with a one-line message, and each input is answered quickly. A few hundred examples per
parser here; ``benchmarks/fuzz.py`` runs 10,000 and more and measures time and memory."""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis")
import fuzz_inputs as inputs  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from digitnet.data.idx import decompress, parse_idx  # noqa: E402
from digitnet.errors import ConfigError, DigitnetError, ModelFileError  # noqa: E402
from digitnet.modelfile import load_model  # noqa: E402
from digitnet.reading.recognise import recognise  # noqa: E402
from digitnet.training.adapt import load_samples  # noqa: E402

idx_inputs, image_files, model_file = inputs.idx_inputs, inputs.image_files, inputs.model_file
mutated, npz_inputs, zip_bomb_npz = inputs.mutated, inputs.npz_inputs, inputs.zip_bomb_npz

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
#: no single input may take longer than this (a hang would)
SLOW = 5.0
MODEL = model_file()
IMAGES = image_files()


def survives(parse, data) -> None:
    start = time.perf_counter()
    try:
        parse(data)
    except DigitnetError as exc:
        assert str(exc) and "\n" not in str(exc), repr(exc)
    assert time.perf_counter() - start < SLOW


def idx(data: bytes) -> None:
    parse_idx(decompress(data, source="fuzz.idx"), source="fuzz.idx")


def model_from(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npz"
        path.write_bytes(data)
        load_model(path)


@FUZZ
@given(idx_inputs())
def test_idx_parser(data):
    survives(idx, data)


@FUZZ
@given(npz_inputs(MODEL))
def test_model_file_loader(data):
    survives(model_from, data)


@pytest.fixture(scope="module")
def shipped():
    from digitnet.models import load_shipped_model

    return load_shipped_model()


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(data=mutated(list(IMAGES.values())))
def test_image_reader_and_recognise(shipped, data):
    survives(lambda d: recognise(d, shipped, checker=False), data)


def _checkpoint_bytes() -> bytes:
    """A real checkpoint of a tiny run."""
    from digitnet.data import Split
    from digitnet.nn import Dense, Flatten, Sequential
    from digitnet.training import checkpoint
    from digitnet.training.loop import TrainConfig, fit

    rng = np.random.default_rng(0)
    data = Split(rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64))
    with tempfile.TemporaryDirectory() as folder:
        saver = checkpoint.Checkpointer(folder, {}, every=None)
        fit(
            Sequential([Flatten(), Dense(10)], (28, 28, 1), rng),
            data,
            None,
            TrainConfig(epochs=1, batch_size=32, optimizer="adam"),
            progress=False,
            checkpoint=saver,
        )
        return (Path(folder) / checkpoint.FILE).read_bytes()


CHECKPOINT = _checkpoint_bytes()


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(mutated([CHECKPOINT]))
def test_checkpoint_loader(data):
    from digitnet.training import checkpoint

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / checkpoint.FILE).write_bytes(data)
        survives(lambda _: checkpoint.load(folder), None)


class Hang(BaseException):
    """Raised by :func:`hang_fails`: no ``except Exception`` (or OSError) of the code under
    test catches it."""


@contextlib.contextmanager
def hang_fails(seconds: float = 2 * SLOW):
    """A call that blocks (a pipe opened with no writer) fails the test instead of hanging
    the run: SIGALRM interrupts it."""

    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: images that read as a digit, for the good part of a samples folder
SAMPLE_IMAGES = [IMAGES[k] for k in ("png", "jpeg", "bmp", "gif")]


def samples_from(tree) -> None:
    """``digitnet adapt``'s reader on a generated folder: read (every digit present) or
    refused with one ConfigError line, never another exception."""
    with tempfile.TemporaryDirectory() as folder:
        root = inputs.write_samples(folder, tree)
        try:
            images, labels, _ = load_samples(root)
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc), repr(exc)
            return
        assert images.shape == (len(labels), 28, 28) and set(labels) == set(range(10))


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(inputs.sample_trees(SAMPLE_IMAGES))
def test_sample_folder_reader(tree):
    start = time.perf_counter()
    with hang_fails():
        samples_from(tree)
    assert time.perf_counter() - start < SLOW


# -- the hostile cases, one by one ----------------------------------------------------------


@pytest.mark.parametrize("make", ["fifo", "folder", "broken-link"])
def test_a_sample_that_is_no_file_is_refused_without_opening_it(tmp_path, make):
    """Regression: a named pipe called like an image blocked `digitnet adapt` for ever."""
    for d in range(10):
        (tmp_path / str(d)).mkdir()
        (tmp_path / str(d) / "a.png").write_bytes(IMAGES["png"])
    odd = tmp_path / "3" / "odd.png"
    {"fifo": os.mkfifo, "folder": os.mkdir, "broken-link": lambda p: p.symlink_to("gone")}[make](
        odd
    )
    with hang_fails(), pytest.raises(ConfigError) as info:
        load_samples(tmp_path)
    assert str(info.value) == f"{odd}: not an image file; remove it from the samples"


def test_a_gzip_bomb_is_refused_as_it_grows():
    """Decompression stops at the limit (256 MB by default; 8 MB here, to be quick)."""
    bomb = gzip.compress(b"\0" * (20 * 2**20), compresslevel=9)  # 20 MB in ~20 kB
    with pytest.raises(DigitnetError, match="decompression bomb"):
        decompress(bomb, source="bomb.gz", limit=8 * 2**20)
    assert len(decompress(bomb, source="bomb.gz")) == 20 * 2**20


def test_huge_declared_sizes_allocate_nothing():
    import struct
    import tracemalloc

    tracemalloc.start()
    for dims in ((2**31, 28, 28), (60000, 2**20, 2**20), (2**32 - 1,)):
        header = bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
        with pytest.raises(DigitnetError):
            idx(header + b"\0" * 100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20


def test_a_zip_bomb_model_file_is_refused_from_its_directory():
    with pytest.raises(ModelFileError, match="zip bomb"):
        model_from(zip_bomb_npz())


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_every_image_format_and_mode_is_read_or_refused_in_one_line(shipped, name):
    blank = ("1x1", "30000x1", "1x30000")
    try:
        result = recognise(IMAGES[name], shipped, checker=False)
    except DigitnetError as exc:
        assert "\n" not in str(exc)
        assert name in blank
        return
    if name in blank:  # answered "not a digit", with the reason
        assert result.prediction is None and result.reason.startswith("blank")
    elif name == "exif":  # the EXIF orientation turns the upright bar (a 1) a quarter turn:
        # a horizontal line, which the shipped model refuses (so the rotation was applied)
        assert result.prediction is None and result.reason.startswith("not a digit")
    else:
        assert result.prediction.isdigit()


@pytest.mark.parametrize("shape", [(2**40,), (2**28,), (10**9, 10**9), (2**62,)])
def test_a_huge_declared_array_is_refused_before_numpy_allocates_it(shape):
    """Regression: an array header announcing 4 TB in a 200-byte member let NumPy's
    MemoryError escape (and a 1 GB one was allocated before the read failed)."""
    import tracemalloc

    from fuzz_inputs import forged_npy_header

    tracemalloc.start()
    with pytest.raises(ModelFileError, match="declares shape"):
        model_from(forged_npy_header(MODEL, "layers.1.W.npy", shape))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2**20
