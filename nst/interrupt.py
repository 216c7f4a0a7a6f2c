"""Ctrl-C and SIGTERM during a run: stop cleanly at the next step boundary; after the last step, let it finish."""

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def run_interrupts():
    """The whole run (style_transfer): SIGINT/SIGTERM interrupt at once (KeyboardInterrupt) until a step loop
    enters deferred_interrupts(); from then to the end of the block they only set that loop's flag, so a signal
    that comes after the last step lets the run write its outputs and finish. A second signal interrupts at once.
    Outside the main thread (where Python cannot install handlers) signals behave as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"caught": [], "deferring": False}

    def handler(signum, frame):
        if not state["deferring"] or state["caught"]:
            raise KeyboardInterrupt
        state["caught"].append(signum)

    handler.state = state
    with handlers(handler):
        yield


@contextlib.contextmanager
def deferred_interrupts():
    """Within the block, SIGINT/SIGTERM only set a flag; yields `stop()` -> the signal number caught or None.

    The loop checks stop() between steps, so the image and the Adam state it saves are those of one step.
    A second signal interrupts at once (KeyboardInterrupt). Inside run_interrupts() the flag is the run's and
    stays set after the block, to the run's end. Outside the main thread stop() is always None and signals
    behave as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    run = getattr(signal.getsignal(signal.SIGINT), "state", None)
    if run is not None:
        run["deferring"] = True
        yield lambda: run["caught"][0] if run["caught"] else None
        return
    caught = []

    def handler(signum, frame):
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)

    with handlers(handler):
        yield lambda: caught[0] if caught else None


@contextlib.contextmanager
def handlers(handler):
    """`handler` for SIGINT and SIGTERM within the block, the previous handlers restored after it."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def raise_keyboard_interrupt(signum, frame):
    """A signal handler that turns SIGTERM into KeyboardInterrupt (the CLI installs it)."""
    raise KeyboardInterrupt
