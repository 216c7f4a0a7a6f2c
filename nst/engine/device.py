"""The hardware a run computes on: its start-up device line, GPU memory growth and `--precision auto`.

`--precision auto` means bf16 where the hardware computes it natively, fp32 elsewhere.

The decisions are pure functions of their inputs (the text of /proc/cpuinfo, TensorFlow's GPU device details),
so they can be checked with real inputs from any machine; `hardware()` gathers those inputs from this one.
"""

import dataclasses
import os

# CPU flags (as /proc/cpuinfo names them) of native bf16 arithmetic: AVX-512 BF16 (dot products) and AMX.
NATIVE_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# NVIDIA GPUs compute bf16 natively from compute capability 8.0 (Ampere) on.
NATIVE_BF16_GPU_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class CpuKind:
    """What the step does on one kind of CPU, and the measurements that chose it (docs/benchmarks/choices.md).

    flag: the /proc/cpuinfo flag that makes a CPU this kind (None: any CPU). input_gradient: "rotated" or "tf"
    per precision (nst.engine.network.conv2d_same). bf16_speedup: a --precision bf16 Adam step's speed-up over fp32
    at 400x300 on this kind, rounded, as the start-up hint quotes it (None where bf16 is not native: no gain;
    tests/test_benchmarks.py holds it to the committed results where there are some). measured: where the
    measurements behind the choice are.
    """

    name: str
    flag: str | None
    input_gradient: dict
    bf16_speedup: float | None
    measured: str


CPU_KINDS = (
    CpuKind(
        "AMX",
        "amx_bf16",
        {"fp32": "tf", "bf16": "rotated"},
        4.0,
        "machine X (Intel Xeon with AMX), an earlier session with no raw results kept: docs/benchmarks/choices.md",
    ),
    CpuKind(
        "avx512_bf16 without AMX",
        "avx512_bf16",
        {"fp32": "rotated", "bf16": "tf"},
        1.8,
        "machine B (AMD EPYC, Zen 4 class): `python -m benchmarks choices` and `picture`, "
        "docs/performance.md#the-steps-hardware-choices; why: docs/benchmarks/choices.md",
    ),
    CpuKind(
        "no native bf16",
        None,
        {"fp32": "rotated", "bf16": "rotated"},
        None,
        "machine A (AMD EPYC, AVX2 only): `python -m benchmarks bench` (its ablation) and `conv_grad`, "
        "docs/performance.md#one-step-eager-tf-fp32-xla-bf16-by-size; why: docs/benchmarks/choices.md",
    ),
)


def input_gradient(cpuinfo, precision):
    """How the step computes each conv's gradient w.r.t. its input on this CPU: "rotated" or "tf"
    (nst.engine.network)."""
    return cpu_kind(cpuinfo).input_gradient[precision]


def cpu_kind(cpuinfo):
    """The first of CPU_KINDS whose flag the CPU has (the last kind, flag None, takes any other CPU)."""
    flags = cpu_flags(cpuinfo)
    return next(kind for kind in CPU_KINDS if kind.flag is None or kind.flag in flags)


def read_cpuinfo(path="/proc/cpuinfo"):
    """The text of /proc/cpuinfo, or "" where there is none (not Linux)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_flags(cpuinfo):
    """The set of CPU flags in /proc/cpuinfo text (its first "flags" line)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def cpu_model(cpuinfo):
    """The CPU's "model name" in /proc/cpuinfo text, or "" when it has none."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return ""


def gpu_capability(details):
    """(major, minor) compute capability from tf.config.experimental.get_device_details(gpu), or None."""
    capability = details.get("compute_capability")
    return tuple(capability) if capability else None


def native_bf16(cpuinfo, gpus):
    """Why this hardware computes bf16 natively, or None when it does not.

    gpus: the device details of the visible GPUs (dicts with "device_name", "compute_capability"). TF computes on
    the first GPU when there is one, so then it decides; otherwise the CPU's flags do.
    """
    if gpus:
        capability = gpu_capability(gpus[0])
        if capability is not None and capability >= NATIVE_BF16_GPU_CAPABILITY:
            return f"GPU {gpus[0].get('device_name', '?')} has compute capability {capability[0]}.{capability[1]}"
        return None
    flags = cpu_flags(cpuinfo)
    native = [flag for flag in NATIVE_BF16_CPU_FLAGS if flag in flags]
    return f"CPU has {' and '.join(native)}" if native else None


def choose_precision(requested, cpuinfo, gpus):
    """{"requested", "used", "reason"}: the precision a run computes in. fp32 and bf16 are used as requested;
    auto is bf16 where native_bf16 names a reason, fp32 elsewhere."""
    if requested != "auto":
        return {"requested": requested, "used": requested, "reason": "requested"}
    reason = native_bf16(cpuinfo, gpus)
    if reason is not None:
        return {"requested": "auto", "used": "bf16", "reason": reason}
    if gpus:
        capability = gpu_capability(gpus[0])
        shown = f"{capability[0]}.{capability[1]}" if capability else "unknown"
        why = f"GPU {gpus[0].get('device_name', '?')} has compute capability {shown} (native bf16 from 8.0)"
    else:
        why = f"CPU has neither {' nor '.join(NATIVE_BF16_CPU_FLAGS)}"
    return {"requested": "auto", "used": "fp32", "reason": why}


def precision_hint(precision, cpuinfo, gpus):
    """The one log line about precision at start, or None: on fp32 runs where bf16 is native, how much faster
    --precision auto would be; on bf16 runs where it is not, that bf16 is emulated there."""
    reason = native_bf16(cpuinfo, gpus)
    if precision["used"] == "fp32" and precision["requested"] == "fp32" and reason is not None:
        speedup = None if gpus else cpu_kind(cpuinfo).bf16_speedup
        faster = f"about {speedup:.1f}x faster (as measured on CPUs of this kind)" if speedup else "faster"
        return f"{reason} (native bf16): --precision auto would be {faster}, a result as good as fp32's (BENCHMARKS.md)"
    if precision["used"] == "bf16" and reason is None:
        return "bf16 is not native on this hardware: --precision bf16 is likely no faster than fp32 here"
    return None


def device_line(cpuinfo, gpus, cores):
    """The log's device line: the GPU TF computes on, or "CPU, N cores, no GPU visible"."""
    if gpus:
        names = ", ".join(d.get("device_name", "GPU") for d in gpus)
        return f"Device: GPU {names}" + (f" ({len(gpus)} visible, TF uses the first)" if len(gpus) > 1 else "")
    model = cpu_model(cpuinfo)
    return f"Device: CPU, {cores} cores, no GPU visible" + (f" ({model})" if model else "")


def enable_memory_growth(tf, gpus):
    """Let TF take GPU memory as it needs it instead of the whole card: set_memory_growth on each GPU.

    Must run before TF initialises its devices (before the first tensor); afterwards TF refuses (RuntimeError)
    and the setting stays as it was. Returns the GPUs it was set on.
    """
    done = []
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
            done.append(gpu)
        except RuntimeError:  # devices already initialised
            pass
    return done


def usable_cores():
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def hardware():
    """This machine's inputs to the decisions above: (cpuinfo text, [GPU device details], cores)."""
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU")]
    return read_cpuinfo(), gpus, usable_cores()
