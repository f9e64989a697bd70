"""A person's image -> digits: the photo-reading pipeline.

Data flows one way through these modules::

    imagefile   any image file or array -> grey levels (EXIF orientation, alpha, 16-bit)
    images      grey levels -> ink map (polarity, paper and light removed) -> 28x28 inputs
    components  connected pieces of ink
    segment     pieces -> digits: broken digits joined, touching digits cut
    checker     the second network that says "not one digit"
    recognise   prepared image + networks -> the number, with a confidence per digit
    explain     every step drawn in one PNG
    photos      synthetic photos of MNIST digits, for benchmarks and tests
    pieces      training pieces for the checker

Typical use::

    from digitnet.reading import recognise, to_mnist

    result = recognise("number.jpg")         # the shipped model and checker
    print(result.prediction, result.confidence)
"""

from __future__ import annotations

from digitnet.imaging.images import Prepared, prepare, to_mnist
from digitnet.reading.recognise import DigitResult, Recognition, recognise, recognise_files

__all__ = [
    "DigitResult",
    "Prepared",
    "Recognition",
    "prepare",
    "recognise",
    "recognise_files",
    "to_mnist",
]
