"""Ctrl-C and SIGTERM during the optimisation loop: stop cleanly at the next step boundary."""

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_interrupts():
    """Within the block, SIGINT/SIGTERM only set a flag; yields `stop()` -> the signal number caught or None.

    The loop checks stop() between steps, so the image and the Adam state it saves are those of one step.
    A second signal interrupts at once (KeyboardInterrupt). Outside the main thread (where Python cannot
    install handlers) stop() is always None and signals behave as usual.
    """
    caught = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def handler(signum, frame):
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield lambda: caught[0] if caught else None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def raise_keyboard_interrupt(signum, frame):
    """A signal handler that turns SIGTERM into KeyboardInterrupt (the CLI installs it)."""
    raise KeyboardInterrupt
