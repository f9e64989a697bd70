"""ONNX export: every layer type, both input types, ensembles and the shipped model, checked by
onnx's own checker and run in onnxruntime against digitnet's own predictions."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from digitnet.apps.cli import main  # noqa: E402
from digitnet.errors import ExportError  # noqa: E402
from digitnet.evaluation.evaluate import predict_proba  # noqa: E402
from digitnet.interop import INPUT_RANGES, OPSET, to_onnx  # noqa: E402
from digitnet.modelfile import load_model, save_model  # noqa: E402
from digitnet.models import SHIPPED_MODEL  # noqa: E402
from digitnet.nn import (  # noqa: E402
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Ensemble,
    Flatten,
    GlobalAvgPool2D,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)

#: onnxruntime and digitnet sum in other orders: float32 probabilities agree to this
TOLERANCE = 1e-5


def run(proto, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return tuple(session.run(["probabilities", "label"], {"pixels": x}))


def randomised(model: Sequential, seed: int) -> Sequential:
    """Non-trivial BatchNorm statistics and biases, so that a wrong layout or a dropped
    parameter shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name, value in getattr(layer, "params", {}).items():
            if name in ("b", "beta", "gamma"):
                value[...] = rng.normal(1.0 if name == "gamma" else 0.0, 0.3, value.shape)
        for name, value in getattr(layer, "buffers", {}).items():
            value[...] = (
                rng.uniform(0.5, 2.0, value.shape)
                if name == "running_var"
                else rng.normal(0, 0.3, value.shape)
            )
    return model


