"""The performance page: docs/performance.md made from benchmarks/results/*.json, the one place figures are quoted.

    python -m benchmarks report            # writes docs/performance.md
    python -m benchmarks report --check    # exit 1 (saying so) when docs/performance.md is not what the results make

Every table names its machine (BENCHMARKS.md's letters, from the CPU flags a result records), the load it ran
under and its raw JSON; figures are written in one unit each (seconds, MiB, GFLOP/s, ratios as ×). A result file
no section knows still gets a line, so a new result changes the page (tests/test_benchmarks.py checks that the
committed page is what the committed results make).
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks.common import RESULTS, ROOT

PAGE = ROOT / "docs" / "performance.md"
QUIET_LOAD = 2.5  # on 2 cores: a 1-minute load average at most this is "quiet", above it "shared"
TARGETS = {"fp32_step_vs_torch": 1.05, "bf16_step_vs_torch": 0.9}  # what the project aims at (BENCHMARKS.md)
# The headline's targets: (what, target as text, test of the measured value)
HEADLINE_TARGETS = {
    "fp32 step": ("≤ 1.05× PyTorch's", lambda x: x <= 1.05),
    "bf16 step": ("≤ 0.9× PyTorch's", lambda x: x <= 0.9),
    "evaluation": ("≤ 1.15× an Adam step", lambda x: x <= 1.15),
    "first step": ("≤ 3.5 s after the process starts", lambda x: x <= 3.5),
    "peak": ("≤ 954 MiB (10⁹ bytes)", lambda x: x <= 1e9 / 2**20),
    # targets for a CPU with AMX (machine X): elsewhere shown, not judged
    "step vs matmul": ("≥ 80 % of the 4096² matmul's rate, bf16, on AMX", lambda x: x >= 80),
    "the homework's picture": ("≤ 8 s, the whole command, on AMX", lambda x: x <= 8),
}
AMX_ONLY = ("step vs matmul", "the homework's picture")


# --- reading ---------------------------------------------------------------------------------------------------


def machine_letter(machine):
    """BENCHMARKS.md's machine: X with AMX, B with avx512_bf16 and no AMX, A otherwise (AVX2)."""
    if isinstance(machine, str):
        text = machine.lower()
        return "X" if "amx" in text and "no amx" not in text else "B" if "avx512_bf16" in text else "A"
    if machine.get("amx_bf16"):
        return "X"
    return "B" if machine.get("avx512_bf16") else "A"


def loads_in(value, under_load=False):
    """Every 1-minute load average found anywhere in a result: the first of each os.getloadavg() triple kept under a
    key starting with "load", and the "load" figures of hand-written rounds."""
    if isinstance(value, dict):
        return [x for key, item in value.items() for x in loads_in(item, under_load or key.startswith("load"))]
    if isinstance(value, list):
        if under_load and len(value) == 3 and all(isinstance(x, (int, float)) for x in value):
            return [value[0]]
        return [x for item in value for x in loads_in(item, under_load)]
    if under_load and isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    return []


def conditions(result):
    """ "quiet (load 1.0–1.9)", "shared (load 7.5–9.3)", or what the file says when it kept no load."""
    loads = loads_in(result)
    if not loads:
        return "shared" if result.get("shared") else "load not recorded"
    low, high = min(loads), max(loads)
    kind = "quiet" if high <= QUIET_LOAD else "shared"
    return f"{kind} (load {low:.1f}–{high:.1f})" if f"{low:.1f}" != f"{high:.1f}" else f"{kind} (load {low:.1f})"


def source(name):
    return f"[{name}](../benchmarks/results/{name})"


def seconds(value):
    return "—" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def mib(value):
    return f"{value:,.0f}"


def ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_of(result):
    command = result.get("command") or result.get("commands", {}).get("nst", "")
    return command.replace("python benchmarks/", "python -m benchmarks ").replace(".py", "") if command else "—"


# --- the sections: each takes {file name: result} of its files and returns Markdown, or "" -----------------------


