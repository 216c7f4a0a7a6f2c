"""The hardware a run computes on: device line, GPU memory growth, --precision auto from real CPU flags and GPU
device details, and what a run logs and records in run.json about it."""

import json
import os

import pytest
import tensorflow as tf

from nst.commands.cli import build_parser, config_from_args
from nst.commands.run import style_transfer
from nst.engine.device import (
    CPU_KINDS,
    choose_precision,
    cpu_flags,
    cpu_kind,
    cpu_model,
    device_line,
    enable_memory_growth,
    hardware,
    input_gradient,
    native_bf16,
    precision_hint,
    read_cpuinfo,
)
from nst.errors import NstError
from nst.settings import Config

# /proc/cpuinfo lines of real machines: the 2-core AMD EPYC (Zen 4 class) nst's benchmarks ran on (avx512_bf16,
# no AMX); an AVX2-only AMD EPYC (Zen 2); an Intel Xeon with AMX (Sapphire Rapids).
ZEN4 = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht \
syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid \
tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx \
f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext vmmcall \
fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb \
avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero xsaveerptr arat avx512vbmi umip \
avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm
"""
ZEN2 = """model name	: AMD EPYC 7B12
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht \
syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid tsc_known_freq \
pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy \
cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 \
avx2 smep bmi2 rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr arat npt nrip_save \
umip rdpid
"""
SAPPHIRE_RAPIDS = """model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss \
ht syscall nx pdpe1gb rdtscp lm constant_tsc avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni \
avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8 arch_capabilities
"""
# tf.config.experimental.get_device_details of a GPU: its name and compute capability.
A100 = {"device_name": "NVIDIA A100-SXM4-40GB", "compute_capability": (8, 0)}
T4 = {"device_name": "Tesla T4", "compute_capability": (7, 5)}


def test_auto_picks_bf16_where_the_cpu_computes_it_natively():
    assert "avx512_bf16" in cpu_flags(ZEN4) and cpu_model(ZEN4) == "AMD EPYC"
    assert choose_precision("auto", ZEN4, []) == {"requested": "auto", "used": "bf16", "reason": "CPU has avx512_bf16"}
    assert choose_precision("auto", SAPPHIRE_RAPIDS, [])["reason"] == "CPU has amx_bf16 and avx512_bf16"
    assert choose_precision("auto", ZEN2, []) == {
        "requested": "auto",
        "used": "fp32",
        "reason": "CPU has neither amx_bf16 nor avx512_bf16",
    }
    assert choose_precision("auto", "", [])["used"] == "fp32"  # no /proc/cpuinfo (not Linux)
    # fp32 and bf16 are what was asked for, whatever the hardware
    assert choose_precision("fp32", ZEN4, [A100]) == {"requested": "fp32", "used": "fp32", "reason": "requested"}
    assert choose_precision("bf16", ZEN2, [])["used"] == "bf16"


def test_auto_on_a_gpu_goes_by_its_compute_capability():
    assert choose_precision("auto", ZEN2, [A100]) == {
        "requested": "auto",
        "used": "bf16",
        "reason": "GPU NVIDIA A100-SXM4-40GB has compute capability 8.0",
    }
    # TF computes on the GPU, so a CPU with bf16 does not make bf16 native there
    t4 = choose_precision("auto", ZEN4, [T4])
    assert t4["used"] == "fp32" and "Tesla T4 has compute capability 7.5" in t4["reason"]
    assert native_bf16(ZEN4, [{"device_name": "GPU without details"}]) is None


def test_auto_on_this_machine_follows_its_real_cpuinfo():
    cpuinfo, gpus, cores = hardware()
    assert gpus == [] and cores == len(os.sched_getaffinity(0))  # the test machine has no GPU
    flags = open("/proc/cpuinfo").read().split()
    expected = "bf16" if "avx512_bf16" in flags or "amx_bf16" in flags else "fp32"
    assert cpuinfo == read_cpuinfo() and choose_precision("auto", cpuinfo, gpus)["used"] == expected
    assert read_cpuinfo("/nonexistent/cpuinfo") == ""


def test_precision_hint_once_where_bf16_would_pay():
    fp32 = choose_precision("fp32", ZEN4, [])
    assert precision_hint(fp32, ZEN4, []) == (
        "CPU has avx512_bf16 (native bf16): --precision auto would be about "
        "1.8x faster (as measured on CPUs of this kind), a result as good as "
        "fp32's (BENCHMARKS.md)"
    )
    assert "about 4.0x faster" in precision_hint(fp32, SAPPHIRE_RAPIDS, [])  # the speed-up of the CPU's kind
    assert precision_hint(fp32, ZEN2, [A100]) == (
        "GPU NVIDIA A100-SXM4-40GB has compute capability 8.0 (native "
        "bf16): --precision auto would be faster, a result as good as "
        "fp32's (BENCHMARKS.md)"
    )  # no figure: not measured on a GPU
    assert precision_hint(fp32, ZEN2, []) is None
    assert precision_hint(choose_precision("auto", ZEN4, []), ZEN4, []) is None
    assert "not native" in precision_hint(choose_precision("bf16", ZEN2, []), ZEN2, [])


def test_each_cpu_kind_gets_its_measured_conv_input_gradient():
    """The choice is a pure function of the CPU flags: each kind gets the input gradient its step was measured
    faster with (docs/benchmarks/choices.md); a CPU of no known kind gets the AVX2-only EPYC's."""
    assert [cpu_kind(info).name for info in (SAPPHIRE_RAPIDS, ZEN4, ZEN2, "")] == [
        "AMX",
        "avx512_bf16 without AMX",
        "no native bf16",
        "no native bf16",
    ]
    assert (input_gradient(SAPPHIRE_RAPIDS, "fp32"), input_gradient(SAPPHIRE_RAPIDS, "bf16")) == ("tf", "rotated")
    assert (input_gradient(ZEN4, "fp32"), input_gradient(ZEN4, "bf16")) == ("rotated", "tf")
    assert (input_gradient(ZEN2, "fp32"), input_gradient(ZEN2, "bf16")) == ("rotated", "rotated")
    assert all(
        set(kind.input_gradient) == {"fp32", "bf16"} and set(kind.input_gradient.values()) <= {"rotated", "tf"}
        for kind in CPU_KINDS
    )
    assert [kind.bf16_speedup for kind in CPU_KINDS][0] > [kind.bf16_speedup for kind in CPU_KINDS][1] > 1


