"""The model: its facts, its ONNX graph, its first layer's weights, and what each layer
computes for one digit (the page's live look inside)."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Response
from pydantic import Field

from digitnet.apps.serve.errors import ApiError
from digitnet.apps.serve.routes.reading import ERRORS, Pixels
from digitnet.apps.serve.services import ModelDep, Which
from digitnet.evaluation.inside import (
    block_ends,
    block_label,
    describe,
    first_layer_weights,
    layer_activations,
    model_facts,
    pixels_to_digit,
    what_feeds,
)
from digitnet.nn import softmax

router = APIRouter(tags=["model"])

ONNX_MISSING = (
    "the ONNX download needs the onnx package on the server: pip install 'digitnet[onnx]'"
)


def onnx_available() -> bool:
    return importlib.util.find_spec("onnx") is not None


@router.get(
    "/api/model",
    summary="The model: architecture, size, test accuracy, version; can it be downloaded",
    responses=ERRORS,
)
def model_info(loaded: ModelDep, model: Which = "base") -> dict[str, Any]:
    facts = model_facts(loaded.model, loaded.path)
    if model != "base":
        facts["file"] = {"personal": "your personal model", "trained": "trained on this page"}[
            model
        ]
    facts["onnx"] = {
        "available": onnx_available(),
        "reason": None if onnx_available() else (ONNX_MISSING),
    }
    return facts


@router.get(
    "/api/model.onnx",
    summary="The model as an ONNX graph (digitnet export; input: 28x28 uint8 pixels)",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **ERRORS,
        501: {"description": "onnx is not installed on the server: code onnx_missing"},
    },
)
def model_onnx(loaded: ModelDep, model: Which = "base") -> Response:
    if not onnx_available():
        raise ApiError(501, ONNX_MISSING, "onnx_missing")
    from digitnet.interop import to_onnx

    data = to_onnx(loaded.model, input_type="uint8").SerializeToString()
    name = {
        "base": loaded.path.stem,
        "personal": "digitnet-personal",
        "trained": "digitnet-trained",
    }
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name[model]}.onnx"'},
    )


def encode(values: np.ndarray) -> dict[str, Any]:
    """An array as bytes 0-255, 128 for 0 and the largest magnitude (``scale``) at 1 or
    255: value = (byte - 128) / 127 * scale. A map's shape is ``(H, W, C)`` (channels
    last), a vector's ``(D,)``."""
    v = np.asarray(values, dtype=np.float32)
    scale = float(np.abs(v).max()) if v.size else 0.0
    q = (
        np.full(v.shape, 128, np.uint8)
        if scale == 0
        else np.rint(v / scale * 127 + 128).clip(1, 255).astype(np.uint8)
    )
    return {
        "shape": list(v.shape),
        "scale": scale,
        "min": float(v.min()) if v.size else 0.0,
        "max": float(v.max()) if v.size else 0.0,
        "data": base64.b64encode(q.tobytes()).decode(),
    }


@router.get(
    "/api/model/filters",
    summary="The first layer's weights: each filter (or unit) as an image",
    responses=ERRORS,
)
def filters(loaded: ModelDep, limit: int = Query(64, ge=1, le=1024)) -> dict[str, Any]:
    first = first_layer_weights(loaded.net)
    if first is None:
        return {"layer": None, "kind": None, "filters": None}
    return {
        "layer": first.index,
        "name": describe(loaded.net.layers[first.index]),
        "kind": first.kind,
        "count": int(first.weights.shape[0]),
        "filters": encode(np.moveaxis(first.weights[:limit], 0, -1)),  # (h, w, K)
    }


@router.post(
    "/api/inside",
    summary="What each layer computes for one 28x28 input (raw values, for live drawing)",
    responses={**ERRORS, 422: {"description": "not 28x28 / 784 finite values in range"}},
)
async def inside(
    body: Pixels,
    loaded: ModelDep,
    detail: Literal["blocks", "all"] = Query(
        "blocks",
        description="blocks: one picture per block (a Conv2D or Dense with its batch norm and "
        "activation, a pooling layer, the output); all: every layer",
    ),
) -> dict[str, Any]:
    digit = pixels_to_digit(body.pixels)
    net = loaded.net

    def run() -> list:
        with loaded.lock:
            return layer_activations(net, digit)

    acts = await asyncio.to_thread(run)
    shown = block_ends(net, acts) if detail == "blocks" else acts
    layers = []
    for a in shown:
        name = block_label(net, a.index) if detail == "blocks" else a.name
        layers.append({"index": a.index, "name": name, **encode(a.values)})
    logits = acts[-1].values.astype(np.float64)
    return {"layers": layers, "probabilities": softmax(logits[None])[0].tolist()}


class FeedsQuery(Pixels):
    layer: int = Field(description="the index of a layer, as /api/inside gives it")
    unit: int = Field(ge=0, description="a map (channel) or unit of that layer's output")


@router.post(
    "/api/inside/feeds",
    summary="What feeds one map or unit: its weights and each input's contribution",
    responses={**ERRORS, 422: {"description": "bad pixels, or no such layer or unit"}},
)
async def feeds(body: FeedsQuery, loaded: ModelDep) -> dict[str, Any]:
    digit = pixels_to_digit(body.pixels)
    net = loaded.net

    def run():
        with loaded.lock:
            return what_feeds(net, digit, body.layer, body.unit)

    f = await asyncio.to_thread(run)
    return {
        "layer": f.layer,
        "name": describe(net.layers[f.layer]),
        "kind": f.kind,
        "unit": f.unit,
        "source": f.source,
        "source_name": "input" if f.source < 0 else block_label(net, f.source),
        "weights": None if f.weights is None else encode(f.weights),
        "contributions": encode(f.contributions),
        "bias": f.bias,
    }
