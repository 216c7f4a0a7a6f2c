"""Ctrl-C and SIGTERM during a run: stop cleanly at the next step boundary; after the last step, let it finish.

The driver checks an explicit stop (a threading.Event) between steps; the signal handlers set it.
"""

import contextlib
import dataclasses
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclasses.dataclass
class Interrupts:
    """A run's interruption: `stop` is set by the first SIGINT/SIGTERM once `deferring` is on (the steps have
    begun); before that, and at a second signal, the signal interrupts at once (KeyboardInterrupt)."""

    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    deferring: bool = False

    def handler(self, signum, frame):
        if not self.deferring or self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()


@contextlib.contextmanager
def run_interrupts():
    """The whole run (style_transfer): yields its Interrupts, whose handler takes SIGINT and SIGTERM within the
    block (the previous handlers are restored after it). Once the run sets `deferring`, a signal only sets `stop`,
    so the driver ends the run at a step's end, and a signal that comes after the last step lets the run write its
    outputs and finish. Outside the main thread (where Python cannot install handlers) signals behave as usual and
    only the caller sets `stop`."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, interrupts.handler)
    try:
        yield interrupts
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def raise_keyboard_interrupt(signum, frame):
    """A signal handler that turns SIGTERM into KeyboardInterrupt (the CLI installs it)."""
    raise KeyboardInterrupt
