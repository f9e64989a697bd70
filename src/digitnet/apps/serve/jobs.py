"""The page's long jobs: adapting a browser's personal model (a queue, one job per browser
at a time) and training a small network to watch it learn (one per server at a time).

Both run in background threads and report through events (plain dicts) that the routes
send as server-sent events. Adapt jobs live in the worker process that took them (their
events go back on the same connection); a training writes its events to a file in the
server's work folder, which every worker process shares, so the page can follow, stop and
use it whichever worker answers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.apps.serve.errors import ApiError
from digitnet.errors import DataError, DigitnetError, one_line

log = logging.getLogger("digitnet.serve")

#: presets the Train panel offers: small enough to train in seconds to a minute here
TRAIN_PRESETS = ("relu-128-64", "relu-10", "lenet5")
#: at most this many training digits (a subset of MNIST's 50,000)
MAX_TRAIN_DIGITS = 20_000
MAX_TRAIN_EPOCHS = 30
#: digits of MNIST's validation and test splits measured during and after training
VAL_DIGITS = 1000
TEST_DIGITS = 2000
#: seconds between two "step" events (progress and the first layer's weights)
STEP_EVERY = 0.4


class MnistCache:
    """MNIST loaded once per process, never downloaded by the server."""

    def __init__(self, data_dir: str | os.PathLike | None) -> None:
        self.data_dir, self._data, self._lock = data_dir, None, threading.Lock()

    def get(self) -> Any:
        from digitnet.data import load_mnist

        with self._lock:
            if self._data is None:
                try:
                    self._data = load_mnist(self.data_dir, download=False)
                except DataError as exc:
                    log.warning("no MNIST for adapting and training: %s", one_line(exc))
                    raise ApiError(  # the folder is the server's business, not in the answer
                        503,
                        "this server has no MNIST files, so it cannot train or adapt",
                        "no_mnist",
                    ) from None
            return self._data


def _try_lock(path: Path) -> Any | None:
    """An exclusive lock on ``path`` shared by every worker process, or None when held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a")  # noqa: SIM115 - held until the job ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


# -- adapting ---------------------------------------------------------------------------


@dataclass
class AdaptJob:
    owner: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int = 0
    result: dict | None = None
    error: dict | None = None
    lock: Any = None


class AdaptQueue:
    """Adapt jobs run one at a time, in order; each waiting job knows its position."""

    def __init__(self, services: Any, limit: int) -> None:
        self.svc, self.limit = services, limit
        self.waiting: deque[AdaptJob] = deque()
        self.running: AdaptJob | None = None
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, owner: str) -> AdaptJob:
        """Queue an adapt of ``owner``'s samples (409 when one is already queued or running
        for them, 503 when the queue is full)."""
        lock = _try_lock(self.svc.models.personal_dir / f"{owner}.lock")
        if lock is None:
            raise ApiError(
                409, "already adapting to your samples: wait for it to finish", "adapt_busy"
            )
        with self._cv:
            if len(self.waiting) >= self.limit:
                lock.close()
                raise ApiError(
                    503,
                    f"{len(self.waiting)} people are waiting to adapt: try again in a minute",
                    "queue_full",
                )
            job = AdaptJob(owner, lock=lock)
            self.waiting.append(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, daemon=True, name="adapt")
                self._thread.start()
            self._cv.notify_all()
        return job

    def position(self, job: AdaptJob) -> int:
        """1 for the next to run, 2 behind it, ...; 0 once running or over."""
        with self._cv:
            try:
                return self.waiting.index(job) + 1
            except ValueError:
                return 0

    def event(self, job: AdaptJob) -> dict[str, Any]:
        out: dict[str, Any] = {"state": job.state, "job": job.id}
        if job.state == "queued":
            out["position"] = self.position(job)
        elif job.state == "running":
            out.update(done=job.done, total=job.total)
        elif job.state == "done":
            out["model"] = job.result
        else:
            out.update(job.error or {})
        return out

    def _work(self) -> None:
        while True:
            with self._cv:
                if not self.waiting:
                    self._thread = None
                    return
                job = self.running = self.waiting.popleft()
                job.state = "running"
            try:
                job.result = self._adapt(job)
                job.state = "done"
            except ApiError as exc:
                job.error, job.state = {"detail": exc.detail, "code": exc.code}, "failed"
            except DigitnetError as exc:
                job.error, job.state = {"detail": one_line(exc), "code": exc.code}, "failed"
            except Exception as exc:  # a bug: say so on the page, keep the server going
                job.error = {"detail": f"adapting failed: {one_line(exc)}", "code": "internal"}
                job.state = "failed"
            finally:
                job.lock.close()
                with self._cv:
                    self.running = None

    def _adapt(self, job: AdaptJob) -> dict[str, Any]:
        from digitnet.evaluation.inside import model_facts
        from digitnet.modelfile import save_model
        from digitnet.training.adapt import personalise

        svc = self.svc
        images, labels, digest = svc.store.load(owner=job.owner)
        if not len(labels):
            raise ApiError(400, "no samples kept yet", "no_samples")
        data = svc.mnist.get()

        def progress(done: int, total: int) -> None:
            job.done, job.total = int(done), int(total)

        base = svc.models.base
        tuned = personalise(
            base.model,
            base.path,
            images,
            labels,
            data,
            source="samples kept on the page",
            digest=digest,
            progress=progress,
        )
        path = svc.models.personal_path(job.owner)
        save_model(path, tuned)
        facts = model_facts(tuned, path)
        facts["file"] = "your personal model"
        facts["samples"] = np.bincount(labels, minlength=10).tolist()
        return facts


# -- training ---------------------------------------------------------------------------


