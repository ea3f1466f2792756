"""Several worker processes of one service on one port (``<PREFIX>_WORKERS``, default 1).

One Python process serves HTTP on one interpreter: the event loop, the JSON and HTTP parsing and
(in identity) the hashing threads handing back their results all queue for the same GIL. With
``workers > 1`` the service process becomes a small supervisor (the pre-fork model):

- it migrates once, before forking, so workers never race on migrations;
- it forks ``workers`` processes; each builds its own app (pool, broker, background tasks) and
  binds the same host:port with ``SO_REUSEPORT``, the kernel spreading new connections among them;
  a worker only binds once its app has started, so it never takes a connection it cannot serve;
- SIGTERM or SIGINT to the supervisor is passed on once to every worker, which stops like a single
  process does (stop accepting, finish in-flight requests, close resources); the supervisor exits
  when they all have. Workers sit in their own process group (a terminal's Ctrl-C reaches only the
  supervisor, so each worker gets exactly one signal) and die with the supervisor (Linux
  ``PR_SET_PDEATHSIG``) if it is killed outright;
- a worker that exits on its own stops the others and the supervisor exits non-zero: the
  orchestrator (Kubernetes, compose ``restart:``) restarts the whole service, as it would a
  single process;
- Prometheus metrics are kept per worker in memory-mapped files (prometheus_client's multiprocess
  mode, a private directory removed at exit) and ``GET /metrics`` on any worker answers the sum
  over all workers, so a scrape through the shared port sees the whole service.

What each worker runs that several replicas already ran safely: the outbox relay (rows claimed with
``SKIP LOCKED``) and the queue consumers (deduplicated on the event id); every worker has its own
database pool, so the service's connection budget is ``workers`` times the pool size.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable

from common.logging import bind_context, get_logger

__all__ = ["METRICS_DIR_ENV", "multiprocess_metrics_dir", "run_workers", "worker_share"]

log = get_logger(__name__)

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 5.0


def worker_share(total: int, workers: int) -> int:
    """One worker's part of ``total`` (hashing threads, ...) split over ``workers``: at least 1."""
    return max(1, total // max(1, workers))


def multiprocess_metrics_dir() -> str | None:
    """The directory shared by the workers' metrics, when this process is one of several workers."""
    return os.environ.get(METRICS_DIR_ENV) or None


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):
        pass  # not Linux: a killed supervisor leaves its workers to the orchestrator


def _use_multiprocess_metrics(directory: str) -> None:
    """In a worker, before its app creates any metric: values live in ``directory``'s files."""
    from prometheus_client import values

    os.environ[METRICS_DIR_ENV] = directory
    values.ValueClass = values.MultiProcessValue()


def run_workers(count: int, serve: Callable[[int], int], *, shutdown_timeout: float) -> int:
    """Fork ``count`` workers running ``serve(index)`` (which must bind with ``reuse_port``); supervise them.

    Returns the supervisor's exit code: 0 when every worker stopped after a signal, 1 when one
    exited by itself (the others are then stopped too).
    """
    metrics_dir = tempfile.mkdtemp(prefix="moncompte-metrics-")
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.setpgid(0, 0)
                _die_with_parent()
                _use_multiprocess_metrics(metrics_dir)
                bind_context(worker=index)
                code = serve(index)
            except BaseException:  # a worker must never return into the supervisor's code
                log.exception("worker.crashed", worker=index)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index
    log.info("workers.started", workers=count, pids=sorted(children))

    stopping = {"signal": None}

    def stop(signum, _frame) -> None:
        if stopping["signal"] is None:
            stopping["signal"] = signum
            _signal_all(children, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    failed = False
    deadline = None
    try:
        while children:
            if stopping["signal"] is not None and deadline is None:
                deadline = time.monotonic() + shutdown_timeout + _STOP_GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                log.error("workers.kill_after_timeout", pids=sorted(children))
                _signal_all(children, signal.SIGKILL)
                deadline = float("inf")
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.1)
                continue
            index = children.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if stopping["signal"] is None:
                # Unexpected: stop the rest and let the orchestrator restart the service as a whole.
                log.error("worker.exited", worker=index, pid=pid, code=code)
                failed = True
                stopping["signal"] = signal.SIGTERM
                _signal_all(children, signal.SIGTERM)
            elif code != 0:
                log.warning("worker.stopped_with_error", worker=index, pid=pid, code=code)
                failed = True
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 1 if failed else 0


def _signal_all(children: dict[int, int], signum: int) -> None:
    for pid in children:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
