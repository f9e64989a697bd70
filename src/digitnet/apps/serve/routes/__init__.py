"""The API's routers, one per concern: the page, reading, the model (facts, ONNX, the look
inside), samples and adapting, training."""
