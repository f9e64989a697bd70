"""Training: the loop (:mod:`~digitnet.training.loop`), the named recipes
(:mod:`~digitnet.training.presets`), whole jobs that record what a model file carries
(:mod:`~digitnet.training.jobs`), resumable runs (:mod:`~digitnet.training.checkpoint`),
teaching a handwriting (:mod:`~digitnet.training.adapt`) and the segment checker's training
(:mod:`~digitnet.training.checker`)."""
