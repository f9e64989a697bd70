"""Alternative forms of one computation, each a named function in one registry per kernel.

A layer asks a kernel's ``choose(...)`` which form to run for its shapes; the thresholds
that decide live in :mod:`digitnet.nn.kernels.rules`, one table. Every form is tested
against the registered loop reference through the registry (``FORMS``). A form earns its
place with a measured saving of >= 5% of a preset's epoch (``benchmarks/``).
"""
