"""What the training commands (``train``, ``train-checker``) print as each epoch ends, and
how Ctrl+C stops them."""

from __future__ import annotations

import argparse
import contextlib
import threading
from typing import Any

from digitnet.apps.cli.common import print_json


@contextlib.contextmanager
def stop_on_ctrl_c(enabled: bool):
    """With checkpoints, the first Ctrl+C asks training to stop after the mini-batch in
    progress (it saves a checkpoint first); a second one interrupts at once. Yields the
    ``stop()`` callable for :func:`digitnet.training.loop.fit` (None when not enabled)."""
    import signal

    if not enabled or threading.current_thread() is not threading.main_thread():
        yield None
        return
    asked = []

    def on_sigint(signum, frame):
        if asked:
            raise KeyboardInterrupt
        asked.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, previous)


def printer(args: argparse.Namespace):
    """The epoch callback: a JSON line, the seeds' text line, or nothing (``--quiet``);
    flushed as each epoch ends, so a pipe sees it at once."""

    def emit(record: dict[str, Any]) -> None:
        if args.json:
            print_json({"event": "epoch", **record})
        elif not args.quiet:
            print(format_epoch(record), flush=True)

    return emit


def format_epoch(r: dict[str, Any]) -> str:
    """``Epoch 3/4: 9712 / 10000  train loss 0.0951  val loss 0.0987  val acc 97.12%
    1.3s`` (the seed projects' ``Epoch k: correct / 10000``, with the total epochs)."""
    who = f"[net {r['member']}/{r['members']}] " if "member" in r else ""
    epoch = f"{r['epoch']}/{r['epochs']}" if "epochs" in r else f"{r['epoch']}"
    if "val_correct" not in r:
        return f"{who}Epoch {epoch}: train loss {r['train_loss']:.4f}  {r['seconds']:.1f}s"
    return (
        f"{who}Epoch {epoch}: {r['val_correct']} / {r['val_total']}  "
        f"train loss {r['train_loss']:.4f}  val loss {r['val_loss']:.4f}  "
        f"val acc {r['val_accuracy']:.2%}  {r['seconds']:.1f}s"
    )
