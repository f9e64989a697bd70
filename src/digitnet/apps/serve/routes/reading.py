"""Reading: an image file (``/api/read``) or one digit as the network's input
(``/api/read-pixels``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field

from digitnet.apps.serve.errors import ApiError
from digitnet.apps.serve.services import ModelDep, ServicesDep
from digitnet.evaluation.confidence import BLANK, INK_LEVEL, NOT_A_DIGIT, digit_or_not
from digitnet.evaluation.inside import pixels_to_digit
from digitnet.reading.recognise import recognise

router = APIRouter(tags=["reading"])

#: a digit read with less confidence than this is shown as "not sure", with the top two
SURE = 0.8

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no personal (or trained) model yet: code no_personal_model"}
}


class Pixels(BaseModel):
    """One digit as the network's input: 28x28 values (rows) or 784 values, 0 = background,
    in [0, 255] or in [0, 1] (when none is above 1)."""

    pixels: list[float] | list[list[float]] = Field(
        description="28 rows of 28 values, or 784 values; 0-255, or 0-1 when all are <= 1"
    )


@router.post(
    "/api/read",
    summary="Read the digits in an image file (a photo, a drawing)",
    responses={
        **ERRORS,
        400: {"description": "not an image, or no ink in it: code bad_image / empty_upload"},
        413: {"description": "upload too large: code too_large"},
    },
)
def read(
    image: Annotated[UploadFile, File(description="PNG, JPEG, GIF, BMP, TIFF, WebP")],
    loaded: ModelDep,
    svc: ServicesDep,
    style: Literal["auto", "continental", "american"] = Query(
        "auto",
        description="whose handwriting to expect where cultures disagree: continental "
        "(a flagged 1, a closed 4) or american (read as 7, 9); auto: the network's own",
    ),
) -> dict[str, Any]:
    data = image.file.read()
    if not data:
        raise ApiError(400, "empty upload: send an image file", "empty_upload")
    with loaded.lock:
        result = recognise(data, loaded.model, checker=svc.checker, top=10, style=style)
    return reading(result)


@router.post(
    "/api/read-pixels",
    summary="Read one digit given as the network's 28x28 input",
    responses={**ERRORS, 422: {"description": "not 28x28 / 784 finite values in range"}},
)
async def read_pixels(body: Pixels, loaded: ModelDep, svc: ServicesDep) -> dict[str, Any]:
    """The digit (``digit: null`` with a ``reason`` and ``code`` when the input is blank or
    the model says it is not a digit: :func:`digitnet.evaluation.confidence.digit_or_not`)."""
    digit = pixels_to_digit(body.pixels)
    proba = await svc.batcher.proba(loaded, digit)
    fields = digit_fields(proba, digit)
    if digit.max() < INK_LEVEL * 255:
        fields.update(digit=None, sure=False, reason=BLANK, code="blank")
    elif not digit_or_not(proba[None], loaded.model)[0]:
        fields.update(digit=None, sure=False, reason=NOT_A_DIGIT, code="not_a_digit")
    return {"number": None if fields["digit"] is None else str(fields["digit"]), **fields}


def reading(result: Any) -> dict[str, Any]:
    """The JSON answer for a :class:`~digitnet.reading.recognise.Recognition`: the number,
    or None with the library's ``reason`` and a ``code`` (``blank``: no ink;
    ``not_a_digit``: a mark, or some of several, is not a digit); per digit its fields
    (:func:`digit_fields`), ``digit`` None for a mark that is not one, and its box."""
    p = result.prepared
    inputs = p.inputs(result.chosen) if p is not None and result.chosen else []
    width, height = p.loaded.original_size if p is not None else (None, None)
    digits = []
    for d, x in zip(result.digits, inputs, strict=True):
        entry = {**digit_fields(None, x, d), "box": list(d.box)}
        if not d.is_digit:
            entry.update(digit=None, sure=False, reason=NOT_A_DIGIT)
        digits.append(entry)
    code = None
    if result.prediction is None:
        code = "blank" if result.reason == BLANK or not digits else "not_a_digit"
    return {
        "number": result.prediction,
        "reason": result.reason if result.prediction is None else None,
        "code": code,
        "confidence": result.confidence,
        "sure": bool(digits) and all(d["sure"] for d in digits),
        "width": width,
        "height": height,
        "digits": digits,
    }


def digit_fields(proba: np.ndarray | None, x: np.ndarray, d: Any = None) -> dict[str, Any]:
    """One digit's fields: from the full probabilities, or from a DigitResult's top list."""
    if proba is not None:
        order = np.argsort(-proba, kind="stable")
        top = [{"digit": int(k), "confidence": float(proba[k])} for k in order[:3]]
        probabilities = [float(v) for v in proba]
    else:
        top = [{"digit": k, "confidence": c} for k, c in d.top[:3]]
        probabilities = [0.0] * 10
        for k, c in d.top:
            probabilities[k] = c
    return {
        "digit": top[0]["digit"],
        "confidence": top[0]["confidence"],
        "sure": top[0]["confidence"] >= SURE,
        "top": top,
        "probabilities": probabilities,
        "input": np.asarray(x).tolist(),
    }
