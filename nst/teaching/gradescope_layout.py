"""Gradescope's container, as far as it can be had here: for the autograder's tests and the Gradescope benchmark.

`/autograder/{source,submission,results}` in a bubblewrap sandbox run as root without a user namespace (as Gradescope runs the autograder: root in a container), with
Docker's default seccomp rule against new namespaces, so bubblewrap cannot run inside it, no network, and a
PID namespace that ends every process of the container with it. Used by tests/teaching/test_gradescope.py and
`python -m benchmarks gradescope` (docs/teaching.md)."""

import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from nst.files import atomic_path

# Docker's default seccomp profile, the part that matters here: unshare, setns and clone with a CLONE_NEW* flag
# fail with EPERM (a container without CAP_SYS_ADMIN), clone3 with ENOSYS (so the C library falls back to clone).
SYSCALLS_X86_64 = {"clone": 56, "unshare": 272, "setns": 308, "clone3": 435}
CLONE_NEW = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
EPERM, ENOSYS = 1, 38


def seccomp_program():
    """The classic-BPF program (bubblewrap's --seccomp) of the rule above, for x86-64."""
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, error = 0x7FFF0000, 0x00050000
    nr = SYSCALLS_X86_64
    program = [
        (ld, 0, 0, 4),  # 0: arch
        (jeq, 0, 7, 0xC000003E),  # 1: x86-64, else allow
        (ld, 0, 0, 0),  # 2: syscall number
        (jeq, 6, 0, nr["unshare"]),  # 3: -> 10 EPERM
        (jeq, 5, 0, nr["setns"]),  # 4: -> 10 EPERM
        (jeq, 5, 0, nr["clone3"]),  # 5: -> 11 ENOSYS
        (jeq, 0, 2, nr["clone"]),  # 6: clone -> 7, else -> 9 allow
        (ld, 0, 0, 16),  # 7: clone's flags (low 32 bits of args[0])
        (jset, 1, 0, CLONE_NEW),  # 8: a new namespace -> 10 EPERM
        (ret, 0, 0, allow),  # 9
        (ret, 0, 0, error | EPERM),  # 10
        (ret, 0, 0, error | ENOSYS),  # 11
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def usable():
    """None when the layout can be made here, else why not."""
    if platform.machine() != "x86_64":
        return "the seccomp rule is written for x86-64"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed"
    if os.geteuid() != 0:
        return "Gradescope runs the autograder as root: this layout needs root"
    return None


def lay_out(folder, zip_path):
    """`folder`/autograder as Gradescope lays it out: source/ (the zip's contents), run_autograder copied beside
    it, submission/ and results/ empty. Returns the autograder folder."""
    autograder = Path(folder) / "autograder"
    source = autograder / "source"
    source.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            z.extract(info, source)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(source / info.filename, mode & 0o777)
    shutil.copy2(source / "run_autograder", autograder / "run_autograder")
    (autograder / "submission").mkdir()
    (autograder / "results").mkdir()
    for path in (autograder, *autograder.rglob("*")):  # as in an image: root's, readable by all (mktemp's are not)
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    return autograder


def container(autograder, command, timeout=900, env=None, preexec=None):
    """Run `command` (a shell command line) as root in the Gradescope-shaped sandbox with `autograder` as
    /autograder; returns the CompletedProcess. The image's python3 is this environment's base interpreter.
    `preexec`: run in the child before bubblewrap starts (benchmarks/gradescope.py puts it in a cgroup)."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    shown = {Path(sys.base_prefix), Path(sys.prefix), *map(Path, __import__("site").getsitepackages())}
    args = [
        "bwrap",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
        "--ro-bind",
        "/sys",
        "/sys",
    ]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/root", "--dir", "/var/tmp"]
    made = set()
    for folder in sorted(shown):
        if folder.is_dir() and not str(folder).startswith("/usr/"):
            for parent in reversed(folder.parents[:-1]):  # readable by all, as an image's folders are
                if parent not in made and str(parent) not in ("/root", "/tmp"):
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            args += ["--ro-bind", str(folder), str(folder)]
    args += ["--bind", str(autograder), "/autograder", "--chdir", "/autograder"]
    path = f"{base.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    environment = {"PATH": path, "HOME": "/root", "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with tempfile.TemporaryFile() as rules:
        rules.write(seccomp_program())
        rules.seek(0)
        args += ["--seccomp", str(rules.fileno()), "/bin/bash", "-c", command]
        return subprocess.run(
            args,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            pass_fds=(rules.fileno(),),
            preexec_fn=preexec,
        )


def image(autograder):
    """Gradescope's image build, here: setup.sh run in the container. Its packages come from this environment
    instead of the package index (none is reached): a virtual environment made beforehand at
    /autograder/nst-venv sees this one's site-packages (a .pth file), and pip is told to use no index, so
    setup.sh installs the zip's wheel and finds every dependency installed."""
    site = " ".join(__import__("site").getsitepackages())
    prepare = (  # without pip: setup.sh's own `python3 -m venv` puts it in
        f"python3 -m venv --without-pip /autograder/nst-venv && "
        f"printf '%s\\n' {site} > $(echo /autograder/nst-venv/lib/python3*/site-packages)/image.pth"
    )
    done = container(autograder, prepare)
    assert done.returncode == 0, done.stderr
    return container(
        autograder,
        "cd /autograder/source && bash ./setup.sh",
        env={"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"},
    )


def submit(autograder, files, after=5, preexec=None):
    """A submission: `files` (name -> bytes) in /autograder/submission, results/ emptied, run_autograder run as
    Gradescope runs it (its output to results/stdout), then `after` seconds of the container still up (the
    harness collecting results.json) before everything in it ends. Returns the CompletedProcess."""
    submission, results = autograder / "submission", autograder / "results"
    shutil.rmtree(submission)
    shutil.rmtree(results)
    submission.mkdir()
    results.mkdir()
    for name, data in files.items():
        (submission / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(submission / name) as tmp:
            tmp.write_bytes(data)
    return container(
        autograder, f"/autograder/run_autograder > /autograder/results/stdout 2>&1; sleep {after}", preexec=preexec
    )
