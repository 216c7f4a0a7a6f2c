"""Grading inside a submission's sandbox: the notebook's cells in a kernel, then the graded functions measured.

The functions are called on the inputs the grader sends, and their raw results are sent back.

Self-contained (the standard library, nbformat, nbclient, jupyter_client): the sandbox hides `nst`, so `nst grade`
copies this file and `nst.teaching.harness` in. It talks to the grader (`nst.teaching.sandbox`) in JSON lines
over two pipes whose descriptors it is given (not its standard ones, which bubblewrap's first process keeps too):
one brings the settings, then the requests; the other carries the cells' outcome and each function's results.
It makes itself not dumpable at once (another process of its uid cannot read its memory or its descriptors),
and starts each kernel through `kernel_prefix` (bubblewrap: user and PID namespaces of the kernel's own, so the
kernel cannot even see this process).

Time: one budget for the submission, counted from the moment its first kernel is ready (starting it and
importing TensorFlow have their own limit): the cells may use CELLS_SHARE of it; a cell still running then is
interrupted, and the cells after it share what is left up to GRACE_SHARE (so functions defined later are still
defined); the checks get the rest, each function what remains but a reserve for each function after it (so an
endless loop in one leaves the others their time). A cell or check that kills its
kernel, or does not stop when interrupted, is left out and the rest runs again in a new kernel, at most
`max_kernels` in all, within the same budget.
"""

import base64
import json
import logging
import math
import os
import resource
import stat
import sys
import time

CELLS_SHARE, GRACE_SHARE = 0.5, 0.6  # of the budget: the cells' part; the end of the cells after a cut one
RESERVE_SHARE = 0.05  # of the budget (1 s at least) kept for each function still to check after the current one
NOT_GRADED_TAG = "not-graded"
TIMEOUT_ERROR = {"ename": "nst-grade-time-limit", "evalue": "", "traceback": []}  # nbclient's reply at a time limit
STOP_SECONDS = 10  # how long an interrupted kernel may take to answer again
HARNESS = "nst_grading_harness"


def graded_cells(nb):
    """[(number of the code cell, 1-based, as Jupyter counts them when run in order; its source)] of the code
    cells that run when grading: all but those tagged not-graded."""
    cells = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
        if NOT_GRADED_TAG not in cell.get("metadata", {}).get("tags", []):
            cells.append((number, cell.source))
    return cells


def prelude_source(harness_path):
    """The first cell of every kernel: the harness loaded as a module of its own, TensorFlow imported."""
    return (
        f"import sys as _nst_sys, types as _nst_types\n"
        f"_nst_module = _nst_types.ModuleType({HARNESS!r})\n"
        f"with open({harness_path!r}) as _nst_file:\n"
        f"    exec(compile(_nst_file.read(), {HARNESS!r}, 'exec'), _nst_module.__dict__)\n"
        f"_nst_sys.modules[{HARNESS!r}] = _nst_module\n"
        f"_nst_module.prepare()\n"
        f"del _nst_sys, _nst_types, _nst_module, _nst_file\n"
    )


def harness_source(request, results, name):
    return (
        f"import sys as _nst_sys\n"
        f"_nst_sys.modules[{HARNESS!r}].run((lambda: 0).__globals__, {request!r}, {results!r}, {name!r})\n"
        f"del _nst_sys\n"
    )