def test_device_line():
    assert device_line(ZEN4, [], 2) == "Device: CPU, 2 cores, no GPU visible (AMD EPYC)"
    assert device_line("", [], 8) == "Device: CPU, 8 cores, no GPU visible"
    assert device_line(ZEN2, [A100], 2) == "Device: GPU NVIDIA A100-SXM4-40GB"
    assert (
        device_line(ZEN2, [A100, T4], 2) == "Device: GPU NVIDIA A100-SXM4-40GB, Tesla T4 (2 visible, TF uses the first)"
    )


def test_gpu_code_path_runs_on_a_cpu():
    gpus = tf.config.list_physical_devices("GPU")
    assert gpus == []
    assert enable_memory_growth(tf, gpus) == []
    assert [tf.config.experimental.get_device_details(g) for g in gpus] == []


def test_precision_option():
    cfg = config_from_args(build_parser().parse_args(["--precision", "auto"]))
    assert cfg.precision == "auto" and cfg.check() is cfg
    with pytest.raises(NstError, match="--precision must be one of fp32, bf16, auto"):
        Config(precision="fp16").check()


def test_a_run_logs_its_device_and_records_its_precision(small_vgg, tmp_path):
    cpuinfo, gpus, cores = hardware()
    native = native_bf16(cpuinfo, gpus)
    runs = {}
    for requested in ("auto", "fp32"):
        lines, out = [], tmp_path / requested
        style_transfer(
            Config(
                weights=small_vgg,
                width=16,
                height=12,
                iterations=2,
                seed=0,
                save_every=1,
                progress=False,
                download=False,
                output_dir=out,
                precision=requested,
            ),
            log=lines.append,
        )
        runs[requested] = lines, json.loads((out / "run.json").read_text())
    lines, manifest = runs["auto"]
    assert lines[0] == device_line(cpuinfo, gpus, cores) and lines[0].startswith(f"Device: CPU, {cores} cores, no GPU")
    used = "bf16" if native else "fp32"
    assert manifest["precision"] == {
        "requested": "auto",
        "used": used,
        "reason": native or "CPU has neither amx_bf16 nor avx512_bf16",
    }
    assert manifest["parameters"]["precision"] == used
    assert lines[1] == f"Precision: {used} (--precision auto: {manifest['precision']['reason']})"
    lines, manifest = runs["fp32"]
    assert manifest["precision"] == {"requested": "fp32", "used": "fp32", "reason": "requested"}
    hints = [line for line in lines if "--precision auto would be" in line]
    speedup = cpu_kind(cpuinfo).bf16_speedup
    assert hints == (
        [
            f"{native} (native bf16): --precision auto would be about {speedup:.1f}x faster (as measured "
            "on CPUs of this kind), a result as good as fp32's (BENCHMARKS.md)"
        ]
        if native
        else []
    )
