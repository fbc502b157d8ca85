"""gunicorn settings for the web processes: ``gunicorn -c python:helpdesk.gunicorn_conf wsgi:app``.

With ``PROMETHEUS_MULTIPROC_DIR`` set (docs/operations.md#metrics), every gunicorn worker
writes its metric values to files in that directory and a scrape of any worker adds
them up (prometheus_client's multiprocess mode). The directory is emptied when gunicorn
starts (values of an earlier run must not count), and a worker that exits is marked
dead so that its live gauges stop counting. Without the variable these hooks do nothing.

Every other gunicorn setting comes from the command line or ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import multiprocess


def _multiproc_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def on_starting(server) -> None:
    directory = _multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    if _multiproc_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)
