"""What a trained model does on labelled data: probabilities and accuracy
(:mod:`~digitnet.evaluation.evaluate`), per-class metrics (:mod:`~digitnet.evaluation.metrics`),
confidence, "not sure" and "not a digit" (:mod:`~digitnet.evaluation.confidence`), what each
layer computes (:mod:`~digitnet.evaluation.inside`) and what a segment checker says
(:mod:`~digitnet.evaluation.checker`). Needs a model, never draws a figure."""