def content_size(value, limit):
    """The number of characters in a message's content, counted up to `limit`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        total = 0
        for item in value:
            total += content_size(item, limit - total)
            if total >= limit:
                break
        return total
    return 8


def capped_client_class():
    """NotebookClient keeping at most `output_cap` characters of output per cell (the rest dropped, noted)."""
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        output_cap = 1 << 20

        def output(self, outs, msg, display_id, cell_index):
            kept = getattr(self, "_kept", {})
            self._kept = kept
            size = content_size(msg.get("content", {}), self.output_cap + 1)
            if kept.get(cell_index, 0) + size > self.output_cap:
                self.cut_cells = getattr(self, "cut_cells", set()) | {cell_index}
                return None
            kept[cell_index] = kept.get(cell_index, 0) + size
            return super().output(outs, msg, display_id, cell_index)

    return CappedClient


def kernel_manager(log, message_cap, prefix=()):
    """A kernel manager whose "python3" is always this interpreter's ipykernel, whatever kernel specs are
    installed, started through `prefix` (then interrupted by a message: a signal to the prefix's process would
    end it); its sockets refuse messages over `message_cap` bytes (a kernel printing gigabytes at once)."""
    import zmq
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            spec = get_kernel_dict()
            if prefix:
                spec = {**spec, "argv": [*prefix, *spec["argv"]], "interrupt_mode": "message"}
            return KernelSpec(resource_dir=RESOURCES, **spec)

    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisPython(), log=log)
    km.context.setsockopt(zmq.MAXMSGSIZE, message_cap)
    return km


class Runner:
    """One submission's grading inside its sandbox, as the grader asks for it over `requests` and `protocol`."""

    def __init__(self, settings, protocol, requests):
        import nbformat

        self.settings, self.protocol, self.requests_in = settings, protocol, requests
        self.nb = nbformat.read(settings["notebook"], as_version=4)
        self.cells = graded_cells(self.nb)
        self.outcome = {}  # code cell number -> {kind, what, seconds, left_out}
        self.not_run = []  # code cells the time for the cells ran out before (in the last kernel)
        self.output_cut = set()  # code cells whose output went past the cap
        self.jobs = []  # [(round, name)] still to measure
        self.requests = {}  # round -> request path
        self.rounds = 0
        self.started = None  # when the first kernel was ready: the budget counts from there
        self.paused = 0.0  # time spent waiting for the grader, not counted
        self.cells_reported = False
        self.finished = False
        self.kernels = 0
        self.debug = bool(settings.get("debug"))

    # --- time ---

    def deadline(self, share):
        return self.started + self.paused + share * self.settings["budget"]

    def left(self, share=1.0):
        return self.deadline(share) - time.monotonic()

    # --- talking to the grader ---

    def send(self, message):
        self.protocol.write(json.dumps({**message, "nonce": self.settings["nonce"]}) + "\n")
        self.protocol.flush()

    def receive(self):
        """The grader's next message (lines without its nonce, which the submission could write into this
        process's input, are skipped); the time waiting is not counted against the submission."""
        t = time.monotonic()
        while True:
            line = self.requests_in.readline()
            if not line:
                message = {"done": True}
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("nonce") == self.settings["nonce"]:
                break
        if self.started is not None:
            self.paused += time.monotonic() - t
        return message

    def report(self):
        self.send(
            {
                "outcome": {str(k): v for k, v in self.outcome.items()},
                "not_run": self.not_run,
                "output_cut": sorted(self.output_cut),
                "kernels": self.kernels,
            }
        )

    # --- kernels ---

    def run(self):
        """Kernels until everything was done (or the kernels or the time ran out)."""
        for _ in range(self.settings["max_kernels"]):
            self.kernels += 1
            if self.session():
                break
            if self.started is not None and self.left() <= 0:
                break
        why = "time" if self.started is not None and self.left() <= 0 else "kernels"
        for r, name in self.jobs:
            self.send({"function": name, "round": r, "failed": why})
        self.jobs = []
        self.report()
        while not self.finished:  # the grader may still ask: nothing can be measured any more
            message = self.receive()
            if message.get("done"):
                break
            for name in message.get("names", []):
                self.send({"function": name, "round": message.get("round"), "failed": why})
        self.finish(report=False)

    def finish(self, report=True):
        """The last report, then out at once: the sandbox ends the kernel and everything else with it (a
        kernel's polite shutdown takes seconds)."""
        if report:
            self.report()
        self.protocol.flush()
        os._exit(0)

    def session(self):
        """One kernel: the prelude, the cells not left out, the checks not done. True when done."""
        import nbformat
        from nbclient.exceptions import DeadKernelError

        log = logging.Logger("nst-grade-runner", logging.DEBUG if self.debug else logging.CRITICAL + 1)
        if self.debug:
            log.addHandler(logging.StreamHandler(sys.stderr))
        client = capped_client_class()(
            nbformat.v4.new_notebook(),
            km=kernel_manager(log, self.settings["message_cap"], self.settings.get("kernel_prefix") or ()),
            allow_errors=True,
            interrupt_on_timeout=True,
            error_on_timeout=TIMEOUT_ERROR,
            log=log,
            resources={"metadata": {"path": os.getcwd()}},
        )
        client.output_cap = self.settings["output_cap"]
        self.client = client
        quiet = None if self.debug else open(os.devnull, "wb")
        try:
            with client.setup_kernel(env=dict(os.environ), stdout=quiet, stderr=quiet, cleanup_kc=True):
                first = self.started is None
                limit = self.settings["setup_seconds"] if first else min(self.settings["setup_seconds"], self.left())
                status, error = self.cell(prelude_source(self.settings["harness"]), max(limit, 1))
                if status != "ran" or error:
                    if first:
                        self.send({"setup_failed": (error or status)[:1000]})
                        self.finished = True
                        return True
                    return False  # this kernel is spoiled (a module of the submission's folder?): the next one
                if first:
                    self.started = time.monotonic()
                    self.send({"ready": True})
                if not self.run_cells():
                    return False
                if not self.cells_reported:
                    self.report()
                    self.cells_reported = True
                return self.checks()
        except DeadKernelError:  # what was running is recorded (run_cells, checks): the next kernel leaves it out
            return False
        except Exception as exc:  # noqa: BLE001 (a kernel that misbehaves can break the client in many ways)
            if self.debug:
                raise
            print(f"nst-grade-runner: {type(exc).__name__}: {exc}", file=sys.stderr)
            return False
        finally:
            if quiet is not None:
                quiet.close()

    def cell(self, source, seconds):
        """(status, error line) of one cell run with a time limit: status "ran" (with or without an error),
        "timeout" (interrupted at the limit) or "stuck" (it did not stop when interrupted)."""
        import nbformat

        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        index = len(self.client.nb.cells) - 1
        reply = self.execute(cell, index, seconds)
        self.output_was_cut = index in getattr(self.client, "cut_cells", ())
        if reply is not None and reply.get("ename") == TIMEOUT_ERROR["ename"]:
            probe = nbformat.v4.new_code_cell("pass")  # an interrupted kernel answers again within seconds
            again = self.execute(probe, index, STOP_SECONDS)
            return ("stuck" if again is not None and again.get("ename") == TIMEOUT_ERROR["ename"] else "timeout"), None
        if reply is not None and reply.get("status") == "error":
            return "ran", error_line(reply)
        return "ran", None

    def execute(self, cell, index, seconds):
        replies = []
        self.client.on_cell_executed = lambda execute_reply, **_: replies.append(execute_reply)
        self.client.timeout = max(1, math.ceil(seconds))
        self.client.execute_cell(cell, index)
        return replies[-1].get("content", {}) if replies else None

    def run_cells(self):
        """The cells not left out, within the cells' time; True when the kernel is still usable."""
        from nbclient.exceptions import DeadKernelError

        self.not_run = []
        cut = any(o["kind"] in ("timeout", "stuck") for o in self.outcome.values())  # in a kernel before
        for number, source in self.cells:
            previous = self.outcome.get(number)
            if previous is not None and previous["left_out"]:
                continue
            share = GRACE_SHARE if cut else CELLS_SHARE
            seconds = self.left(share)
            if seconds <= 0.05:
                self.not_run.append(number)
                continue
            t = time.monotonic()
            try:
                status, error = self.cell(source, seconds)
            except DeadKernelError:
                self.outcome[number] = {
                    "kind": "crashed",
                    "what": "stopped the kernel: a crash, or a call that exits Python",
                    "seconds": round(time.monotonic() - t, 1),
                    "left_out": True,
                }
                raise
            took = round(time.monotonic() - t, 1)
            if self.output_was_cut:
                self.output_cut.add(number)
            if status == "stuck":
                self.outcome[number] = {
                    "kind": "stuck",
                    "what": "ran past the time limit and did not stop when interrupted",
                    "seconds": took,
                    "left_out": True,
                }
                return False
            if status == "timeout":
                self.outcome[number] = {
                    "kind": "timeout",
                    "what": "was stopped at the time limit",
                    "seconds": took,
                    "left_out": True,
                }
                cut = True
            elif error:
                self.outcome[number] = {
                    "kind": "error",
                    "what": f"raised {error}"[:1000],
                    "seconds": took,
                    "left_out": False,
                }
            else:
                self.outcome.pop(number, None)
        return True

    def checks(self):
        """Measure the functions asked for, as the grader asks; True when the grader is done."""
        from nbclient.exceptions import DeadKernelError

        while True:
            while self.jobs:
                r, name = self.jobs[0]
                after = sum(1 for job in self.jobs if job[0] == r) - 1
                reserve = max(1.0, RESERVE_SHARE * self.settings["budget"])
                seconds = max(self.left() / (after + 1), self.left() - after * reserve)
                if seconds <= 0.05:
                    return False
                results = os.path.join(self.settings["exchange"], f"results-{r}-{name}.npz")
                try:
                    status, error = self.cell(harness_source(self.requests[r], results, name), seconds)
                except DeadKernelError:
                    self.jobs.pop(0)
                    self.send({"function": name, "round": r, "failed": "died"})
                    raise
                self.jobs.pop(0)
                if status != "ran":
                    self.send(
                        {
                            "function": name,
                            "round": r,
                            "failed": "timeout" if status == "timeout" else "stuck",
                            "seconds": round(seconds, 1),
                        }
                    )
                    if status == "stuck":
                        return False
                    continue
                self.send_results(r, name, results, error)
            message = self.receive()
            if message.get("done"):
                self.finish()
            self.rounds += 1
            r = message.get("round", self.rounds)
            path = os.path.join(self.settings["exchange"], f"request-{r}.npz")
            try:
                with open(path, "wb") as f:
                    f.write(base64.b64decode(message["request"]))
            except OSError as exc:
                for name in message.get("names", []):
                    self.send(
                        {
                            "function": name,
                            "round": r,
                            "failed": "error",
                            "detail": f"the request could not be written ({exc.strerror})",
                        }
                    )
                continue
            self.requests[r] = path
            self.jobs.extend((r, name) for name in message.get("names", []))

    def send_results(self, r, name, path, error):
        try:
            if error:
                raise OSError(error)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # the kernel may have put anything there
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise OSError("its results are not a file")
                if info.st_size > self.settings["results_cap"]:
                    raise OSError(f"its results are {info.st_size} bytes")
                data = f.read(self.settings["results_cap"] + 1)
            os.unlink(path)
        except OSError as exc:
            self.send({"function": name, "round": r, "failed": "error", "detail": str(exc)[:500]})
            return
        self.send({"function": name, "round": r, "results": base64.b64encode(data).decode("ascii")})


