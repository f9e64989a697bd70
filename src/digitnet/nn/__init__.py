"""The digitnet engine: layers, losses, optimizers. NumPy only; nothing else from the package
is imported here."""

from digitnet.nn.conv import AvgPool2D, Conv2D, GlobalAvgPool2D, MaxPool2D
from digitnet.nn.ensemble import Ensemble
from digitnet.nn.layers import (
    ACTIVATIONS,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    sigmoid,
)
from digitnet.nn.losses import log_softmax, mse, softmax, softmax_cross_entropy
from digitnet.nn.module import LAYER_TYPES, Module, Sequential, layer_from_config
from digitnet.nn.norm import BatchNorm
from digitnet.nn.optim import (
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    make_optimizer,
    make_schedule,
)

__all__ = [
    "ACTIVATIONS",
    "AdaGrad",
    "Adam",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Ensemble",
    "Flatten",
    "GlobalAvgPool2D",
    "LAYER_TYPES",
    "LeakyReLU",
    "MaxPool2D",
    "Module",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "ReLU",
    "SGD",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "layer_from_config",
    "log_softmax",
    "make_optimizer",
    "make_schedule",
    "mse",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
]
