"""End-to-end jobs that the CLI runs, callable from Python: train a preset (or an ensemble of
it) and record everything a model file should carry."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

from digitnet import __version__
from digitnet.errors import ConfigError
from digitnet.evaluation.evaluate import evaluate
from digitnet.nn import Ensemble, Sequential
from digitnet.training import presets
from digitnet.training.loop import fit

Log = Callable[[dict[str, Any]], None]


def train_preset(
    name: str,
    data: Any,
    *,
    seed: int | None = None,
    ensemble: int = 1,
    log: Log | None = None,
    progress: bool | None = None,
    checkpoint: Any = None,
    resume: Any = None,
    stop: Any = None,
    extra_dir: Any = None,
    **overrides: Any,
) -> Sequential | Ensemble:
    """Train preset ``name`` on ``data`` (a :class:`digitnet.data.MNIST`) and evaluate it on
    the test split.

    With ``ensemble=N`` it trains N networks with seeds ``seed, seed + 1, ...`` and returns
    an :class:`Ensemble` averaging their probabilities. The returned model's ``meta`` holds
    the preset, training settings, history, data checksums and test metrics; save it with
    :func:`digitnet.modelfile.save_model`.

    ``checkpoint`` (a :class:`digitnet.training.checkpoint.Checkpointer`) saves the run as it goes
    (and each finished member of an ensemble); ``resume`` (a
    :class:`digitnet.training.checkpoint.Resumed` of this run) continues it from there: finished
    members are read back, the member in progress continues where it stood. ``stop`` is
    passed to :func:`digitnet.training.loop.fit`.

    A preset with a :class:`~digitnet.training.mix.Mix` trains on more than MNIST's
    training digits: the extra handwriting is read beside ``data.data_dir`` or from
    ``extra_dir`` (:func:`digitnet.training.mix.with_mix`); validation and test stay MNIST's.
    """
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ConfigError(f"ensemble must be a positive number of networks, got {ensemble!r}")
    preset = presets.get(name)
    base_seed = preset.config.seed if seed is None else seed
    start = time.perf_counter()
    mix, mixed = preset.mix, None
    if mix is not None:
        from digitnet.training.mix import with_mix

        data, mixed = with_mix(
            data, mix, seed=base_seed, data_dir=getattr(data, "data_dir", None), extra_dir=extra_dir
        )
    members, member_meta = [], []
    for i in range(ensemble):
        member_log = log if ensemble == 1 or log is None else _tagged(log, i + 1, ensemble)
        done = _finished_member(checkpoint, resume, i, ensemble)
        if done is not None:
            members.append(done)
            member_meta.append(done.meta["member"])
            continue
        model, info = _train_one(
            name,
            data,
            base_seed + i,
            member_log,
            progress,
            overrides,
            score=ensemble > 1,
            checkpoint=checkpoint.for_member(i) if checkpoint else None,
            resume=resume if resume is not None and resume.member == i else None,
            stop=stop,
        )
        members.append(model)
        member_meta.append(info)
        if checkpoint is not None and ensemble > 1:
            from digitnet.modelfile import save_model
            from digitnet.training.checkpoint import member_path

            model.meta = {"member": info}
            save_model(member_path(checkpoint.folder, i), model)
    wall = time.perf_counter() - start
    result: Sequential | Ensemble = members[0] if ensemble == 1 else Ensemble(members)
    test = evaluate(result, data.test.images, data.test.labels)
    meta = _common_meta(name, data, wall)
    if mix is not None:
        meta["data"]["mix"] = {**mix.to_dict(), "examples": mixed}
        if mix.nondigits and len(data.val.labels):
            meta.update(_not_a_digit(result, data))
    meta["test"] = {k: test[k] for k in ("accuracy", "correct", "total", "macro_f1")}
    if ensemble == 1:
        meta.update(member_meta[0])
    else:
        meta["ensemble"] = ensemble
        meta["members"] = member_meta
        meta["train_config"] = member_meta[0]["train_config"]
        meta["history"] = {"train_seconds": sum(m["history"]["train_seconds"] for m in member_meta)}
    result.meta = meta
    return result


def _not_a_digit(model: Sequential | Ensemble, data: Any) -> dict[str, Any]:
    """The "not a digit" threshold of a model trained with non-digits, chosen on the
    validation digits (:func:`digitnet.evaluation.confidence.calibrate_not_a_digit`)."""
    from digitnet.evaluation.confidence import THRESHOLD_KEY, calibrate_not_a_digit
    from digitnet.evaluation.evaluate import predict_proba

    proba = predict_proba(model, data.val.images)
    threshold = calibrate_not_a_digit(proba)
    return {
        THRESHOLD_KEY: threshold,
        "not_a_digit": {
            "chosen_on": "validation",
            "refused": float((proba.max(1) < threshold).mean()),
        },
    }


def combine(models: list[Sequential | Ensemble], data: Any) -> Ensemble:
    """An :class:`Ensemble` of already trained networks (ensembles given are unpacked),
    evaluated on ``data``'s test split. Members keep their own metadata in ``meta["members"]``
    (seed, settings, history, own test accuracy), as after ``train_preset(ensemble=N)``.
    """
    members: list[Sequential] = []
    member_meta: list[dict[str, Any]] = []
    for m in models:
        if isinstance(m, Ensemble):
            members += m.members
            member_meta += m.meta.get("members") or [{} for _ in m.members]
        else:
            members.append(m)
            info: dict[str, Any] = {
                k: m.meta[k] for k in ("seed", "train_config", "history") if k in m.meta
            }
            if "seed" not in info and "train_config" in info:
                info["seed"] = info["train_config"].get("seed")
            info["member_test_accuracy"] = (m.meta.get("test") or {}).get("accuracy")
            member_meta.append(info)
    if len(members) < 2:
        raise ConfigError(f"an ensemble needs at least two networks, got {len(members)}")
    try:
        ensemble = Ensemble(members)
    except ValueError as exc:
        raise ConfigError(f"these models cannot be combined: {exc}") from None
    test = evaluate(ensemble, data.test.images, data.test.labels)
    presets_used = sorted({str(m.meta.get("preset")) for m in models})
    meta = _common_meta(
        presets_used[0] if len(presets_used) == 1 else "+".join(presets_used),
        data,
        sum(float(m.meta.get("wall_seconds") or 0) for m in models),
    )
    meta.update(
        ensemble=len(members),
        members=member_meta,
        test={k: test[k] for k in ("accuracy", "correct", "total", "macro_f1")},
        history={
            "train_seconds": sum(
                float((i.get("history") or {}).get("train_seconds") or 0) for i in member_meta
            )
        },
    )
    if member_meta and "train_config" in member_meta[0]:
        meta["train_config"] = member_meta[0]["train_config"]
    ensemble.meta = meta
    return ensemble


def _tagged(log: Log, member: int, total: int) -> Log:
    def tagged(record: dict[str, Any]) -> None:
        log({"member": member, "members": total, **record})

    return tagged


def _finished_member(checkpoint: Any, resume: Any, i: int, ensemble: int):
    """Member ``i`` of an ensemble run that a resumed run had finished, or None."""
    if checkpoint is None or resume is None or ensemble == 1 or i > resume.member:
        return None
    from digitnet.modelfile import load_model
    from digitnet.training.checkpoint import member_path

    path = member_path(checkpoint.folder, i)
    return load_model(path) if path.is_file() else None


def _train_one(
    name, data, seed, log, progress, overrides, score, checkpoint=None, resume=None, stop=None
) -> tuple[Sequential, dict]:
    if resume is not None:
        model, config = resume.model, resume.config
        state = (resume.state, resume.optimizer)
    else:
        model, config = presets.build(name, seed, **overrides)
        state = None
    history = fit(
        model,
        data.train,
        data.val,
        config,
        log=log,
        progress=progress,
        checkpoint=checkpoint,
        checkpoint_every=getattr(checkpoint, "every", None),
        resume=state,
        stop=stop,
    )
    info: dict[str, Any] = {
        "seed": seed,
        "train_config": config.to_dict(),
        "history": history.to_dict(),
    }
    if score:  # each member's own test accuracy, next to the ensemble's
        info["member_test_accuracy"] = evaluate(model, data.test.images, data.test.labels)[
            "accuracy"
        ]
    return model, info


def _common_meta(name: str, data: Any, wall: float) -> dict[str, Any]:
    return {
        "preset": name,
        "digitnet_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": wall,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.machine(),
        },
        "data": {
            "checksums": dict(data.checksums),
            "train_size": len(data.train.labels),
            "val_size": len(data.val.labels),
            "test_size": len(data.test.labels),
        },
    }
