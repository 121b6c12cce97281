# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""A pull's latest aggregate progress in a small JSON file, for a controller-side poller to read."""

from __future__ import annotations

import json
import os
import tempfile
import time

# Ollama sends a line per few KiB; the poller reads every few seconds, so rewriting more often is waste.
MIN_INTERVAL = 0.5


class ProgressFile:
    """Writes {"completed", "total", "status"} atomically (0600) and removes the file when closed."""

    def __init__(self, path, clock=time.monotonic):
        self.path = path
        self._clock = clock
        self._written = None

    def write(self, progress, force=False):
        if self.path is None:
            return
        now = self._clock()
        if not force and self._written is not None and now - self._written < MIN_INTERVAL:
            return
        self._written = now
        data = {"completed": progress.completed_bytes, "total": progress.total_bytes, "status": progress.last_status}
        directory = os.path.dirname(os.path.abspath(self.path))
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".pull-progress-")
        try:
            # mkstemp already creates the file 0600: progress is nobody else's business.
            with os.fdopen(handle, "w") as stream:
                json.dump(data, stream)
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def close(self):
        if self.path is not None and os.path.exists(self.path):
            os.unlink(self.path)
