"""A browser's samples of its handwriting, and adapting its personal model to them.

Every answer is about the asking browser only (its anonymous cookie): its samples, its
counts, its personal model; never a file path or anyone else's data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from digitnet.apps.serve.errors import ApiError
from digitnet.apps.serve.services import OwnerDep, SamplesDep, ServicesDep
from digitnet.reading.recognise import recognise

router = APIRouter(tags=["samples"])

#: seconds between two events of an adapt job that has nothing new (keeps the page's
#: timeout from firing while it waits in the queue)
HEARTBEAT = 2.0


def summary(svc: Any, who: str) -> dict[str, Any]:
    counts = svc.store.counts(owner=who)
    return {
        "keeping": svc.settings.keep_samples,
        "counts": counts,
        "total": sum(counts),
        "limit": svc.settings.max_samples,
        "personal_model": svc.models.personal_path(who).is_file(),
    }


@router.get("/api/samples", summary="Your kept samples: counts per digit and the list")
def list_samples(svc: ServicesDep, who: OwnerDep) -> dict[str, Any]:
    out = summary(svc, who)
    out["samples"] = svc.store.list(owner=who) if svc.settings.keep_samples else []
    return out


@router.post(
    "/api/samples",
    summary="Keep an image as a labelled sample of your handwriting",
    responses={
        400: {"description": "not an image, or no digit in it: code bad_image"},
        403: {"description": "this server keeps no samples: code samples_off"},
        409: {"description": "you keep the most samples allowed: code sample_limit"},
        422: {"description": "digit not 0-9"},
    },
)
def add_sample(
    image: Annotated[UploadFile, File(description="the drawing (PNG) or a digit's image")],
    digit: Annotated[int, Form(ge=0, le=9, description="what it is")],
    svc: SamplesDep,
    who: OwnerDep,
) -> dict[str, Any]:
    limit = svc.settings.max_samples
    if sum(svc.store.counts(owner=who)) >= limit:
        raise ApiError(
            409, f"you keep {limit} samples, the most allowed: delete some first", "sample_limit"
        )
    data = image.file.read()
    if not data:
        raise ApiError(400, "empty upload: send an image file", "empty_upload")
    base = svc.models.base
    with base.lock:
        read = recognise(data, base.model, checker=False, single=True)  # an image with ink
    if read.prepared is None:
        raise ApiError(400, "no ink in this image: draw the digit first", "no_ink")
    sample = svc.store.add(digit, data, owner=who)
    return {"id": sample, "digit": digit, **summary(svc, who)}


@router.get(
    "/api/samples/{sample_id}.png",
    summary="The image of one of your samples",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "not yours"}},
)
def sample_image(sample_id: int, svc: ServicesDep, who: OwnerDep) -> Response:
    data = svc.store.image(sample_id, owner=who)
    if data is None:
        raise ApiError(404, f"you have no sample {sample_id}", "no_sample")
    kind = next((t for magic, t in IMAGE_TYPES if data.startswith(magic)), None)
    return Response(
        data,
        media_type=kind or "application/octet-stream",
        headers={"Cache-Control": "private", "X-Content-Type-Options": "nosniff"},
    )


#: what a kept sample is, by its first bytes (the page keeps PNGs; the API takes any image)
IMAGE_TYPES = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"RIFF", "image/webp"),
)


@router.delete(
    "/api/samples/{sample_id}",
    summary="Delete one of your samples",
    responses={404: {"description": "no such sample of yours: code no_sample"}},
)
def delete_sample(sample_id: int, svc: ServicesDep, who: OwnerDep) -> dict[str, Any]:
    if not svc.store.delete(sample_id, owner=who):
        raise ApiError(404, f"you have no sample {sample_id}", "no_sample")
    return {"deleted": 1, **summary(svc, who)}


@router.delete(
    "/api/samples", summary="Delete all your samples and the personal model made from them"
)
def delete_all(svc: ServicesDep, who: OwnerDep) -> dict[str, Any]:
    n = svc.store.delete(owner=who)
    with contextlib.suppress(FileNotFoundError):
        svc.models.personal_path(who).unlink()
    return {"deleted": n, **summary(svc, who)}


@router.post(
    "/api/adapt",
    summary="Teach the base model your samples: makes (or remakes) your personal model",
    description="With `Accept: text/event-stream`, server-sent events follow the job: "
    '`{"state": "queued", "position": n}`, `{"state": "running", "done": d, "total": t}`, '
    'then `{"state": "done", "model": {...}}` or `{"state": "failed", "detail", "code"}`. '
    "Otherwise the answer comes when it is done: the personal model's facts.",
    responses={
        400: {"description": "no samples kept yet: code no_samples"},
        403: {"description": "this server keeps no samples: code samples_off"},
        409: {"description": "already adapting for you: code adapt_busy"},
        503: {"description": "no MNIST on the server (no_mnist), or the queue is full"},
    },
)
async def adapt(request: Request, svc: SamplesDep, who: OwnerDep) -> Any:
    if not sum(await asyncio.to_thread(svc.store.counts, who)):
        raise ApiError(
            400,
            'no samples kept yet: draw a digit it misreads and press "Keep" first',
            "no_samples",
        )
    await asyncio.to_thread(svc.mnist.get)  # 503 no_mnist now, not inside the stream
    job = svc.adapt.submit(who)
    if "text/event-stream" not in request.headers.get("accept", ""):
        while job.state in ("queued", "running"):
            await asyncio.sleep(0.1)
        if job.state == "failed":
            raise ApiError(400 if job.error["code"] == "no_samples" else 500, **job.error)
        return job.result

    async def events():
        last, sent = None, 0.0
        while True:
            event = svc.adapt.event(job)
            if event != last or time.monotonic() - sent > HEARTBEAT:
                last, sent = event, time.monotonic()
                yield f"data: {json.dumps(event)}\n\n"
            if event["state"] in ("done", "failed"):
                return
            await asyncio.sleep(0.1)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )
