"""Recognise the digits in a person's own image files.

Typical use::

    from digitnet.modelfile import load_model
    from digitnet.reading.recognise import recognise, recognise_files

    result = recognise("number.jpg", load_model("model.npz"))   # raises ImageError if bad
    print(result.prediction, result.confidence)                 # "4096" 0.97
    for r in recognise_files(["a.png", "b.jpg"], model):       # errors inside the results
        print(r.file, r.error or r.prediction)

Each image goes through :func:`digitnet.imaging.images.prepare` (MNIST-style preprocessing and
segmentation into digits, left to right); the model reads each 28x28 digit. Where digits
touch, the segmenter offers several readings; the model's confidence, the shapes and the
segment checker (:mod:`digitnet.training.checker`: is this one whole digit?) choose between them,
and the checker's digit probabilities are averaged with the model's. A
number's confidence is the product of its digits' confidences: the model's probability that
every digit is right, if the digits' errors are independent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.errors import DigitnetError, NoInkError
from digitnet.evaluation.confidence import BLANK, NOT_A_DIGIT, not_a_digit_threshold
from digitnet.evaluation.evaluate import predict_proba
from digitnet.evaluation.styles import apply_style, check_style
from digitnet.imaging.imagefile import ImageSource
from digitnet.imaging.images import Prepared, prepare
from digitnet.nn import Sequential

#: weight of the checker's log-probability that a segment is one whole digit in the score of
#: a reading (chosen on numbers made of validation digits)
CHECK_WEIGHT = 1.0

#: weight of the checker's digit probabilities next to the model's (1: the plain average;
#: chosen on photos of validation digits)
READ_WEIGHT = 1.0

#: images are read in batches holding at most this many working pixels (each pixel takes
#: ~25 bytes of preprocessing arrays, kept for ``--explain``)
BATCH_PIXELS = 4_000_000


@dataclass
class DigitResult:
    """One digit read from an image.

    Attributes
    ----------
    digit : int
    confidence : float
        The model's probability for ``digit``.
    top : list of (int, float)
        The most probable digits with their probabilities, best first.
    box : (int, int, int, int)
        ``(left, top, right, bottom)`` of the digit in the original image's pixels
        (right and bottom exclusive).
    is_digit : bool
        False when the model says this mark is not a digit
        (:func:`digitnet.evaluation.confidence.digit_or_not`); ``digit`` is then only its
        best guess.
    """

    digit: int
    confidence: float
    top: list[tuple[int, float]]
    box: tuple[int, int, int, int]
    is_digit: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_digit": self.is_digit,
            "digit": self.digit,
            "confidence": self.confidence,
            "top": [{"digit": d, "confidence": p} for d, p in self.top],
            "box": list(self.box),
        }


@dataclass
class Recognition:
    """What was read from one image: the digits as a string, or the error.

    Attributes
    ----------
    file : str
    prediction : str or None
        The digits read, left to right (None when the image failed, or holds no digit:
        see ``reason``).
    reason : str or None
        Why there is no prediction though the image was read (e.g. ``"not a digit"``).
    confidence : float or None
        Product of the digits' confidences.
    digits : list of DigitResult
    error : str or None
        One line saying why the image could not be read.
    explain : str or None
        Path of the ``--explain`` picture written for this image.
    prepared : Prepared or None
        The preprocessing steps (not serialised).
    chosen : list of int
        Indices into ``prepared.segments`` / ``prepared.digits`` of the digits read.
    """

    file: str
    prediction: str | None = None
    reason: str | None = None
    confidence: float | None = None
    digits: list[DigitResult] = field(default_factory=list)
    error: str | None = None
    explain: str | None = None
    prepared: Prepared | None = field(default=None, repr=False)
    chosen: list[int] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``file``, ``prediction``, ``confidence``, ``digits``, and
        ``error`` / ``explain`` when set."""
        out: dict[str, Any] = {
            "file": self.file,
            "prediction": self.prediction,
            "confidence": self.confidence,
            "digits": [d.to_dict() for d in self.digits],
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.error is not None:
            out["error"] = self.error
        if self.explain is not None:
            out["explain"] = self.explain
        return out


def recognise(
    source: ImageSource,
    model: Sequential | None = None,
    *,
    single: bool = False,
    top: int = 3,
    checker: Sequential | bool = True,
    exhaustive: bool = False,
    style: str = "auto",
) -> Recognition:
    """Read the digits of one image.

    Parameters
    ----------
    source : path, PIL.Image.Image or np.ndarray
        The image (see :func:`digitnet.imaging.imagefile.open_image`).
    model : Sequential, optional
        Defaults to the model shipped with digitnet.
    single : bool
        The image holds one digit: all its ink is read as one.
    top : int
        How many alternatives to keep per digit.
    checker : Sequential or bool
        The segment checker: it helps to choose between readings of touching digits, and
        its digit probabilities are averaged with the model's (:func:`second_opinion`).
        True for the one shipped with digitnet (none if this install has none), False
        for none (the model alone).
    exhaustive : bool
        Read every candidate segment, even those of readings that cannot win (the slow
        reference for the default, which skips them and chooses the same reading).
    style : {"auto", "continental", "american"}
        Which culture's handwriting to expect where two disagree (a flagged 1 or a 7, a
        closed 4 or a 9): :mod:`digitnet.evaluation.styles`.

    Raises
    ------
    ImageError
        Unreadable image, or no digit in it.
    """
    check_style(style)
    if model is None:
        from digitnet.models import shipped_model

        model = shipped_model()  # loaded once per process
    try:
        prepared = prepare(source, single=single)
    except NoInkError:
        return Recognition(file=_name(source), reason=BLANK)
    name = str(source) if isinstance(source, str | os.PathLike) else prepared.loaded.name
    return next(_read_batch([(name, prepared)], model, top, _checker(checker), exhaustive, style))


def _name(source: ImageSource) -> str:
    return str(source) if isinstance(source, str | os.PathLike) else "image"


def recognise_files(
    paths: Iterable[str | os.PathLike],
    model: Sequential,
    *,
    single: bool = False,
    top: int = 3,
    batch_size: int = 64,
    checker: Sequential | bool = True,
    exhaustive: bool = False,
    style: str = "auto",
) -> Iterator[Recognition]:
    """Read many images, yielding one :class:`Recognition` per path, in order.

    A file that cannot be read gives a Recognition with ``error`` set, a blank one a
    Recognition with ``reason`` :data:`~digitnet.evaluation.confidence.BLANK`; the others
    are still read. The model sees the digits of up to ``batch_size`` images at once (fewer when
    they are large: the preprocessing steps of at most :data:`BATCH_PIXELS` working pixels
    are held at a time). ``checker`` and ``exhaustive`` as for :func:`recognise`.
    """
    check_style(style)
    second = _checker(checker)
    pending: list[tuple[str, Prepared | Recognition | str]] = []
    pixels = 0
    for path in paths:
        try:
            prepared = prepare(path, single=single)
            pending.append((str(path), prepared))
            pixels += prepared.grey.size
        except NoInkError:
            pending.append((str(path), Recognition(file=str(path), reason=BLANK)))
        except DigitnetError as exc:
            pending.append((str(path), str(exc)))
        if len(pending) >= batch_size or pixels >= BATCH_PIXELS:
            yield from _read_batch(pending, model, top, second, exhaustive, style)
            pending, pixels = [], 0
    yield from _read_batch(pending, model, top, second, exhaustive, style)


def _checker(checker: Sequential | bool) -> Sequential | None:
    if checker is True:
        from digitnet.models import shipped_checker

        return shipped_checker()  # loaded once per process
    return checker or None


def _read_batch(
    pending: list[tuple[str, Prepared | Recognition | str]],
    model: Sequential,
    top: int,
    checker: Sequential | None,
    exhaustive: bool = False,
    style: str = "auto",
) -> Iterator[Recognition]:
    """Read a batch of prepared images (or error strings), yielding in order.

    The candidate segments are read in two rounds, each one batched network call over every
    image: first each slot's most plausible reading by its shape (``options[0]``), then only
    the readings that can still beat it. A reading's score is its prior plus log-probabilities
    (each <= 0), so a reading whose prior is not above the best score found cannot win: it is
    skipped, and so is normalising its segments (:func:`needed`). The choice is the one that
    reading every segment gives (``exhaustive=True``, the slow reference)."""
    good = [p for _, p in pending if isinstance(p, Prepared)]
    proba = [np.full((len(p.segments), 10), np.nan, dtype=np.float32) for p in good]
    own = [np.full(len(p.segments), np.nan, dtype=np.float32) for p in good]
    not_one = [
        np.full(len(p.segments), np.nan, dtype=np.float32) if checker is not None else None
        for p in good
    ]
    if exhaustive:
        every = [range(len(p.segments)) for p in good]
        _read_segments(good, every, model, checker, proba, not_one, own, style)
    else:
        first = [_segments_of(p, [slot.options[0] for slot in p.slots]) for p in good]
        _read_segments(good, first, model, checker, proba, not_one, own, style)
        rest = [needed(p, pr, no) for p, pr, no in zip(good, proba, not_one, strict=True)]
        _read_segments(good, rest, model, checker, proba, not_one, own, style)
    threshold = not_a_digit_threshold(model)
    results = iter(zip(proba, not_one, own, strict=True))
    for name, p in pending:
        if isinstance(p, Prepared):
            pr, no, ow = next(results)
            yield read_digits(name, p, pr, top, no, own=ow, threshold=threshold)
        elif isinstance(p, Recognition):
            yield p
        else:
            yield Recognition(file=name, error=p)


def needed(prepared: Prepared, proba: np.ndarray, not_one: np.ndarray | None) -> list[int]:
    """Indices of the segments not read yet that some reading which can still win holds: a
    reading wins only if its prior is above the best score among the readings read so far
    (:func:`choose_readings`; scores are the prior plus log-probabilities, each <= 0)."""
    logp = _log_scores(proba, not_one)
    index = {s: i for i, s in enumerate(prepared.segments)}
    out: list[int] = []
    for slot in prepared.slots:
        best = max(
            _score(option, prior, logp, index)
            for option, prior in zip(slot.options, slot.priors, strict=True)
        )
        for option, prior in zip(slot.options, slot.priors, strict=True):
            if prior > best:
                out.extend(i for i in (index[s] for s in option) if np.isnan(proba[i, 0]))
    return list(dict.fromkeys(out))


def _segments_of(prepared: Prepared, options) -> list[int]:
    index = {s: i for i, s in enumerate(prepared.segments)}
    return list(dict.fromkeys(index[s] for option in options for s in option))


def _read_segments(
    good: list[Prepared],
    wanted: list,
    model: Sequential,
    checker: Sequential | None,
    proba: list[np.ndarray],
    not_one: list[np.ndarray | None],
    own: list[np.ndarray] | None = None,
    style: str = "auto",
) -> None:
    """Read ``prepared.segments[i]`` for each ``i`` in ``wanted`` (one list per image) in one
    network call, filling the rows of ``proba`` (and ``not_one``; and ``own``, the model's
    own largest probability before the checker's opinion is averaged in)."""
    wanted = [list(w) for w in wanted]
    if not any(wanted):
        return
    digits = np.concatenate([p.inputs(w) for p, w in zip(good, wanted, strict=True)])
    read = predict_proba(model, digits)  # (D, 10)
    top = read.max(axis=1)  # (D,)
    flags = None
    if checker is not None:
        read, flags = second_opinion(read, checker, digits)
    read = apply_style(read, style)
    start = 0
    for k, w in enumerate(wanted):
        proba[k][w] = read[start : start + len(w)]
        if own is not None:
            own[k][w] = top[start : start + len(w)]
        row = not_one[k]
        if flags is not None and row is not None:
            row[w] = flags[start : start + len(w)]
        start += len(w)


def second_opinion(
    proba: np.ndarray, checker: Sequential, digits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Combine the model's digit probabilities ``(D, 10)`` with the checker's for the same
    inputs ``(D, 28, 28)``: the checker learnt its digits from photographed numbers, the
    model from MNIST's clean images, and their average (:data:`READ_WEIGHT` for the
    checker) misreads fewer photographed digits than either. Returns the combined
    ``(D, 10)`` and the checker's probability that each input is not one digit ``(D,)``."""
    from digitnet.evaluation.checker import checker_proba

    digit, not_one = checker_proba(checker, digits)
    combined = (proba + READ_WEIGHT * digit) / (1 + READ_WEIGHT)
    return combined.astype(np.float32), not_one


def choose_readings(
    prepared: Prepared, proba: np.ndarray, not_one: np.ndarray | None = None
) -> list[int]:
    """For each slot, the most plausible reading: the highest sum of the log-probabilities
    of its pieces' best digits, of the reading's shape prior (``Slot.priors``: cuts through
    little ink, pieces shaped like digits) and, with the checker's ``not_one`` (``(M,)``,
    the probability that a segment is not one whole digit), :data:`CHECK_WEIGHT` times the
    log-probability that each piece is one. Summing, not averaging, makes each extra piece
    earn its place: a model trained on whole digits also reads half a digit as some digit,
    often confidently. ``proba`` is ``(M, 10)`` for ``prepared.segments``; rows of NaN
    are segments not read (:func:`needed`), and a reading holding one is not chosen."""
    index = {s: i for i, s in enumerate(prepared.segments)}
    logp = _log_scores(proba, not_one)
    choice = []
    for slot in prepared.slots:
        scores = [
            _score(option, prior, logp, index)
            for option, prior in zip(slot.options, slot.priors, strict=True)
        ]
        choice.append(int(np.argmax(scores)))
    return choice


def _log_scores(proba: np.ndarray, not_one: np.ndarray | None) -> np.ndarray:
    """``(M,)`` log-probability that each segment is read right (and is one digit), NaN
    for the segments not read."""
    logp = np.log(np.maximum(proba.max(axis=1), 1e-12))  # (M,)
    if not_one is not None:
        logp = logp + CHECK_WEIGHT * np.log(np.maximum(1 - not_one, 1e-6))
    return logp


def _score(option, prior: float, logp: np.ndarray, index: dict) -> float:
    total = prior + sum(logp[index[s]] for s in option)
    return -np.inf if np.isnan(total) else float(total)


def read_digits(
    name: str,
    prepared: Prepared,
    proba: np.ndarray,
    top: int,
    not_one: np.ndarray | None = None,
    *,
    own: np.ndarray | None = None,
    threshold: float | None = None,
) -> Recognition:
    """Turn the model's probabilities ``(M, 10)`` for an image's candidate segments (and the
    checker's ``(M,)``, see :func:`choose_readings`) into a :class:`Recognition`.

    With ``own`` (``(M,)``, the model's own largest probability for each segment) and a
    ``threshold`` (:func:`digitnet.evaluation.confidence.not_a_digit_threshold`), a chosen
    mark below it is not a digit: the image then has no prediction, and its ``reason``
    says so ("not a digit", or which marks of several are not)."""
    if proba.ndim != 2 or proba.shape[0] != len(prepared.segments):
        raise ValueError(
            f"expected probabilities for {len(prepared.segments)} segments, got shape {proba.shape}"
        )
    chosen = prepared.reading(choose_readings(prepared, proba, not_one))
    order = np.argsort(-proba[chosen], axis=1, kind="stable")[:, : max(1, top)]  # (K, top)
    scale, m = prepared.loaded.scale, prepared.margin
    width, height = prepared.loaded.original_size
    digits = []
    segments = [prepared.segments[i] for i in chosen]
    is_digit = np.ones(len(chosen), dtype=bool)
    if own is not None and threshold is not None:
        is_digit = own[chosen] >= threshold
    for seg, row, best, ok in zip(segments, proba[chosen], order, is_digit, strict=True):
        box = (
            max(0, int((seg.left - m) / scale)),
            max(0, int((seg.top - m) / scale)),
            min(width, int(np.ceil((seg.right - m) / scale))),
            min(height, int(np.ceil((seg.bottom - m) / scale))),
        )
        digits.append(
            DigitResult(
                digit=int(best[0]),
                confidence=float(row[best[0]]),
                top=[(int(d), float(row[d])) for d in best],
                box=box,
                is_digit=bool(ok),
            )
        )
    if not is_digit.all():
        return Recognition(
            file=name, reason=_not_digits(is_digit), digits=digits, prepared=prepared, chosen=chosen
        )
    confidence = float(np.prod([d.confidence for d in digits]))
    return Recognition(
        file=name,
        prediction="".join(str(d.digit) for d in digits),
        confidence=confidence,
        digits=digits,
        prepared=prepared,
        chosen=chosen,
    )


def _not_digits(is_digit: np.ndarray) -> str:
    """``"not a digit"`` for one mark; for several, which ones are not digits."""
    if len(is_digit) == 1:
        return NOT_A_DIGIT
    bad = [str(i + 1) for i in np.flatnonzero(~is_digit)]
    which = f"mark {bad[0]}" if len(bad) == 1 else "marks " + ", ".join(bad)
    return f"{NOT_A_DIGIT}: {which} of {len(is_digit)}"


def explain_path(folder: str | os.PathLike, file: str, taken: set[str]) -> Path:
    """``FOLDER/<stem>.explain.png`` for an input file, numbered ``<stem>-2`` etc. when two
    inputs share a name; ``taken`` collects the names used."""
    stem = Path(file).stem or "image"
    name, n = f"{stem}.explain.png", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.explain.png"
    taken.add(name)
    return Path(folder) / name
