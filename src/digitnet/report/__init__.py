"""Evaluation reports: a folder with ``index.html``, one PNG per figure and ``metrics.json``.

Typical use::

    from digitnet.data import load_mnist
    from digitnet.modelfile import load_model
    from digitnet.report import write_report

    page = write_report(load_model("model.npz"), load_mnist(), "report")

See :func:`write_report` and :class:`ReportConfig`; the figures alone are in
:mod:`digitnet.report.figures`, the robustness transforms in
:mod:`digitnet.report.robustness`.
"""

from __future__ import annotations

from digitnet.report.build import (
    FIGURES,
    Report,
    ReportConfig,
    check_output_folder,
    compute_report,
    write_report,
)

__all__ = [
    "FIGURES",
    "Report",
    "ReportConfig",
    "check_output_folder",
    "compute_report",
    "write_report",
]
