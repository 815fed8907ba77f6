"""Filter the native start-up log lines TensorFlow writes to stderr, keeping everything else live."""

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|I\d{4} [\d:.]+ +\d+ "
    r"|E\d{4} [\d:.]+ +\d+ (cuda_platform|cuda_executor|node_def_util)\.cc"
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)


def _pump(read_fd: int, write_fd: int) -> None:
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not NOISE.match(line.decode("utf-8", "replace")):
                    os.write(write_fd, line + b"\n")
    if pending and not NOISE.match(pending.decode("utf-8", "replace")):
        os.write(write_fd, pending)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def native_log_filter(enabled: bool = True) -> Iterator[None]:
    """Route fd 2 through a filter that drops TensorFlow's INFO start-up lines.

    Python's own sys.stderr keeps writing straight to the terminal (progress bars stay live);
    only what native code writes to fd 2 passes the filter. Disabled when `enabled` is False.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    pump = threading.Thread(target=_pump, args=(read_fd, original), daemon=True)
    pump.start()
    saved_stderr = sys.stderr
    if _writes_to_fd2(saved_stderr):
        sys.stderr = os.fdopen(os.dup(original), "w", buffering=1, encoding="utf-8", errors="replace")
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)
        pump.join(timeout=5)
        if sys.stderr is not saved_stderr:
            sys.stderr.close()
            sys.stderr = saved_stderr
        os.close(original)
