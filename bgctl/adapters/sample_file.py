"""A deployment's request-rate samples: `.bgctl/<project>/deployments/<id>.samples.jsonl`.

One JSON line per sample (core/slot_rates.Sample), appended by the bgctl that
runs the deployment (adapters/rate_recorder.py); `bgctl describe --chart`
reads them. The file lives beside the deployment's history record, so
`bgctl down` removes it and `--keep-history` keeps it.

Bounded: at MAX_SAMPLES lines it is rewritten with every other sample of each
segment (core/slot_rates.thinned), so however long a deployment runs, its file
covers all of it, at a coarser grain.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bgctl.adapters.state_file import write_atomically
from bgctl.core.slot_rates import Sample, thinned

# 4000 lines of 150 to 200 bytes: under a megabyte; 33 minutes at two samples a second.
MAX_SAMPLES = 4000


class SampleFile:
    def __init__(self, path: Path, *, max_samples: int = MAX_SAMPLES) -> None:
        self.path = path
        self.max_samples = max_samples
        self._fd: int | None = None
        self._count = 0

    def load(self) -> list[Sample]:
        """The samples in the file, in order; a line that does not parse is skipped (a bgctl
        killed while writing leaves half a line)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        samples = []
        for line in text.splitlines():
            try:
                samples.append(Sample.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return samples

    def open(self) -> int:
        """Open the file for appending; returns the number of the segment to write (one past the last)."""
        samples = self.load()
        self._count = len(samples)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n"):
            os.write(self._fd, b"\n")  # end the half line a killed bgctl left, so that the next one parses
        return max((s.segment for s in samples), default=0) + 1

    def append(self, sample: Sample) -> bool:
        """Add `sample`; True when the file was thinned to stay within its bound (the caller
        may then sample less often)."""
        assert self._fd is not None, "open() first"
        # One write of a whole line: appends are atomic enough that a reader sees whole lines.
        os.write(self._fd, (json.dumps(sample.to_dict(), separators=(",", ":")) + "\n").encode())
        self._count += 1
        if self._count < self.max_samples:
            return False
        self.close()
        kept = thinned(self.load())
        write_atomically(self.path, "".join(json.dumps(s.to_dict(), separators=(",", ":")) + "\n" for s in kept))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._count = len(kept)
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
