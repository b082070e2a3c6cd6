"""Records that left the gateway's replay window, kept in the lake for resuming clients.

Files are Parquet (zstd) with the columns ``sequence``, ``instrument`` and
``payload`` (the record's JSON as subscribers got it), at
``gateway/epoch=<epoch>/channel=<channel>/<first>-<last>.parquet`` under the lake
root, local or S3. The epoch names one run of the gateway: sequence numbers
start again at 1 when the gateway restarts, so a client's resume point is only
meaningful within its epoch. Records wait in memory until a file's worth
(``file_records``) has left the window, and are readable from memory until
their file is written.
"""

from __future__ import annotations

import asyncio
import io
import logging

import pyarrow as pa
import pyarrow.parquet as pq

from quoteflow.gateway.delivery import Delivery, Wants
from quoteflow.gateway.errors import ResumeGapError
from quoteflow.storage import LakeRoot

__all__ = ["Journal"]

log = logging.getLogger(__name__)

_SCHEMA = pa.schema(
    [("sequence", pa.int64()), ("instrument", pa.string()), ("payload", pa.binary())]
)


class Journal:
    """Per channel, files of the records that left the replay window."""

    def __init__(self, root: LakeRoot, epoch: str, *, file_records: int = 10_000) -> None:
        self.root = root
        self.epoch = epoch
        self.file_records = file_records
        self._pending: dict[str, list[Delivery]] = {}
        self._writing: dict[str, list[Delivery]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _directory(self, channel: str) -> str:
        return self.root.join("gateway", f"epoch={self.epoch}", f"channel={channel}")

    def keep(self, channel: str, deliveries: list[Delivery]) -> None:
        """Take records that left the window; a file's worth is written in the background."""
        pending = self._pending.setdefault(channel, [])
        pending.extend(deliveries)
        if len(pending) >= self.file_records and not self._writing.get(channel):
            self._start_write(channel)

    def _start_write(self, channel: str) -> None:
        self._writing[channel] = self._pending.pop(channel)
        task = asyncio.get_running_loop().create_task(self._write(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, channel: str) -> None:
        deliveries = self._writing[channel]
        try:
            await asyncio.to_thread(self._write_file, channel, deliveries)
        except (OSError, pa.ArrowException) as error:
            log.error("gateway journal: could not write %s records of %s, kept in memory: %s",
                      len(deliveries), channel, error)  # fmt: skip
            self._pending[channel] = [*deliveries, *self._pending.get(channel, [])]
        finally:
            del self._writing[channel]

    def _write_file(self, channel: str, deliveries: list[Delivery]) -> None:
        table = pa.table(
            [
                [d.sequence for d in deliveries],
                [d.instrument for d in deliveries],
                [d.payload for d in deliveries],
            ],
            schema=_SCHEMA,
        )
        out = io.BytesIO()
        pq.write_table(table, out, compression="zstd", write_page_checksum=True)
        name = f"{deliveries[0].sequence:020d}-{deliveries[-1].sequence:020d}.parquet"
        self.root.write_atomic(f"{self._directory(channel)}/{name}", out.getvalue())

    def memory(self, channel: str) -> list[Delivery]:
        """Return the records of ``channel`` not yet in a file, oldest first."""
        return [*self._writing.get(channel, ()), *self._pending.get(channel, ())]

    async def read(self, channel: str, after: int, upto: int, wants: Wants) -> list[Delivery]:
        """Return the wanted records numbered ``after + 1`` to ``upto`` from the files.

        Raises :class:`ResumeGapError` if the files do not hold all of them.
        """
        return await asyncio.to_thread(self._read, channel, after, upto, wants)

    def _read(self, channel: str, after: int, upto: int, wants: Wants) -> list[Delivery]:
        ranges = []
        for info in self.root.files(f"gateway/epoch={self.epoch}/channel={channel}"):
            first, _, last = info.base_name.removesuffix(".parquet").partition("-")
            if first.isdigit() and last.isdigit() and int(last) > after and int(first) <= upto:
                ranges.append((int(first), int(last), info.path))
        ranges.sort()
        expected = after + 1
        found: list[Delivery] = []
        for first, last, path in ranges:
            if first > expected:
                break
            table = pq.read_table(io.BytesIO(self.root.read(path)),
                                  page_checksum_verification=True)  # fmt: skip
            for sequence, instrument, payload in zip(
                table["sequence"].to_pylist(),
                table["instrument"].to_pylist(),
                table["payload"].to_pylist(),
                strict=True,
            ):
                if after < sequence <= upto and wants(channel, instrument):
                    found.append(Delivery(channel, sequence, instrument, payload))
            expected = last + 1
        if expected <= upto:
            oldest = ranges[0][0] if ranges and ranges[0][0] > after + 1 else upto + 1
            raise ResumeGapError.missing(channel, after, oldest)
        return found

    async def close(self) -> None:
        """Write what is still in memory, then wait for every write."""
        for channel in list(self._pending):
            while self._writing.get(channel):
                await asyncio.sleep(0.01)
            if self._pending.get(channel):
                self._start_write(channel)
        if self._tasks:
            await asyncio.gather(*self._tasks)
