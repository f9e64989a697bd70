"""The ways people use digitnet, each a thin layer over the library: the command line
(:mod:`~digitnet.apps.cli`), the web page and its JSON API (:mod:`~digitnet.apps.serve`),
bulk reading (:mod:`~digitnet.apps.bulk`) and the store of a person's samples
(:mod:`~digitnet.apps.samples`)."""
