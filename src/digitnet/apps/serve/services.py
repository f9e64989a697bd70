"""What the handlers share, made once per app: the settings, the models (the base one, each
browser's personal one, the one trained on the page), the sample store, the jobs; and the
FastAPI dependencies that hand them to the handlers."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request

from digitnet.apps.serve.errors import ApiError
from digitnet.errors import DigitnetError
from digitnet.modelfile import load_model

#: uploads above this many bytes are refused with 413 (``digitnet serve --max-upload-mb``)
MAX_UPLOAD = 10 * 1024 * 1024
#: samples one browser may keep (``--max-samples``)
MAX_SAMPLES = 500
#: adapt jobs waiting at once, every browser's together (``--adapt-queue``)
ADAPT_QUEUE = 8
#: personal models kept in memory (the others are loaded again from their files when asked)
CACHED_MODELS = 8


@dataclass
class Settings:
    """How one server behaves (``digitnet serve``'s options)."""

    model: str | Path | None = None
    checker: Any = True
    max_upload: int = MAX_UPLOAD
    samples: str | Path | None = None
    data_dir: str | Path | None = None
    keep_samples: bool = True
    max_samples: int = MAX_SAMPLES
    adapt_queue: int = ADAPT_QUEUE
    work_dir: str | Path | None = None
    learn: str | Path | None = None  # the built documentation site, served at /learn/


class Loaded:
    """A model and the lock that lets one thread at a time run it (its layers keep
    scratch arrays)."""

    def __init__(self, model: Any, path: Path) -> None:
        self.model, self.path, self.lock = model, path, threading.Lock()

    @property
    def net(self) -> Any:
        """The network to look inside (an ensemble's first member)."""
        return self.model.members[0] if hasattr(self.model, "members") else self.model


class Models:
    """The base model, each owner's personal model (a file per owner beside the sample
    store, loaded again whenever it changes, so every worker reads with the latest) and the
    model trained on the page (one per server)."""

    def __init__(self, base: Loaded, personal_dir: Path, trained_path: Path) -> None:
        self.base, self.personal_dir, self.trained_path = base, personal_dir, trained_path
        self._cache: OrderedDict[Path, tuple[int, Loaded]] = OrderedDict()
        self._lock = threading.Lock()

    def personal_path(self, owner: str) -> Path:
        return self.personal_dir / f"{owner}.npz"

    def get(self, which: str, owner: str) -> Loaded:
        if which == "base":
            return self.base
        path = self.personal_path(owner) if which == "personal" else self.trained_path
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            if which == "personal":
                raise ApiError(
                    404,
                    'no personal model yet: keep a few samples, then press "Adapt"',
                    "no_personal_model",
                ) from None
            raise ApiError(
                404, 'no trained model yet: press "Train" first', "no_trained_model"
            ) from None
        with self._lock:
            hit = self._cache.get(path)
            if hit is None or hit[0] != stamp:
                try:
                    hit = (stamp, Loaded(load_model(path), path))
                except DigitnetError:  # its message names a server path: not for the page
                    raise ApiError(
                        500, f"the {which} model cannot be read: make it again", "model_broken"
                    ) from None
                self._cache[path] = hit
            self._cache.move_to_end(path)
            while len(self._cache) > CACHED_MODELS:
                self._cache.popitem(last=False)
            return hit[1]


class Services:
    """Everything a request may need, built once by :func:`digitnet.apps.serve.create_app`."""

    def __init__(self, settings: Settings) -> None:
        from digitnet.apps.samples import SampleStore
        from digitnet.apps.serve.batching import Batcher
        from digitnet.apps.serve.jobs import AdaptQueue, MnistCache, Trainer

        self.settings = settings
        self.store = SampleStore(settings.samples)
        model_path = settings.model
        if model_path is None:
            from digitnet.models import shipped_model_path

            model_path = shipped_model_path()
        checker = settings.checker
        if checker is True:
            from digitnet.models import load_shipped_checker

            checker = load_shipped_checker()
        self.checker = checker or False
        # made only when something is trained (``digitnet serve`` passes one it removes)
        self.work = Path(
            settings.work_dir
            or Path(tempfile.gettempdir()) / f"digitnet-serve-{os.getpid()}-{id(self):x}"
        )
        self.models = Models(
            Loaded(load_model(model_path), Path(model_path)),
            self.store.path.parent / "personal",
            self.work / "train" / "model.npz",
        )
        self.batcher = Batcher()
        self.mnist = MnistCache(settings.data_dir)
        self.adapt = AdaptQueue(self, settings.adapt_queue)
        self.trainer = Trainer(self.work / "train", self.mnist)


# The dependencies are coroutines: FastAPI runs a plain-function dependency in its thread
# pool, a hop that costs more than the whole forward pass of a 28x28 digit.


async def services(request: Request) -> Services:
    return request.app.state.digitnet


async def owner(request: Request) -> str:
    """The hash of the browser's anonymous id (:class:`~digitnet.apps.serve.middleware.Owner`)."""
    return request.state.owner


Which = Annotated[
    Literal["base", "personal", "trained"],
    Query(
        description="the base model, your personal one (made by /api/adapt), or the one "
        "trained on this server's page (/api/train)"
    ),
]
ServicesDep = Annotated[Services, Depends(services)]
OwnerDep = Annotated[str, Depends(owner)]


async def chosen_model(svc: ServicesDep, who: OwnerDep, model: Which = "base") -> Loaded:
    """The model a request names (``?model=``), for this browser (a personal or trained
    model is checked and maybe loaded from its file in a thread)."""
    if model == "base":
        return svc.models.base
    return await asyncio.to_thread(svc.models.get, model, who)


ModelDep = Annotated[Loaded, Depends(chosen_model)]


async def samples_on(svc: ServicesDep) -> Services:
    """403 on a server started with ``--no-samples``."""
    if not svc.settings.keep_samples:
        raise ApiError(
            403,
            "this server keeps no samples (a public demo: digitnet serve --no-samples)",
            "samples_off",
        )
    return svc


SamplesDep = Annotated[Services, Depends(samples_on)]