ARCHITECTURES = {
    "lenet-like": lambda: [
        Conv2D(6, 5, padding="same", bias=True),
        BatchNorm(),
        ReLU(),
        MaxPool2D(2),
        Conv2D(8, 3, stride=2),
        Tanh(),
        AvgPool2D(2),
        Flatten(),
        Dense(20, bias=True),
        BatchNorm(),
        LeakyReLU(0.1),
        Dropout(0.3),
        Dense(10, bias=True),
    ],
    "global-pool": lambda: [Conv2D(4, 3, padding=1), ReLU(), GlobalAvgPool2D(), Dense(10)],
    "mlp-sigmoid": lambda: [
        Flatten(),
        Dense(16, bias=True),
        Sigmoid(),
        Dense(10, bias=True),
        Sigmoid(),
    ],
    "mlp-softmax": lambda: [
        Flatten(),
        Dense(16, bias=True),
        ReLU(),
        Dense(10, bias=True),
        Softmax(),
    ],
}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(37, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("input_type", ["float", "uint8"])
def test_every_layer_type_matches_digitnet(arch, input_type, images):
    model = randomised(Sequential(ARCHITECTURES[arch](), (28, 28, 1), np.random.default_rng(1)), 2)
    proto = to_onnx(model, input_type=input_type)
    x = images if input_type == "uint8" else images.astype(np.float32) / np.float32(255)
    proba, label = run(proto, x)
    expected = predict_proba(model, images)
    assert proba.shape == (len(images), 10) and label.dtype == np.int64
    np.testing.assert_allclose(proba, expected, atol=TOLERANCE)
    assert np.array_equal(label, proba.argmax(axis=1))


def test_the_graph_is_checked_and_described(images):
    model = Sequential(ARCHITECTURES["mlp-softmax"](), (28, 28, 1), np.random.default_rng(0))
    model.meta = {"preset": "tiny", "test": {"accuracy": 0.5}}
    proto = to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == OPSET
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["preset"] == "tiny" and meta["test_accuracy"] == "0.5"
    assert "digitnet_version" in meta
    assert meta["input_type"] == "uint8" and meta["input_range"] == INPUT_RANGES["uint8"]
    (inp,), outs = proto.graph.input, proto.graph.output
    assert inp.name == "pixels" and [o.name for o in outs] == ["probabilities", "label"]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8  # the default
    assert inp.doc_string == INPUT_RANGES["uint8"]
    assert inp.type.tensor_type.shape.dim[0].dim_param == "N"  # a dynamic batch
    for n in (1, 5):
        assert run(proto, np.zeros((n, 28, 28), np.uint8))[0].shape == (n, 10)


def test_an_ensemble_averages_its_members(images):
    members = [
        randomised(
            Sequential(ARCHITECTURES["lenet-like"](), (28, 28, 1), np.random.default_rng(s)), s
        )
        for s in (3, 4)
    ]
    ensemble = Ensemble(members)
    proba, _ = run(to_onnx(ensemble, input_type="uint8"), images)
    np.testing.assert_allclose(proba, predict_proba(ensemble, images), atol=TOLERANCE)


def test_the_shipped_model_reads_the_same(images):
    model = load_model(SHIPPED_MODEL)
    proba, label = run(to_onnx(model, input_type="uint8"), images)
    expected = predict_proba(model, images)
    np.testing.assert_allclose(proba, expected, atol=TOLERANCE)
    assert np.array_equal(label, expected.argmax(axis=1))


def test_unknown_layers_and_input_types_are_refused():
    class Odd(ReLU):
        pass

    model = Sequential([Flatten(), Dense(10), Odd()], (28, 28, 1), np.random.default_rng(0))
    with pytest.raises(ExportError, match="layer 2 \\(Odd\\) has no ONNX form"):
        to_onnx(model)
    with pytest.raises(ExportError, match="input type"):
        to_onnx(
            Sequential([Flatten(), Dense(10)], (28, 28, 1), np.random.default_rng(0)),
            input_type="int16",
        )


def test_the_export_command(tmp_path, capsys, images):
    model = randomised(
        Sequential(ARCHITECTURES["lenet-like"](), (28, 28, 1), np.random.default_rng(5)), 6
    )
    save_model(tmp_path / "m.npz", model)
    out = tmp_path / "m.onnx"
    assert (
        main(["export", str(tmp_path / "m.npz"), "--onnx", str(out), "--input-type", "uint8"]) == 0
    )
    assert str(out) in capsys.readouterr().out
    proba, _ = run(onnx.load(str(out)), images)
    np.testing.assert_allclose(proba, predict_proba(model, images), atol=TOLERANCE)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def session_of(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_the_default_export_takes_uint8_like_the_page_and_refuses_another_range(
    tmp_path, capsys, images
):
    """`digitnet export` with no --input-type writes what the web page's download writes
    (uint8 0-255); onnxruntime shows the input type and the metadata says it; an array of
    floats (0-255 or 0-1) is refused with an error instead of being read wrongly."""
    model = randomised(
        Sequential(ARCHITECTURES["lenet-like"](), (28, 28, 1), np.random.default_rng(7)), 8
    )
    save_model(tmp_path / "m.npz", model)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "m.npz"), "--onnx", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"Saved {out} (ONNX opset {OPSET}; metadata input_type=uint8)"
    assert printed[1] == "  input  'pixels' (N, 28, 28) " + INPUT_RANGES["uint8"]
    session = session_of(out)
    (inp,) = session.get_inputs()
    assert inp.name == "pixels" and inp.type == "tensor(uint8)"
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["input_type"] == "uint8" and meta["input_range"] == INPUT_RANGES["uint8"]
    proba = session.run(["probabilities"], {"pixels": images})[0]
    np.testing.assert_allclose(proba, predict_proba(model, images), atol=TOLERANCE)
    for wrong in (images.astype(np.float32), images.astype(np.float32) / 255):
        with pytest.raises(
            ort.capi.onnxruntime_pybind11_state.InvalidArgument,
            match="tensor\\(float\\).*expected.*tensor\\(uint8\\)",
        ):
            session.run(["probabilities"], {"pixels": wrong})


def test_a_float_export_says_its_range_where_a_reader_looks(tmp_path, capsys, images):
    """--input-type float: 0-1 floats read as digitnet reads the images; the metadata, the
    input's description and the printed line say so, because 0-255 floats are not refused
    and are read differently (the silent mistake the default avoids)."""
    model = load_model(SHIPPED_MODEL)
    out = tmp_path / "f.onnx"
    assert main(["export", "--onnx", str(out), "--input-type", "float"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("metadata input_type=float)")
    assert (
        "float32 0.0-1.0 (pixels / 255)" in printed[1] and "0-255 values read wrongly" in printed[1]
    )
    session = session_of(out)
    assert session.get_inputs()[0].type == "tensor(float)"
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["input_type"] == "float" and meta["input_range"] == INPUT_RANGES["float"]
    right = session.run(["label"], {"pixels": images.astype(np.float32) / np.float32(255)})[0]
    wrong = session.run(["label"], {"pixels": images.astype(np.float32)})[0]
    assert np.array_equal(right, predict_proba(model, images).argmax(axis=1))
    assert not np.array_equal(wrong, right)  # no error, other answers: hence the metadata


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.npz", "--onnx", "x.onnx"], "missing.npz"),
        (["m.npz", "--onnx", "no/such/folder/x.onnx"], "folder"),
    ],
)
def test_the_export_command_refuses_bad_paths(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    save_model(
        tmp_path / "m.npz",
        Sequential([Flatten(), Dense(10)], (28, 28, 1), np.random.default_rng(0)),
    )
    assert main(["export"] + args) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
