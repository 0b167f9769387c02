"""An independent open-loop client: one new TCP connection per request, sent on a fixed schedule
whatever is outstanding, written with asyncio and nothing of the harness's traffic code. The e2e
tests hold the harness's loss count against it."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ProbeResult:
    sent: list[float] = field(default_factory=list)  # monotonic due times
    failed: list[float] = field(default_factory=list)

    def failed_between(self, start: float, end: float) -> tuple[int, int]:
        sent = sum(1 for m in self.sent if start <= m < end)
        return sum(1 for m in self.failed if start <= m < end), sent


async def _one(host: str, port: int, timeout_s: float) -> bool:
    async def exchange() -> bool:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            body = await reader.read() if length is None else await reader.readexactly(length)
            return 200 <= status < 400 and (length is None or len(body) == length)
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(exchange(), timeout_s)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
        return False


async def _run(host: str, port: int, rate: float, stop: threading.Event, result: ProbeResult,
               timeout_s: float) -> None:
    start = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    k = 0
    while not stop.is_set():
        due = start + k / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        k += 1

        async def probe(at: float = due) -> None:
            ok = await _one(host, port, timeout_s)
            result.sent.append(at)
            if not ok:
                result.failed.append(at)

        task = asyncio.create_task(probe())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)


class Prober:
    """Runs in its own thread with its own event loop between ``start`` and ``stop``."""

    def __init__(self, port: int, rate: float = 50.0, timeout_s: float = 5.0) -> None:
        self.result = ProbeResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(_run("127.0.0.1", port, rate, self._stop, self.result, timeout_s)),
            name="prober", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> ProbeResult:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.result