def error_line(reply):
    """The last line of the error a cell raised ("NameError: name 'x' is not defined")."""
    import re

    value = " ".join(str(reply.get("evalue", "")).split())
    value = re.sub(r"\([^()]*?\d+\.py, (line \d+)\)", r"(\1)", value)  # IPython's cell file names
    name = str(reply.get("ename", "Error"))
    return f"{name}: {value}" if value else name


def not_dumpable():
    """prctl(PR_SET_DUMPABLE, 0): processes of this uid cannot read this one's memory or descriptors."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass


def main():
    not_dumpable()
    # jsonschema (nbformat's) imports rfc3987_syntax where it is installed (jupyter-events asks for it), which
    # compiles a grammar for a second of CPU at import; nbformat's schema checks no IRI: this process goes without
    sys.modules.setdefault("rfc3987_syntax", None)
    requests = os.fdopen(int(sys.argv[1]), "r", encoding="utf-8")
    protocol = os.fdopen(int(sys.argv[2]), "w", encoding="utf-8")
    settings = json.loads(requests.readline())
    if settings["processes"] and hasattr(resource, "RLIMIT_NPROC"):  # counts this sandbox's own uid or namespace
        resource.setrlimit(resource.RLIMIT_NPROC, (settings["processes"], settings["processes"]))
    runner = Runner(settings, protocol, requests)
    runner.run()


if __name__ == "__main__":
    main()
