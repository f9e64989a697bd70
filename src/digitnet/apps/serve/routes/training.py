"""Watch a network learn: train a small one on a subset of the server's MNIST, follow its
loss, accuracy and first-layer weights as server-sent events, stop it, read with it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from digitnet.apps.serve.jobs import MAX_TRAIN_DIGITS, MAX_TRAIN_EPOCHS, TRAIN_PRESETS
from digitnet.apps.serve.services import ServicesDep

router = APIRouter(tags=["training"])

#: events that end a run
FINAL = ("done", "stopped", "failed")


class TrainRequest(BaseModel):
    preset: str = Field("relu-128-64", description=f"one of {', '.join(TRAIN_PRESETS)}")
    digits: int = Field(
        6000, ge=100, le=MAX_TRAIN_DIGITS, description="MNIST training digits to learn from"
    )
    epochs: int = Field(8, ge=1, le=MAX_TRAIN_EPOCHS)
    seed: int = Field(0, ge=0, le=2**31 - 1)


@router.post(
    "/api/train",
    summary="Start training a small network on a subset of the server's MNIST",
    responses={
        409: {"description": "one is already training on this server: code training_busy"},
        422: {"description": "unknown preset: code bad_preset"},
        503: {"description": "this server has no MNIST files: code no_mnist"},
    },
)
def start(body: TrainRequest, svc: ServicesDep) -> dict[str, Any]:
    run = svc.trainer.start(body.preset, body.digits, body.epochs, body.seed)
    return {"run": run, "presets": list(TRAIN_PRESETS)}


@router.get("/api/train", summary="The server's current (or last) training run")
def status(svc: ServicesDep) -> dict[str, Any]:
    return {**svc.trainer.status(), "presets": list(TRAIN_PRESETS)}


@router.post("/api/train/{run}/stop", summary="Stop a training run after its current batch")
def stop(run: str, svc: ServicesDep) -> dict[str, Any]:
    return {"stopping": svc.trainer.stop(run)}


@router.get(
    "/api/train/{run}/events",
    summary="The run's events as server-sent events (text/event-stream)",
    description="Each event's data is JSON with a `type`: `start`, `step` (progress and the "
    "first layer's weights), `epoch` (train loss, validation loss and accuracy), then `done`, "
    "`stopped` or `failed`. Each event's id is its byte offset: a reconnecting EventSource "
    "resumes where it left off.",
    responses={404: {"description": "no such run: code no_run"}},
)
async def events(run: str, request: Request, svc: ServicesDep) -> StreamingResponse:
    start_at = request.headers.get("last-event-id", "0")
    offset = int(start_at) if start_at.isdigit() else 0
    batch, offset = svc.trainer.read_events(run, offset)  # 404 before streaming starts

    async def stream():
        nonlocal batch, offset
        quiet = time.monotonic()
        while True:
            for event in batch:
                yield f"id: {offset}\ndata: {json.dumps(event)}\n\n"
                quiet = time.monotonic()
                if event["type"] in FINAL:
                    return
            if time.monotonic() - quiet > 5:
                yield ": still training\n\n"
                quiet = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.2)
            batch, offset = svc.trainer.read_events(run, offset)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