class Trainer:
    """One training per server, its events in ``folder/events-<run>.jsonl``."""

    def __init__(self, folder: Path, mnist: MnistCache) -> None:
        self.folder, self.mnist = folder, mnist

    def _current(self) -> str | None:
        try:
            return (self.folder / "current").read_text().strip() or None
        except OSError:
            return None

    def events_file(self, run: str) -> Path:
        return self.folder / f"events-{run}.jsonl"

    def start(self, preset: str, digits: int, epochs: int, seed: int = 0) -> str:
        if preset not in TRAIN_PRESETS:
            raise ApiError(422, f"preset must be one of {', '.join(TRAIN_PRESETS)}", "bad_preset")
        data = self.mnist.get()
        lock = _try_lock(self.folder / "lock")
        if lock is None:
            raise ApiError(
                409,
                "a network is already training on this server: watch it, or wait",
                "training_busy",
                run=self._current(),
            )
        run = uuid.uuid4().hex[:12]
        self.events_file(run).write_text("")
        (self.folder / "current").write_text(run)
        thread = threading.Thread(
            target=self._train, args=(run, lock, data, preset, digits, epochs, seed), daemon=True
        )
        thread.start()
        return run

    def stop(self, run: str) -> bool:
        if run != self._current() or not self.events_file(run).exists():
            return False
        (self.folder / f"stop-{run}").touch()
        return True

    def status(self) -> dict[str, Any]:
        run = self._current()
        if run is None:
            return {"run": None, "running": False}
        lock = _try_lock(self.folder / "lock")
        running = lock is None
        if lock is not None:
            lock.close()
        return {"run": run, "running": running, "model": (self.folder / "model.npz").exists()}

    def read_events(self, run: str, offset: int) -> tuple[list[dict], int]:
        """Events of ``run`` from byte ``offset`` on (whole lines only), and the new offset."""
        try:
            with open(self.events_file(run), "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except OSError:
            raise ApiError(404, "no such training run", "no_run") from None
        end = chunk.rfind(b"\n") + 1
        lines = chunk[:end].splitlines()
        return [json.loads(line) for line in lines if line.strip()], offset + end

    def _train(self, run, lock, data, preset, digits, epochs, seed) -> None:
        from digitnet.evaluation.evaluate import evaluate
        from digitnet.modelfile import save_model
        from digitnet.training import presets
        from digitnet.training.loop import Interrupted, fit

        events = open(self.events_file(run), "a")  # noqa: SIM115
        stop_flag = self.folder / f"stop-{run}"

        def emit(kind: str, **fields: Any) -> None:
            events.write(json.dumps({"type": kind, **fields}) + "\n")
            events.flush()

        try:
            model, config = presets.build(preset, seed=seed, epochs=epochs, patience=None)
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(data.train.labels), size=digits, replace=False))
            train = _Split(data.train.images[pick], data.train.labels[pick])
            val = _Split(data.val.images[:VAL_DIGITS], data.val.labels[:VAL_DIGITS])
            steps = epochs * -(-digits // config.batch_size)
            emit(
                "start",
                preset=preset,
                digits=digits,
                epochs=epochs,
                steps=steps,
                parameters=int(model.num_parameters()),
                filters=filters(model),
            )
            clock = {"step": 0, "last": 0.0}

            def on_step() -> bool:
                clock["step"] += 1
                now = time.monotonic()
                if now - clock["last"] > STEP_EVERY:
                    clock["last"] = now
                    emit("step", step=clock["step"], steps=steps, filters=filters(model))
                return stop_flag.exists()

            def on_epoch(record: dict) -> None:
                clock["step"] = record["epoch"] * -(-digits // config.batch_size)
                emit(
                    "epoch",
                    step=clock["step"],
                    steps=steps,
                    filters=filters(model),
                    **{k: v for k, v in record.items() if isinstance(v, int | float)},
                )

            stopped = False
            try:
                fit(model, train, val, config, log=on_epoch, stop=on_step, progress=False)
            except Interrupted:
                stopped = True
            test = evaluate(model, data.test.images[:TEST_DIGITS], data.test.labels[:TEST_DIGITS])
            model.meta = {
                "preset": preset,
                "trained_on_page": {"digits": digits, "epochs": epochs},
                "test": {"accuracy": test["accuracy"], "total": TEST_DIGITS},
            }
            save_model(self.folder / "model.npz", model)
            emit(
                "stopped" if stopped else "done",
                test_accuracy=test["accuracy"],
                filters=filters(model),
            )
        except DigitnetError as exc:
            emit("failed", detail=one_line(exc), code=exc.code)
        except Exception as exc:  # a bug: tell the page, keep the server
            emit("failed", detail=f"training failed: {one_line(exc)}", code="internal")
        finally:
            events.close()
            with contextlib.suppress(OSError):
                stop_flag.unlink()
            lock.close()


class _Split:
    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels


#: the first layer's units or filters sent while training (a dense layer has 128)
MAX_FILTERS = 32


def filters(model: Any) -> dict[str, Any] | None:
    """The first layer's weights, ``(K, h, w)``, as bytes 0-255 around 128 = 0, scaled by the
    largest magnitude (``scale``): what the page draws while it learns."""
    import base64

    from digitnet.evaluation.inside import first_layer_weights

    first = first_layer_weights(model)
    if first is None:
        return None
    w = first.weights[:MAX_FILTERS]
    scale = float(np.abs(w).max()) or 1.0
    q = np.rint(w / scale * 127 + 128).clip(0, 255).astype(np.uint8)
    return {
        "kind": first.kind,
        "shape": list(w.shape),
        "scale": scale,
        "data": base64.b64encode(q.tobytes()).decode(),
    }
