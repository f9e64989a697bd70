"""Nothing half-written: a writer killed with SIGKILL at random moments leaves the previous
file or the new one, whole, never a truncated one (models, checkpoints, ONNX exports)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from cli_helpers import SRC

#: the child writes the same path over and over, alternating two versions of the content
WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from pathlib import Path
    from digitnet.nn import Dense, Flatten, Sequential
    kind, path = sys.argv[1], Path(sys.argv[2])
    models = [Sequential([Flatten(), Dense(1500), Dense(10)], (28, 28, 1),
                         np.random.default_rng(seed)) for seed in (1, 2)]
    if kind == "model":
        from digitnet.modelfile import save_model
        write = lambda m: save_model(path, m)
    elif kind == "onnx":
        from digitnet.interop import write_onnx
        write = lambda m: write_onnx(path, m)
    else:
        from digitnet.training import checkpoint
        from digitnet.nn import make_optimizer
        from digitnet.training.loop import LoopState, TrainConfig
        saver = checkpoint.Checkpointer(path.parent, {})
        def write(m):
            opt = make_optimizer("adam", list(m.named_parameters()), 1e-3)
            saver(m, opt, TrainConfig(), LoopState(rng={}))
    write(models[1])                      # one whole file first: kills land on rewrites
    print("ready", flush=True)
    i = 0
    while True:
        write(models[i % 2])
        i += 1
""")


def first_weights(kind: str, path) -> np.ndarray:
    if kind == "model":
        from digitnet.modelfile import load_model

        return load_model(path).layers[1].params["W"][:3, :3]
    if kind == "onnx":
        import onnx
        from onnx import numpy_helper

        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        return numpy_helper.to_array(proto.graph.initializer[-4])[:3, :3]
    from digitnet.training import checkpoint

    return checkpoint.load(path.parent).model.layers[1].params["W"][:3, :3]


@pytest.mark.parametrize("kind", ["model", "checkpoint", "onnx"])
def test_a_killed_writer_leaves_a_whole_file(tmp_path, kind):
    if kind == "onnx":
        pytest.importorskip("onnx")
    from digitnet.nn import Dense, Flatten, Sequential

    path = tmp_path / ("checkpoint.npz" if kind == "checkpoint" else f"out.{kind}")
    versions = []
    for seed in (1, 2):
        m = Sequential(
            [Flatten(), Dense(1500), Dense(10)], (28, 28, 1), np.random.default_rng(seed)
        )
        versions.append(m.layers[1].params["W"][:3, :3].copy())
    rng = np.random.default_rng(0)
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for _ in range(3 if kind == "onnx" else 5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, kind, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.02, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = first_weights(kind, path)
        assert any(np.array_equal(got, v) for v in versions)
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        for name in leftovers:  # a killed writer's temporary file: never the target
            (tmp_path / name).unlink()
