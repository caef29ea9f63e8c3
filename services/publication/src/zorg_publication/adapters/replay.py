"""Reading whole topics from offset 0 up to their high-water marks at the start (for the rebuild).

No consumer group: the partitions are assigned by hand, so nothing is committed and the service's
own consumers are not disturbed. The end of each partition is its high-water mark as reported by
the first fetch (``consumer.highwater``), not ``end_offsets()``, which the bundled broker gets
wrong (see ../shared/BROKER.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from zorg_common.kafka import admin_for, consumer_for, ensure_topics
from zorg_common.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class ReplayMarks:
    """Where the replay stopped: the high-water mark of every partition when it started."""

    ends: dict[TopicPartition, int] = field(default_factory=dict)
    records: int = 0

    def describe(self) -> str:
        return ", ".join(f"{tp.topic}[{tp.partition}]={end}" for tp, end in sorted(self.ends.items())) or "(none)"


async def partitions_of(settings: ServiceSettings, topics: Sequence[str]) -> list[TopicPartition]:
    await ensure_topics(settings, topics)  # describing a missing topic may create it with other partitions
    admin = admin_for(settings, "rebuild-admin")
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return sorted(TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"])


async def replay(
    settings: ServiceSettings, topics: Sequence[str], marks: ReplayMarks, *, timeout: float = 600.0
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Yield batches of records, per partition in offset order, from 0 to the mark taken at the start."""
    partitions = await partitions_of(settings, topics)
    consumer = consumer_for(settings, None, client_suffix="rebuild")
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = set(partitions)
        deadline = asyncio.get_running_loop().time() + timeout
        while pending:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the replay did not reach the end of {sorted(map(str, pending))} in {timeout:.0f}s")
            batches = await consumer.getmany(*pending, timeout_ms=200, max_records=5000)
            out: list[ConsumerRecord[bytes, bytes]] = []
            for tp in list(pending):
                if tp not in marks.ends:
                    highwater = consumer.highwater(tp)
                    if highwater is None:
                        continue  # not fetched yet
                    marks.ends[tp] = highwater  # the first answer is the end as it was at the start
                end = marks.ends[tp]
                out.extend(r for r in batches.get(tp, ()) if r.offset < end)
                if end == 0 or await consumer.position(tp) >= end:
                    pending.discard(tp)
                    consumer.pause(tp)
            if out:
                marks.records += len(out)
                yield out
    finally:
        await consumer.stop()
