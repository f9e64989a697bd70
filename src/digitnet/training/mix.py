"""What a preset trains on besides MNIST's 50,000 training digits: real handwriting of other
cultures, MNIST digits redrawn in their styles, scans that fill their box, and things that are
not digits.

A :class:`Mix` names the ingredients; :func:`with_mix` returns the MNIST data with its
training split extended (validation and test stay MNIST's, so model selection and the test
figure mean what they always meant). Everything is drawn from one generator seeded by the
run's seed, so a mix is reproduced exactly.

The other handwriting is read from folders beside the MNIST folder (``../shared/datasets``
holds ``mnist/``, ``usps/``, ``optdigits/``), or from the folder given as ``extra_dir``.
Semeion is never used here: it is the measure of continental handwriting.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.data.mnist import Split
from digitnet.errors import ConfigError, DataError
from digitnet.nn.losses import NONE_OF_THESE

#: what to do when a data set of the mix is missing (the CLI words it with its option)
HINT_EXTRA = "give the folder that holds usps/ and optdigits/ as extra_dir"
#: the folders of the extra handwriting, looked for under ``extra_dir``
SOURCES = {"usps": "zip.train.gz", "optdigits": "optdigits-orig.tra.gz"}


@dataclass(frozen=True)
class Mix:
    """The training set of a preset beyond MNIST's training digits.

    Attributes
    ----------
    optdigits : int
        Copies of optdigits (2,880 digits of 30 writers in Istanbul, training and
        validation parts), each read as a person's 32x32 scan.
    usps : bool
        USPS's 7,291 training digits, read as a person's 16x16 files.
    continental : float
        Fraction of MNIST's 1s, 4s, 7s and 9s also given with a continental stroke
        (:func:`digitnet.data.styles.continental`).
    box_scans : float
        Fraction of all the digits above also given as a box scan
        (:func:`digitnet.data.styles.box_scans`).
    nondigits : int
        Non-digits (:func:`digitnet.data.nondigits.nondigits`, the ``train`` part), labelled
        "none of these": the network learns to spread its probability over the ten digits.
    """

    optdigits: int = 0
    usps: bool = False
    continental: float = 0.0
    box_scans: float = 0.0
    nondigits: int = 0

    def needs(self) -> list[str]:
        """The extra folders this mix reads."""
        return [name for name in SOURCES if getattr(self, name)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def extra_folder(
    name: str, data_dir: str | os.PathLike | None, extra_dir: str | os.PathLike | None
) -> Path:
    """Where the ``name`` data set (``usps`` or ``optdigits``) is: ``extra_dir/name``, or
    beside the MNIST folder ``data_dir`` (``data_dir/../name``)."""
    bases = [Path(extra_dir)] if extra_dir is not None else []
    if data_dir is not None:
        bases.append(Path(data_dir).absolute().parent)
    for base in bases:
        folder = base / name
        if (folder / SOURCES[name]).is_file():
            return folder
    where = " or ".join(str(b / name) for b in bases) or "nowhere (no folder given)"
    raise DataError(f"the {name} files are not in {where}", subject=name, hint=HINT_EXTRA)


def with_mix(
    data: Any,
    mix: Mix,
    *,
    seed: int,
    data_dir: str | os.PathLike | None = None,
    extra_dir: str | os.PathLike | None = None,
) -> tuple[Any, dict[str, int]]:
    """``data`` (:class:`digitnet.data.MNIST`) with its training split extended by ``mix``,
    and the number of training examples of each part (``{"mnist": 50000, ...}``).

    The added sets' checksums join ``data.checksums``.

    Raises
    ------
    DataError
        An extra data set is missing or fails its checksum.
    """
    from digitnet.data.nondigits import nondigits
    from digitnet.data.optdigits import FILES as OPT_FILES
    from digitnet.data.optdigits import load_optdigits
    from digitnet.data.styles import box_scans, continental
    from digitnet.data.usps import FILES as USPS_FILES
    from digitnet.data.usps import load_usps, usps_as_read
    from digitnet.imaging.images import to_mnist

    if not isinstance(mix, Mix):
        raise ConfigError(f"mix must be a Mix, got {type(mix).__name__}")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4])
    base = Split(np.asarray(data.train.images), np.asarray(data.train.labels))
    parts: dict[str, Split] = {"mnist": base}
    checksums = dict(data.checksums)
    if mix.continental:
        parts["continental"] = Split(*continental(base.images, base.labels, rng, mix.continental))
    if mix.optdigits:
        x, y = load_optdigits(extra_folder("optdigits", data_dir, extra_dir), "all")
        read = np.stack([to_mnist(255 - d) for d in x])
        parts["optdigits"] = Split(
            np.concatenate([read] * mix.optdigits), np.concatenate([y] * mix.optdigits)
        )
        checksums.update({name: sha for name, _, sha in OPT_FILES.values()})
    if mix.box_scans:
        digits = _concat(parts.values())
        pick = rng.random(len(digits)) < mix.box_scans
        parts["box_scans"] = Split(box_scans(digits.images[pick], rng), digits.labels[pick])
    if mix.usps:
        x, y = load_usps(extra_folder("usps", data_dir, extra_dir), "train")
        parts["usps"] = Split(usps_as_read(x), y)
        checksums[USPS_FILES["train"][0]] = USPS_FILES["train"][2]
    if mix.nondigits:
        x, _ = nondigits(mix.nondigits, rng, "train")
        parts["nondigits"] = Split(x, np.full(len(x), NONE_OF_THESE, dtype=np.int64))
    train = _concat(parts.values())
    for a in (train.images, train.labels):
        a.flags.writeable = False
    return (
        dataclasses.replace(data, train=train, checksums=checksums),
        {k: len(v) for k, v in parts.items()},
    )


def _concat(splits) -> Split:
    splits = list(splits)
    return Split(
        np.concatenate([s.images for s in splits]),
        np.concatenate([s.labels for s in splits]).astype(np.int64),
    )
