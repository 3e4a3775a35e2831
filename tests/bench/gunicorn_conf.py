"""gunicorn settings for `make bench`: a marker file per worker once the app is loaded, so
the benchmark reads each worker's memory before its first request without guessing how long
booting takes."""

import os
from pathlib import Path


def post_worker_init(worker) -> None:
    """The app is imported and built in this worker: say so."""
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        Path(ready, str(worker.pid)).touch()
