"""How the engine runs: threads for element-wise work and reused scratch arrays.

Nothing here changes on import. The CLI configures it: it sets ``OPENBLAS_THREAD_TIMEOUT``
(:data:`BLAS_THREAD_TIMEOUT`) before NumPy loads and passes ``DIGITNET_THREADS`` to
:func:`set_threads`. A library user who wants the same does so before importing NumPy::

    import os; os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")
    import digitnet.nn
"""

from digitnet.nn.runtime.buffers import Buffers, thread_buffers
from digitnet.nn.runtime.parallel import parse_threads, set_threads, split, threads

#: OpenBLAS's idle threads spin for 2**28 cycles (~0.1 s) after each matrix product, holding
#: a core that digitnet's element-wise work could use; 2**18 cycles (~0.1 ms) still bridges
#: the gaps between products. OpenBLAS reads it once, when NumPy is first imported.
BLAS_THREAD_TIMEOUT = "18"

__all__ = [
    "BLAS_THREAD_TIMEOUT",
    "Buffers",
    "parse_threads",
    "set_threads",
    "split",
    "thread_buffers",
    "threads",
]
