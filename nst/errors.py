"""The one error type the program reports to users as a single line (exit code 2)."""


class NstError(Exception):
    """A problem the user can fix: the message is one sentence naming the file and the fix."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run after its state was saved; the message says where (CLI: exit code 130)."""
