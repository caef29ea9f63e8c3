"""Reading e-mails off the event loop: a pool of worker processes, so that no message stalls the doors.

Parsing MIME and spreadsheets is CPU work in Python; on the event loop (or a thread, which holds
the GIL) one crafted e-mail would delay every request, SMTP session and probe of the process. In
worker processes it delays nothing but its own intake. The workers come from a fork server that
has imported the readers once (cheap to start, no inherited threads); a read that takes longer
than its timeout gets its worker killed and is answered with a problem.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from concurrent.futures.process import BrokenProcessPool

from ..domain.follow_format import Problem
from .mailbox import MailLimits, ParsedMail, envelope_of, read_mail

log = logging.getLogger(__name__)
_PRELOAD = ["zorg_contracting.adapters.mailbox"]


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


class MailReader:
    """``await reader.read(raw)``: ``read_mail`` in a worker process, within a time limit."""

    def __init__(self, limits: MailLimits, workers: int, timeout_s: float) -> None:
        self.limits = limits
        self.workers = workers
        self.timeout_s = timeout_s
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # A worker is replaced now and then, so that whatever a parser leaks does not pile up.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=_context(), max_tasks_per_child=1000
            )
        return self._pool

    async def read(self, raw: bytes) -> ParsedMail:
        for attempt in (1, 2):
            pool = self._executor()
            future = asyncio.get_running_loop().run_in_executor(pool, read_mail, raw, self.limits)
            try:
                return await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                log.warning("an e-mail took more than %.0f s to read; its worker is stopped", self.timeout_s)
                self._discard(pool)
                return await self._timed_out(raw)
            except BrokenProcessPool:  # another read's worker was stopped (or died): once more, on a new pool
                self._discard(pool)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _timed_out(self, raw: bytes) -> ParsedMail:
        problem = Problem(
            "e-mail", f"het lezen duurde langer dan {self.timeout_s:.0f} seconden; stuur een kleiner bestand"
        )
        return ParsedMail(await asyncio.to_thread(envelope_of, raw), None, [problem])

    def _discard(self, pool: concurrent.futures.ProcessPoolExecutor) -> None:
        """Stop a pool's workers now (a stuck read never finishes by itself)."""
        if self._pool is pool:
            self._pool = None
        # ProcessPoolExecutor has no public way to stop a running task (3.14 adds terminate_workers).
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