def steps_against_torch(files):
    rows = []
    for name, r in files.items():
        fp32 = [
            round_["nst_fp32"] / min(round_.get("torch_fp32_channels_last", 1e9), round_.get("torch_fp32", 1e9))
            for round_ in r["rounds"]
        ]
        bf16 = [round_["nst_bf16"] / round_["torch_bf16"] for round_ in r["rounds"]]
        rows.append(
            [
                machine_letter(r["machine"]),
                r["size"].replace("x", "×"),
                seconds(statistics.median(x["nst_fp32"] for x in r["rounds"])),
                ratio(statistics.median(fp32)) + f" ({ratio(min(fp32))}–{ratio(max(fp32))})",
                seconds(statistics.median(x["nst_bf16"] for x in r["rounds"])),
                ratio(statistics.median(bf16)) + f" ({ratio(min(bf16))}–{ratio(max(bf16))})",
                len(r["rounds"]),
                conditions(r),
                source(name),
            ]
        )
    return (
        "One Adam step of nst beside the PyTorch peer's (`../shared/peers/torch_gatys.py`, its faster memory layout "
        "per round; bf16: `torch_gatys_bf16.py`, autocast), interleaved rounds; ratios are nst's time over the "
        "peer's (below 1: nst is faster), the median of the rounds' ratios and their range. Targets: fp32 ≤ "
        f"{TARGETS['fp32_step_vs_torch']}×, bf16 ≤ {TARGETS['bf16_step_vs_torch']}×.\n\n"
        + table(
            [
                "machine",
                "size",
                "nst fp32 s/step",
                "vs PyTorch",
                "nst bf16 s/step",
                "vs PyTorch",
                "rounds",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def before_after(files):
    blocks = []
    for name, r in files.items():
        rows = [
            [
                variant,
                seconds(row["before"]["median_s"]),
                seconds(row["after"]["median_s"]),
                ratio(row["after_vs_before"]),
                ", ".join(ratio(x) for x in row["after_vs_before_per_round"]),
            ]
            for variant, row in r["table"].items()
        ]
        blocks.append(
            f"Machine {machine_letter(r['machine'])}, {r['size'].replace('x', '×')}, {r['rounds']} rounds, "
            f"{conditions(r)}: `{r['before']['revision']}` ({r['before']['commit'][:7]}) against "
            f"`{r['after']['revision']}` ({r['after']['commit'][:7]}), `{command_of(r)}`, {source(name)}. "
            "Ratios: after over before (below 1: faster after).\n\n"
            + table(["what", "before, s", "after, s", "after / before", "per round"], rows)
        )
    return (
        "The same steps timed from two checkouts side by side (`python -m benchmarks checkouts`: a worker per "
        "checkout and round, the order alternating).\n\n" + "\n\n".join(blocks)
    )


def bench_steps(files):
    blocks = []
    for name, r in files.items():
        key = next(k for k in r if k.startswith("table1_"))
        size = key.split("_", 1)[1].replace("x", "×")
        rows = [
            [variant, seconds(v["median_s"]), f"{v['gflops']:.0f}", ratio(v["ratio_to_eager"]), mib(v["peak_rss_mb"])]
            for variant, v in r[key]["variants"].items()
        ]
        scaling = [
            [
                row["size"].replace("x", "×"),
                seconds(row["eager"]["median_s"]),
                seconds(row["fp32"]["median_s"]),
                mib(row["fp32"]["peak_rss_mb"]),
            ]
            for row in r.get("table2_scaling", [])
        ]
        blocks.append(
            f"Machine {machine_letter(r['machine'])}, {size}, {conditions(r)}, `{command_of(r)}`, "
            f"{source(name)}; 4096² matmul fp32 {r['matmul_gflops']['fp32']:.0f}, bf16 "
            f"{r['matmul_gflops']['bf16']:.0f} GFLOP/s.\n\n"
            + table(["variant", "s/step", "GFLOP/s", "vs eager TF", "peak RSS, MiB"], rows)
            + (
                "\n\nBy size (s/step; peak RSS of the fp32 step):\n\n"
                + table(["size", "eager TF", "nst fp32", "peak RSS, MiB"], scaling)
                if scaling
                else ""
            )
        )
    return "\n\n".join(blocks)


def choices(files):
    rows = []
    for name, r in files.items():
        for threads, variants in r["table"].items():
            rows.append(
                [machine_letter(r["machine"]), threads]
                + [
                    seconds(variants[v]["median_s"]) if v in variants else "—"
                    for v in (
                        "fp32-rotated",
                        "fp32-tf",
                        "bf16-rotated",
                        "bf16-tf",
                        "fp32-rotated-xla",
                        "bf16-rotated-xla",
                    )
                ]
                + [f"{r['matmul_gflops']['fp32']:.0f} / {r['matmul_gflops']['bf16']:.0f}", conditions(r), source(name)]
            )
    return (
        "Whole Adam steps (s/step, median) by the conv input gradient (rotated kernel or TF's own), precision, "
        "XLA and TF's threads (`python -m benchmarks choices`); what nst picks per CPU kind is "
        "`nst.engine.device.CPU_KINDS`.\n\n"
        + table(
            [
                "machine",
                "threads",
                "fp32 rotated",
                "fp32 TF",
                "bf16 rotated",
                "bf16 TF",
                "fp32 XLA",
                "bf16 XLA",
                "4096² matmul GFLOP/s fp32 / bf16",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def picture(files):
    blocks = []
    for name, r in files.items():
        reference = r["modes"][0]["seconds"]
        rows = []
        for mode in r["modes"]:
            unit = "evaluations" if mode["mode"].startswith("lbfgs") else "steps"
            per = mode.get("per_step_s", mode.get("per_evaluation_s"))
            rows.append(
                [
                    mode["mode"],
                    f"{mode['steps']} {unit}",
                    f"{mode['final_J_fp32']:.7g}",
                    seconds(mode["seconds"]),
                    seconds(per),
                    ratio(reference / mode["seconds"]),
                    ratio(mode.get("evaluation_vs_adam_step")) if "evaluation_vs_adam_step" in mode else "",
                ]
            )
        commands = [
            [
                f"`{m['whole_command']['command'].split(' --weights')[0]} … --optimizer lbfgs --precision "
                f"{m['mode'].split('-')[1]} --iterations {m['steps']}`",
                seconds(m["whole_command"]["wall_s"]),
                mib(m["whole_command"]["peak_rss_mib"]),
            ]
            for m in r["modes"]
            if "whole_command" in m
        ]
        commands += [
            [
                f"`python -m nst … --precision {p} --iterations 1` (one Adam step)",
                seconds(c["wall_s"]),
                mib(c["peak_rss_mib"]),
            ]
            for p, c in r.get("first_step", {}).items()
        ]
        blocks.append(
            f"Machine {machine_letter(r['machine'])}, {r['network']}, {r['size'].replace('x', '×')}, seed "
            f"{r['seed']}, target J {r['target_J_fp32']:.7g}, {conditions(r)}, `{command_of(r)}`, "
            f"{source(name)}.\n\n"
            + table(
                [
                    "mode",
                    "to the target",
                    "J reached",
                    "seconds",
                    "per step / evaluation, s",
                    "vs Adam fp32",
                    "an evaluation vs an Adam step",
                ],
                rows,
            )
            + "\n\nWhole commands, from the process's start to its end (weights cache warm):\n\n"
            + table(["command", "seconds", "peak RSS, MiB"], commands)
        )
    return (
        "The seconds each mode needs to reach the J (evaluated in fp32) of the homework's 200 fp32 Adam steps, "
        "on the real ImageNet VGG-16 (`python -m benchmarks picture`; the optimiser's time, tracing included, "
        "the fp32 checks not).\n\n" + "\n\n".join(blocks)
    )


def time_to_quality(files):
    rows = []
    for name, r in files.items():
        reference = r["modes"][0]["seconds"]
        for mode in r["modes"]:
            coarse = (
                f" + {mode['coarse']['steps']} at {mode['coarse']['size'].replace('x', '×')}"
                if "coarse" in mode
                else ""
            )
            rows.append(
                [
                    machine_letter(r["machine"]),
                    r.get("network", "random-weight VGG-19"),
                    r["size"].replace("x", "×"),
                    mode["mode"],
                    f"{mode['steps']}{coarse}",
                    "yes" if mode["reached"] else "no",
                    seconds(mode["seconds"]),
                    ratio(reference / mode["seconds"]) if mode["reached"] else "—",
                    conditions(mode) if "load_average" in mode else conditions(r),
                    source(name),
                ]
            )
    return (
        "Each mode to the J of 200 fp32 Adam steps from the same start (`python -m benchmarks time_to_quality`; "
        "steps or evaluations, and `--scales 2`'s coarse part).\n\n"
        + table(
            [
                "machine",
                "network",
                "size",
                "mode",
                "steps / evaluations",
                "reached",
                "seconds",
                "vs Adam fp32",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def per_round(result):
    """nst's whole command over the peer's, round by round."""
    runs = result.get("runs", {})
    pairs = {run["round"]: run["wall_s"] for run in runs.get("nst", [])}
    return ", ".join(
        ratio(pairs[run["round"]] / run["wall_s"]) for run in runs.get("peer", []) if run["round"] in pairs
    )


def lbfgs_peer(files):
    blocks = []
    for name, r in files.items():
        rows = [
            [
                side["what"],
                f"`{side['command']}`",
                side.get("evaluations", "—"),
                f"{side['J']:.7g}",
                seconds(side["wall_s"]),
            ]
            for side in r["sides"]
        ]
        blocks.append(
            f"Machine {machine_letter(r['machine'])}, {r['network']}, {r['size'].replace('x', '×')}, target J "
            f"{r['target_J']:.7g}, {r['rounds']} round(s), {conditions(r)}, {source(name)}; nst's whole "
            f"command over the peer's: {ratio(r['nst_vs_peer'])} (per round: {per_round(r)}).\n\n"
            + table(["what", "command", "evaluations", "J reached", "seconds (median)"], rows)
        )
    return (
        "`nst --optimizer lbfgs` as a whole command against the PyTorch + scipy peer "
        "(`../shared/peers/torch_lbfgs.py --optimizer scipy`) to the same J (`python -m benchmarks lbfgs_peer`).\n\n"
        + "\n\n".join(blocks)
    )


def memory(files):
    rows = []
    for name, r in files.items():
        for run in r["runs"]:
            stages = run["stages"]
            rows.append(
                [
                    machine_letter(r["machine"]),
                    r.get("size", "400x300").replace("x", "×"),
                    run["precision"],
                    run["input_gradient"] + (" (nst's choice here)" if run.get("chosen_here") else ""),
                    mib(stages["TensorFlow imported"]["rss_mib"]),
                    mib(stages["weights read, network built"]["rss_mib"]),
                    mib(stages["targets"]["rss_mib"]),
                    mib(stages["first step"]["rss_mib"]),
                    mib(run["peak_mib"]),
                    seconds(stages["first step"]["seconds"]),
                    conditions(r),
                    source(name),
                ]
            )
    return (
        "Resident memory (MiB) after each stage of a run in its own process, the ImageNet VGG-16 from the "
        "weights cache, the demo images (`python -m benchmarks memory`), and its peak (VmHWM); the last seconds "
        "column is when the first step ended, from the process's start.\n\n"
        + table(
            [
                "machine",
                "size",
                "precision",
                "conv input gradient",
                "TensorFlow imported",
                "network built",
                "targets",
                "first step",
                "peak",
                "first step at, s",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def startup(files):
    rows = []
    for name, r in files.items():
        for variant, m in r["median"].items():
            rows.append(
                [
                    machine_letter(r["machine"]),
                    variant,
                    seconds(m["tf_import_s"]),
                    seconds(m["model_s"]),
                    seconds(m["after_tf_to_first_step_s"]),
                    seconds(m["start_to_first_step_s"]),
                    mib(m["peak_rss_mib"]),
                    conditions(r),
                    source(name),
                ]
            )
    return (
        "Start-up of a run on a weights file as large as the real one, by how the weights are read "
        "(`python -m benchmarks startup`; medians of the rounds): before the cache, the first run on a file, a "
        "later run (the cache), `--no-cache`.\n\n"
        + table(
            [
                "machine",
                "variant",
                "TF import, s",
                "weights → model, s",
                "TF import → 1st step, s",
                "process start → 1st step, s",
                "peak RSS, MiB",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def studio_start(files):
    rows = []
    for name, r in files.items():
        for size, medians in r["median"].items():
            rows.append(
                [machine_letter(r["machine"]), size.replace("x", "×")]
                + [seconds(medians[v]) for v in ("new process", "cold painter", "warm painter", "warm, resized")]
                + [conditions(r), source(name)]
            )
    return (
        "Seconds from a Start in `nst studio` to its first step on the page (`python -m benchmarks "
        "studio_start`; medians).\n\n"
        + table(
            [
                "machine",
                "size",
                "new process",
                "cold painter",
                "warm painter",
                "warm, resized",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def bf16_quality(files):
    rows = []
    for name, r in files.items():
        for size, s in r["summary"].items():
            ref = s["fp32"]
            for mode, m in s.items():
                if mode == "fp32":
                    continue
                rows.append(
                    [
                        machine_letter(r["machine"]),
                        r.get("network", "random-weight VGG-19 (real conv widths)"),
                        size.replace("x", "×"),
                        f"{ref['runs']} / {m['runs']}",
                        f"{ref['median']:.7g}",
                        f"{100 * (ref['max'] - ref['min']) / ref['median']:.2f} %",
                        f"{100 * m['median_vs_fp32_median']:+.2f} %",
                        "met" if m["passes_bar"] else "**not met**",
                        ratio(m["speedup_vs_fp32"]),
                        f"{m['ssim_to_fp32_min']:.3f}" if "ssim_to_fp32_min" in m else "—",
                        conditions(r),
                        source(name),
                    ]
                )
    return (
        "Final J (in fp32) of the same Adam runs in fp32 and in bf16 over seeds (`python -m benchmarks bf16 "
        "quality`). The bar: bf16's median within the fp32 runs' range and at most 2 % above their median.\n\n"
        + table(
            [
                "machine",
                "network",
                "size",
                "runs fp32 / bf16",
                "fp32 median J",
                "fp32 seed spread",
                "bf16 median vs fp32",
                "bar",
                "bf16 step speed-up",
                "SSIM to fp32 (min)",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def lbfgs_default(files):
    rows = []
    for name, r in files.items():
        for record in r["records"]:
            reached = record["reached"]
            rows.append(
                [
                    machine_letter(r["machine"]),
                    record["pair"].replace(":", ", "),
                    record["size"].replace("x", "×"),
                    f"{record['J_adam_200']:.4g}",
                    reached["evaluations"] if reached else f"> {record['final']['evaluations']}",
                    conditions(record),
                    source(name),
                ]
            )
    return (
        "The L-BFGS evaluations needed to reach the J of the homework's 200 Adam steps, on the real ImageNet "
        "VGG-16 (`python -m benchmarks lbfgs_default`): what `--optimizer lbfgs`'s default budget "
        "(`nst.settings.LBFGS_EVALUATIONS`) rests on.\n\n"
        + table(["machine", "content, style", "size", "Adam's J", "evaluations to it", "conditions", "raw JSON"], rows)
    )


def grading(files):
    rows = []
    for name, r in files.items():
        for run in r["runs"]:
            own = sorted(run["seconds_per_submission"].values())
            rows.append(
                [
                    machine_letter(r["machine"]),
                    len(run["scores"]),
                    run["jobs"],
                    seconds(run["wall_s"]),
                    ratio(run["speedup_over_first"]),
                    seconds(statistics.median(own)),
                    conditions(
                        {
                            "load_average_before": run["load_average_before"],
                            "load_average_after": run["load_average_after"],
                        }
                    ),
                    source(name),
                ]
            )
    return (
        "`nst grade` on a class of notebooks (`python -m benchmarks grade_class`; correct, known mistakes, "
        "untouched and hostile ones), one sandbox at a time and several.\n\n"
        + table(
            [
                "machine",
                "notebooks",
                "--jobs",
                "wall, s",
                "speed-up",
                "a notebook's own, s (median)",
                "conditions",
                "raw JSON",
            ],
            rows,
        )
    )


def gigabytes(value):
    return "—" if value is None else f"{value / 1e9:.2f} GB"


def plan_text(plan):
    """A tile plan of print_size_runs.json in a few words: "whole", or the segments' backward grids."""
    if plan is None:
        return "whole"
    grids = [f"{rows}×{columns}" for rows, columns in plan["backward"]]
    if plan["fused"]:
        grids[-1] = "whole"
    return f"tiles ({len(plan['backward'])} segments, backward {' + '.join(grids)})"


def print_size(files):
    """Print sizes: whole runs' peak memory and seconds per step untiled, tiled and the peer's; the whole commands
    at 4K and to a finished 1080p picture."""
    blocks = []
    runs = files.get("print_size_runs.json")
    if runs:
        rows = []
        for r in runs["runs"]:
            size = f"{r['width']}×{r['height']}"
            if r["mode"] == "peer":
                rows.append(
                    [
                        "PyTorch peer (random VGG-19)",
                        size,
                        "whole",
                        "—",
                        gigabytes(r["peak_bytes"]),
                        "—",
                        f"{r['peer']['median']:.1f}",
                        f"{r['load_average'][0]:.1f}",
                    ]
                )
                continue
            cpu = min(r["cpu_seconds_per_step"][1:] or r["cpu_seconds_per_step"])
            wall = min(r["seconds_per_step"][1:] or r["seconds_per_step"])
            net = "random VGG-19" if r["net"] == "random" else "ImageNet VGG-16"
            rows.append(
                [
                    f"nst ({net})",
                    size,
                    plan_text(r["plan"]),
                    gigabytes(r.get("predicted_bytes")),
                    gigabytes(r["peak_bytes"]),
                    f"{cpu:.1f}",
                    f"{wall:.1f}",
                    f"{r['load_average'][0]:.1f}",
                ]
            )
        blocks.append(
            f"Machine {machine_letter(runs['machine'])}, two Adam steps of a whole run in its own process "
            f"(`{command_of(runs)}`), {conditions(runs)}, {source('print_size_runs.json')}. CPU seconds (all "
            "threads) move little with the load; wall seconds do.\n\n"
            + table(
                ["what", "size", "evaluated", "predicted peak", "measured peak", "CPU s/step", "wall s/step", "load"],
                rows,
            )
        )
    for name, r in files.items():
        if name.startswith("print_size_command_"):
            plan = "; ".join(r["plan_lines"])
            blocks.append(
                f"`nst {' '.join(r['nst_arguments'])}` ({r['net']} net), machine {machine_letter(r['machine'])}, "
                f"{conditions(r)}, {source(name)}: peak {gigabytes(r['peak_bytes'])}, {r['wall_seconds']:.0f} s "
                f"wall, {r['cpu_seconds']:.0f} CPU s. {plan}"
            )
    for name, r in files.items():
        if name.startswith("print_size_ratio"):
            rows = [
                [
                    what,
                    plan_text(v["plan"]),
                    f"{v['predicted_work']:.2f}×",
                    ratio(v.get("cpu_ratio")),
                    ratio(v.get("wall_ratio")),
                    f"{v['J_relative_error']:.1e}",
                    f"{v['gradient_relative_error']:.1e}",
                ]
                for what, v in r["variants"].items()
            ]
            blocks.append(
                f"One evaluation (J and its gradient) tiled against untiled in one process, rounds interleaved, "
                f"{r['size'][0]}×{r['size'][1]}, {r['net']} net, machine {machine_letter(r['machine'])}, "
                f"{conditions(r)}, {source(name)}: the seconds of the fastest round over the untiled one's, and the "
                "tiled J and gradient against the untiled ones (largest difference / largest value, fp32).\n\n"
                + table(
                    ["evaluated", "plan", "predicted work", "CPU s", "wall s", "J difference", "gradient difference"],
                    rows,
                )
            )
    finish = files.get("print_size_finish.json")
    if finish:
        rows = []
        for what, run in finish["runs"].items():
            J = run["final_costs"]["total"] if "final_costs" in run else (run["result"].get("first") or {}).get("J")
            evaluations = "; ".join(run.get("lines", [])) or (
                f"{run['result']['first']['evals']} evaluations to J ≤ {run['result']['target']:.4g}"
                if run["result"].get("first")
                else f"did not reach J ≤ {run['result']['target']:.4g}"
            )
            rows.append(
                [
                    f"{what} (an earlier run)" if "earlier_run" in run else what,
                    evaluations,
                    "—" if J is None else f"{J:.5g}",
                    gigabytes(run["peak_bytes"]),
                    f"{run['wall_seconds']:.0f}",
                    f"{run['cpu_seconds']:.0f}",
                ]
            )
        blocks.append(
            f"A finished {finish['size'][0]}×{finish['size'][1]} picture, whole commands (`{command_of(finish)}`), "
            f"{finish['network']}, machine {machine_letter(finish['machine'])}, {conditions(finish)}, "
            f"{source('print_size_finish.json')}.\n\n"
            + table(["what", "evaluations", "J at 1920×1080", "peak", "wall s", "CPU s"], rows)
        )
    return "\n\n".join(blocks)


def quietest(files):
    """(name, result) of the file that ran under the lowest load (one with no load recorded last)."""
    return min(files.items(), key=lambda item: max(loads_in(item[1]) or [float("inf")]))


def headline(files):
    """Where nst stands: one figure per target, each from the quietest result that measures it."""
    rows = []

    def row(what, value, shown, name):
        target, met = HEADLINE_TARGETS[what]
        letter = machine_letter(files[name]["machine"])
        verdict = "met" if met(value) else "**not met**"
        if what in AMX_ONLY and letter != "X":
            verdict = "not measured on AMX"
        rows.append([what, shown, target, verdict, f"machine {letter}, {conditions(files[name])}, {source(name)}"])

    def pick(prefix):
        mine = {n: r for n, r in files.items() if n == f"{prefix}.json" or n.startswith(f"{prefix}_")}
        return quietest(mine) if mine else (None, None)

    name, r = pick("step_vs_peers")
    if r:
        for precision in ("fp32", "bf16"):
            ratios = [
                x[f"nst_{precision}"] / min(x.get(f"torch_{precision}_channels_last", 1e9), x[f"torch_{precision}"])
                for x in r["rounds"]
            ]
            row(
                f"{precision} step",
                statistics.median(ratios),
                f"{ratio(statistics.median(ratios))} PyTorch's "
                f"({seconds(statistics.median(x[f'nst_{precision}'] for x in r['rounds']))} s), "
                f"{ratio(min(ratios))}–{ratio(max(ratios))} over {len(ratios)} rounds",
                name,
            )
    name, r = pick("picture")
    if r:
        for mode in r["modes"]:
            if "evaluation_vs_adam_step" in mode:
                row(
                    "evaluation",
                    mode["evaluation_vs_adam_step"],
                    f"{ratio(mode['evaluation_vs_adam_step'])} ({mode['mode']})",
                    name,
                )
    name, r = pick("choices")
    if r:
        for precision, variant in (("fp32", "fp32-rotated"), ("bf16", "bf16-tf")):
            step = r["table"]["default"].get(variant)
            if step:
                share = 100 * step["gflops"] / r["matmul_gflops"][precision]
                row(
                    "step vs matmul",
                    share,
                    f"{share:.0f} % ({precision}, {variant.split('-')[1]} input gradient: "
                    f"{step['gflops']:.0f} of {r['matmul_gflops'][precision]:.0f} GFLOP/s)",
                    name,
                )
    name, r = pick("picture")
    if r:
        for mode in r["modes"]:
            if "whole_command" in mode:
                row(
                    "the homework's picture",
                    mode["whole_command"]["wall_s"],
                    f"{seconds(mode['whole_command']['wall_s'])} s (`--optimizer lbfgs --precision "
                    f"{mode['mode'].split('-')[1]} --iterations {mode['steps']}`)",
                    name,
                )
    name, r = pick("memory")
    if r:
        for run in r["runs"]:
            if run.get("chosen_here"):
                row(
                    "first step",
                    run["stages"]["first step"]["seconds"],
                    f"{seconds(run['stages']['first step']['seconds'])} s ({run['precision']}; TensorFlow imported at "
                    f"{seconds(run['stages']['TensorFlow imported']['seconds'])} s)",
                    name,
                )
                row(
                    "peak",
                    run["peak_mib"],
                    f"{mib(run['peak_mib'])} MiB ({run['precision']}, {r.get('size', '400x300').replace('x', '×')})",
                    name,
                )
    return (
        "The figures the project's targets are about, each from the quietest result that measures it (the "
        "sections below have every result).\n\n"
        + table(["what", "measured", "target", "", "machine, conditions, raw JSON"], rows)
    )


# (heading, the result files it reads: NAME.json and NAME_*.json, the section)
SECTIONS = (
    ("One step against PyTorch", "step_vs_peers", steps_against_torch),
    ("Before and after a change: two checkouts", "checkouts", before_after),
    ("One step: eager TF, fp32, XLA, bf16, by size", "bench", bench_steps),
    ("The step's hardware choices", "choices", choices),
    ("Time to the homework's picture, the whole command", "picture", picture),
    ("Time to the homework's J, every mode", "time_to_quality", time_to_quality),
    ("L-BFGS against the PyTorch + scipy peer", "lbfgs_peer", lbfgs_peer),
    ("Memory", "memory", memory),
    ("Start-up", "startup", startup),
    ("The studio's start", "studio_start", studio_start),
    ("bf16 against fp32", "bf16_quality", bf16_quality),
    ("L-BFGS's default budget", "lbfgs_default", lbfgs_default),
    ("Grading a class", "grade_class", grading),
    ("Print sizes", "print_size", print_size),
)


def render(results_dir=RESULTS):
    """The page's Markdown from the result files in `results_dir`."""
    files = {
        path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(Path(results_dir).glob("*.json"))
    }
    out = [
        "# Performance",
        "",
        "<!-- Made by `python -m benchmarks report` from benchmarks/results/*.json: edit those, not this page. -->",
        "",
        "Every figure nst quotes about its speed and memory, from the benchmarks' raw results. Machines (letters "
        "from the CPU flags a result records): [BENCHMARKS.md](../BENCHMARKS.md#the-machines); what each benchmark "
        'measures and why: its page there. Conditions: the 1-minute load averages a result kept, "quiet" when '
        f'none exceeded {QUIET_LOAD} on the 2 cores, "shared" otherwise (other jobs on the cores: seconds '
        "inflated, ratios taken side by side in one run still firm). Memory is resident (RSS), in MiB.",
        "",
    ]
    out += ["## Where nst stands", "", headline(files), ""]
    used = set()
    for title, prefix, section in SECTIONS:
        mine = {
            name: result for name, result in files.items() if name == f"{prefix}.json" or name.startswith(f"{prefix}_")
        }
        if prefix == "bf16_quality":
            mine = {name: result for name, result in mine.items() if "summary" in result}
        if not mine:
            continue
        used |= set(mine)
        out += [f"## {title}", "", section(mine), ""]
    others = [name for name in files if name not in used]
    if others:
        out += ["## Other results", "", "No section of this page reads these yet:", ""]
        out += [f"- {source(name)}: `{command_of(files[name])}`" for name in others] + [""]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks report", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether docs/performance.md is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if PAGE.read_text(encoding="utf-8") != text:
            sys.exit("docs/performance.md is not what benchmarks/results/ makes: python -m benchmarks report")
        print("docs/performance.md is up to date")
        return
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
