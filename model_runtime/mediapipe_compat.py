"""mediapipe 0.10.21 without noise: its bindings on protobuf 6, its native logging kept off the terminal.

The bindings call ``MessageFactory().GetPrototype`` while they load; protobuf 5 removed
that method in favour of ``message_factory.GetMessageClass`` (same result), so every
``import mediapipe`` printed an AttributeError. We pin protobuf 6 because onnx needs
it, and mediapipe's face mesh otherwise works on it (measured). Restoring the one
method as an alias is the smallest adapter; it is installed once, before mediapipe
is first imported (model_runtime/__init__.py), and only where the method is missing.
"""
import contextlib
import logging
import os
import sys
import tempfile
import threading

from google.protobuf import message_factory


def install() -> None:
    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        message_factory.MessageFactory.GetPrototype = (
            lambda self, descriptor: message_factory.GetMessageClass(descriptor))


# What mediapipe's native code prints unasked: TFLite's delegate note, absl's pre-init
# banner, and W/I-level log lines (file:line prefixes). Nothing env-configurable silences
# them (GLOG_minloglevel, TF_CPP_MIN_LOG_LEVEL and ABSL_MIN_LOG_LEVEL were tried).
_NATIVE_NOISE = ("INFO: Created TensorFlow Lite", "WARNING: All log messages before absl::InitializeLog",
                 "W0000 ", "I0000 ")


@contextlib.contextmanager
def quiet_native_stderr():
    """Capture file descriptor 2 while mediapipe's graph starts or runs, so its native log lines
    do not reach the user's terminal (the CLI promises one error line). Everything else written
    to stderr meanwhile (another thread's log line) is written back afterwards; the mediapipe
    lines go to this module's logger at DEBUG level."""
    sys.stderr.flush()
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines(keepends=True):
                if line.startswith(_NATIVE_NOISE):
                    log.debug("mediapipe: %s", line.rstrip())
                else:
                    sys.stderr.write(line)


_STDERR_LOCK = threading.Lock()
log = logging.getLogger(__name__)
