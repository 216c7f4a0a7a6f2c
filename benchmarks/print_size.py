"""Print sizes: the tiled objective's memory, speed and exactness against the untiled one and the PyTorch peer.

    python -m benchmarks print_size plans     # what the planner picks at 1080p and 4K under budgets (no TensorFlow)
    python -m benchmarks print_size tiles     # one tile's working set per segment and role (fresh process each)
    python -m benchmarks print_size lbfgs     # what scipy's L-BFGS-B holds per variable (no TensorFlow)
    python -m benchmarks print_size runs      # whole runs' peak RSS: untiled, tiled under budgets, the peer
    python -m benchmarks print_size ratio     # CPU seconds of tiled evaluations / the untiled one, interleaved,
                                              # and their J and gradient against the untiled ones
    python -m benchmarks print_size table     # the docs' table of runs from the results files
    python -m benchmarks print_size finish    # a finished 1920x1080 picture: nst coarse to fine, straight, the peer
    python -m benchmarks print_size finish coarse  # nst's coarse-to-fine run again, the others kept
    python -m benchmarks print_size command 4k [random|imagenet]           # nst at 3840x2160 in 3 GB, whole command
    python -m benchmarks print_size command 1080p-lbfgs [random|imagenet]  # a finished 1920x1080 picture

Each mode writes benchmarks/results/print_size_<mode>.json. Every measurement of memory runs in a process of its
own and reads its peak resident set (VmHWM) from /proc; a tile's working set is the peak minus the resident set
just before the tile ran (the network built, its inputs made). Timings are CPU seconds of the process (all its
threads) beside wall seconds, and ratios of variants run interleaved in one process: on a shared machine CPU
seconds hardly move with the load, wall seconds do. The nets: VGG-19 with the real conv widths and random
weights (nst.weights.testnet, "random"), the real ImageNet VGG-16 ("imagenet": python -m nst.weights.imagenet).
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import NETWORKS, RESULTS, ROOT, demo_images, homework_start, machine

# the PyTorch peer (not one of nst's dependencies): $NST_PEERS/torch_gatys.py run by $NST_PEER_PYTHON
PEER = Path(os.environ.get("NST_PEERS", ROOT.parent / "shared" / "peers")) / "torch_gatys.py"
PEER_PYTHON = os.environ.get("NST_PEER_PYTHON", "python3")


def status_bytes(key, pid="self"):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) * 1024


def reset_peak():
    """Start VmHWM again from the current resident set (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def load_net(name):
    return NETWORKS[name]()


def run_worker(job, timeout=7200):
    """`python -m benchmarks print_size --worker JOB` in its own process; its last stdout line parsed."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "print_size", "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        sys.exit(f"worker {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_note():
    return {"load_average": os.getloadavg()}


# --- tiles: one tile's working set ---------------------------------------------------------------------------


def tile_worker(job):
    """The working set of one tile of a segment, run as a sweep runs it: the interior-most tile of the segment's
    tiling of a height x width image in a rows x columns grid, with its real owned ranges."""
    import numpy as np
    import tensorflow as tf

    from nst.engine import tiles
    from nst.engine.memory import tile_tensor_bytes
    from nst.engine.tiling import level_channels

    net = load_net(job["net"])
    s = tiles.setting(net, job["height"], job["width"], tiles.Weights(), job["precision"])
    start, stop, role = job["start"], job["stop"], job["role"]
    levels = tiles._segment_levels(s, start, stop, ())
    tiling = tiles._tiling(s, start, stop, (job["rows"], job["columns"]), levels)
    i, j = len(tiling.rows.crops) // 2, len(tiling.columns.crops) // 2
    rng = np.random.default_rng(0)
    dtype = np.float32 if start == 0 else s.compute.as_numpy_dtype

    def whole(level, dt):
        from nst.engine.tiling import level_size

        return (
            level_size(s.height, s.layers, level),
            level_size(s.width, s.layers, level),
            level_channels(s.layers, level),
            dt,
        )

    def crop_of(level, dt):
        h, w, c, _ = whole(level, dt)
        rows, columns = tiling.crop(i, j, level)
        return rng.uniform(0, 50, (1, rows.stop - rows.start, columns.stop - columns.start, c)).astype(dt)

    x = tf.constant(crop_of(start, dtype))
    ranges = tf.constant(tiling.local_ranges(i, j, levels), tf.int32)
    content = tiles._has_content(s, start, stop)
    target = tf.constant(crop_of(s.content, np.float32) if content else tiles.NO_TARGET)
    style = tiles._segment_style(s, start, stop)
    if role == "forward":
        run = tiles._function(s, start, stop, levels, "forward", tiling.shape, content, stop < s.deepest)

        def call():
            return run(x, ranges, target)
    else:
        run = tiles._function(s, start, stop, levels, "backward", tiling.shape, content)
        Ms = [tf.constant(np.full((level_channels(s.layers, level),) * 2, 1e-9, np.float32)) for level in style]
        g_out = tf.constant(crop_of(stop, np.float32)) if stop < s.deepest else None

        def call():
            return run(x, ranges, target, Ms, g_out)

    before = status_bytes("VmRSS")
    reset_peak()
    result = call()
    first = status_bytes("VmHWM") - before
    del result
    after_first = status_bytes("VmRSS") - before
    started = time.process_time()
    result = call()
    seconds = time.process_time() - started
    del result
    style_levels, content_level = sorted(s.style), s.content
    predicted = tile_tensor_bytes(
        tiling,
        "backward" if role == "backward" else "forward",
        style_levels,
        content_level,
        np.dtype(s.compute.as_numpy_dtype).itemsize,
    )
    return {
        **job,
        "crop": list(tiling.shape),
        "tiles": tiling.count,
        "peak_bytes": first,
        "kept_after_bytes": after_first,
        "second_peak_bytes": status_bytes("VmHWM") - before,
        "tensor_bytes": predicted,
        "cpu_seconds": seconds,
    }


def tiles_mode():

    jobs = []
    for net, segments in (
        ("random", ((0, 3), (0, 6), (0, 11), (0, 17), (3, 6), (3, 11), (6, 11), (6, 17), (11, 17), (16, 17))),
    ):
        for start, stop in segments:
            for role in ("forward", "backward"):
                for rows, columns in ((2, 3), (4, 6)):
                    jobs.append(
                        {
                            "net": net,
                            "precision": "fp32",
                            "height": 1080,
                            "width": 1920,
                            "start": start,
                            "stop": stop,
                            "role": role,
                            "rows": rows,
                            "columns": columns,
                        }
                    )
    for start, stop in ((0, 3), (0, 17), (6, 17)):
        for role in ("forward", "backward"):
            jobs.append(
                {
                    "net": "random",
                    "precision": "bf16",
                    "height": 1080,
                    "width": 1920,
                    "start": start,
                    "stop": stop,
                    "role": role,
                    "rows": 2,
                    "columns": 3,
                }
            )
    out = {"machine": machine(), "command": "python -m benchmarks print_size tiles", **load_note(), "tiles": []}
    for job in jobs:
        result = run_worker(job)
        out["tiles"].append(result)
        print(
            f"{job['precision']} [{job['start']}, {job['stop']}) {job['role']:8} crop {result['crop']}: "
            f"peak {result['peak_bytes'] / 2**20:.0f} MiB, counted tensors {result['tensor_bytes'] / 2**20:.0f} MiB "
            f"({result['peak_bytes'] / result['tensor_bytes']:.2f}x)",
            flush=True,
        )
    write("tiles", out)


# --- lbfgs: scipy's L-BFGS-B -----------------------------------------------------------------------------------


def lbfgs_worker(job):
    """scipy.optimize.minimize(method="L-BFGS-B") as nst.lbfgs calls it (Bounds of n float64 pairs, jac=True) on an
    ill-conditioned quadratic of n variables, `iterations` iterations with `pairs` correction pairs: the peak
    resident set beyond the problem's own arrays, per variable, and the seconds before the first evaluation."""
    import numpy as np
    import scipy.optimize

    n, pairs, iterations = job["n"], job["pairs"], job["iterations"]
    x0 = np.zeros(n)
    lower, upper = np.full(n, -100.0), np.full(n, 150.0)
    target, weight = np.linspace(-50, 50, n), np.geomspace(1.0, 1e4, n)
    buffer = np.empty(n)
    first = {}

    def fun(x):
        if not first:
            first.update(
                seconds=time.perf_counter() - started,
                peak=status_bytes("VmHWM") - base,
                resident=status_bytes("VmRSS") - base,
            )
        np.subtract(x, target, out=buffer)
        value = float(np.dot(weight * buffer, buffer))
        return value, 2.0 * weight * buffer  # a new float64 gradient per call, as nst.lbfgs returns

    base = status_bytes("VmRSS")
    reset_peak()
    started = time.perf_counter()
    result = scipy.optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(lower, upper),
        options={"maxcor": pairs, "maxiter": iterations, "maxfun": 2 * iterations, "gtol": 0.0, "ftol": 0.0},
    )
    total = time.perf_counter() - started
    return {
        **job,
        "iterations_done": int(result.nit),
        "evaluations": int(result.nfev),
        "peak_bytes_per_variable": (status_bytes("VmHWM") - base) / n,
        "setup_peak_bytes_per_variable": first["peak"] / n,
        "resident_at_first_evaluation_per_variable": first["resident"] / n,
        "seconds_to_first_evaluation": first["seconds"],
        "seconds": total,
    }


def lbfgs_mode():
    import scipy

    out = {"command": "python -m benchmarks print_size lbfgs", "scipy": scipy.__version__, **load_note(), "runs": []}
    for n, pairs in ((1_000_000, 3), (1_000_000, 10), (4_000_000, 3), (4_000_000, 10), (4_000_000, 5)):
        result = run_worker({"mode": "lbfgs", "n": n, "pairs": pairs, "iterations": pairs + 5})
        out["runs"].append(result)
        print(
            f"n {n:,} pairs {pairs}: peak {result['peak_bytes_per_variable']:.1f} B/variable (set-up "
            f"{result['setup_peak_bytes_per_variable']:.1f}), first evaluation after "
            f"{result['seconds_to_first_evaluation']:.1f} s",
            flush=True,
        )
    write("lbfgs", out)


# --- runs: a whole run's peak -----------------------------------------------------------------------------------


def problem_of(net, width, height, precision, optimizer="adam"):
    from nst.engine.memory import Problem
    from nst.engine.tiles import layers_of
    from nst.engine.tiling import level_of
    from nst.homework import CONTENT_LAYER, STYLE_LAYERS

    layers = layers_of(net)
    weights_bytes = sum(int(W.shape.num_elements() + b.shape.num_elements()) * 4 for W, b in net.weights.values())
    return Problem(
        layers,
        weights_bytes,
        height,
        width,
        tuple(level_of(layers, name) for name, _ in STYLE_LAYERS),
        level_of(layers, CONTENT_LAYER),
        2 if precision == "bf16" else 4,
        optimizer,
    )


def run_worker_job(job):
    """A run as nst's would go: the network, the demo images at width x height, the targets, `steps` Adam steps
    (the untiled compiled step, or the tiled objective's value and gradient then a compiled Adam update), with
    the resident set after each stage and the peak (VmHWM), the plan and its predicted peak."""
    started = time.perf_counter()
    stages = {}

    def stage(name):
        stages[name] = {
            "rss_bytes": status_bytes("VmRSS"),
            "peak_bytes": status_bytes("VmHWM"),
            "seconds": time.perf_counter() - started,
        }

    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401
    import scipy.optimize  # noqa: F401

    from nst.commands.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    stage("TensorFlow imported")
    from nst.engine import memory, tiles
    from nst.engine.adam import adam_state, make_train_step
    from nst.engine.objective import Weights, objective
    from nst.engine.targets import content_target, style_targets
    from nst.engine.tiling import Plan
    from nst.homework import LEARNING_RATE

    width, height, precision = job["width"], job["height"], job.get("precision", "fp32")
    net = load_net(job["net"])
    tf.constant(0.0) + 1.0  # the runtime started
    stage("network built")
    problem = problem_of(net, width, height, precision)
    if job["plan"] == "untiled":
        choice = memory.Choice(None, memory.untiled_bytes(problem), 0)
    elif job["plan"].startswith("budget:"):
        choice = memory.plan_for(problem, float(job["plan"].split(":")[1]) * 1e9)  # GB, as --max-memory
    else:
        plan = Plan(
            **{
                k: tuple(map(tuple, v)) if k in ("forward", "backward") else (tuple(v) if k == "boundaries" else v)
                for k, v in json.loads(job["plan"]).items()
            }
        )
        choice = memory.Choice(plan, 0, 0)
    weights = Weights()
    content, style = demo_images(width, height)
    start = homework_start(content, 1)
    stage("images")
    image = tf.Variable(start, name="generated_image")
    del start
    state = adam_state(image)
    if choice.plan is None:
        a_C = content_target(net, content, weights.content_layer)
        grams = style_targets(net, style, weights.style_layers)
        stage("targets")
        evaluation = objective(net, a_C, grams, weights, precision)
    else:
        a_C = tiles.content_target(net, content, weights.content_layer, choice.plan)
        grams = tiles.style_targets(net, style, weights.style_layers, choice.plan)
        stage("targets")
        evaluation = tiles.tiled_objective(net, a_C, grams, weights, choice.plan, precision)
    step = make_train_step(evaluation, image, state, LEARNING_RATE)  # the driver's Adam step
    del style
    times = []
    for k in range(job["steps"]):
        wall, cpu = time.perf_counter(), time.process_time()
        J = float(step()[0])
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
        stage(f"step {k + 1}")
    plan = choice.plan
    return {
        **job,
        "stages": stages,
        "peak_bytes": status_bytes("VmHWM"),
        "J_after": J,
        "seconds_per_step": [t[0] for t in times],
        "cpu_seconds_per_step": [t[1] for t in times],
        "plan": None if plan is None else dataclasses.asdict(plan),
        "predicted_bytes": choice.bytes,
        # this worker has no save points (the sinks' image copies and checkpoints): the model's share of those
        "predicted_saving_bytes": memory.MEASURED.saving * width * height,
        **load_note(),
    }


def peer_worker(job):
    """The PyTorch peer (torch_gatys.py, its own venv) on the demo images at width x height: its peak resident
    set (from /proc while it runs, and getrusage's children maximum) and seconds per step."""
    import resource

    from nst.images import save_image

    with tempfile.TemporaryDirectory() as tmp:
        content, style = demo_images(job["width"], job["height"])
        paths = [Path(tmp) / "content.png", Path(tmp) / "style.png"]
        for path, image in zip(paths, (content, style)):
            save_image(path, image)
        del content, style
        argv = [
            PEER_PYTHON,
            str(PEER),
            *map(str, paths),
            "--iters",
            str(job["steps"] + 1),
            "--warmup",
            "1",
            "--channels-last",
        ]
        out, peak, _, _, _ = measured(argv, cwd=PEER.parent)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])
    return {
        **job,
        "peer": result,
        "peak_bytes": peak,
        "children_maxrss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        **load_note(),
    }


def runs_mode():
    """Whole runs one at a time (each in its own process): per net, 1920x1080 untiled and tiled under 3 GB,
    3840x2160 tiled under 3 GB (untiled it would need about 16 GB, more than this shared machine gives one
    experiment); the PyTorch peer at 1920x1080 (at 3840x2160 it would need about 4 times its 1080p peak); then
    more budgets. The results file is written after each run, and a run already in it is not run again (delete
    the file to measure afresh)."""

    steps = int(os.environ.get("PRINT_SIZE_STEPS", "2"))
    jobs = []
    for net in ("random", "imagenet"):
        jobs += [
            {"mode": "run", "net": net, "width": 1920, "height": 1080, "plan": "untiled", "steps": steps},
            {"mode": "run", "net": net, "width": 1920, "height": 1080, "plan": "budget:3", "steps": steps},
            {"mode": "run", "net": net, "width": 3840, "height": 2160, "plan": "budget:3", "steps": steps},
        ]
    jobs.append({"mode": "peer", "width": 1920, "height": 1080, "steps": steps})
    jobs += [
        {"mode": "run", "net": "random", "width": 1920, "height": 1080, "plan": "budget:2", "steps": steps},
        {"mode": "run", "net": "random", "width": 3840, "height": 2160, "plan": "budget:6", "steps": steps},
    ]
    only = os.environ.get("PRINT_SIZE_ONLY")
    if only:
        jobs = [job for k, job in enumerate(jobs) if str(k) in only.split(",")]
    path = RESULTS / "print_size_runs.json"
    out = (
        json.loads(path.read_text())
        if path.exists()
        else {"machine": machine(), "command": "python -m benchmarks print_size runs", **load_note(), "runs": []}
    )

    def done(job):  # a job measured already (this mode continues an interrupted round)
        return any(all(run.get(key) == value for key, value in job.items()) for run in out["runs"])

    for job in jobs:
        if done(job):
            continue
        result = run_worker(job)
        out["runs"].append(result)
        write("runs", out)
        step = result.get("cpu_seconds_per_step") or []
        print(
            f"{job.get('net', 'peer')} {job['width']}x{job['height']} {job.get('plan', 'torch')}: peak "
            f"{result['peak_bytes'] / 1e9:.2f} GB"
            + (f" (predicted {result['predicted_bytes'] / 1e9:.2f})" if result.get("predicted_bytes") else "")
            + (f", {result['seconds_per_step'][-1]:.1f} s/step wall, {step[-1]:.1f} CPU s" if step else "")
            + (f", peer {result['peer']['median']:.1f} s/step" if "peer" in result else "")
            + f" (load {result['load_average'][0]:.1f})",
            flush=True,
        )


def ratio_mode():
    """One process, 1920x1080 on the random VGG-19: the untiled value and gradient beside tiled ones (the plans
    the planner picks under budgets, and the single-segment scheme at --tile 512 and 768), rounds interleaved; CPU
    and wall seconds, the plan's predicted work, and each tiled J and gradient against the untiled ones."""
    import numpy as np
    import tensorflow as tf

    from nst.engine import memory, tiles
    from nst.engine.objective import Weights, objective
    from nst.engine.targets import content_target, style_targets

    width, height = (int(v) for v in os.environ.get("PRINT_SIZE_RATIO", "1920x1080").split("x"))
    rounds = int(os.environ.get("PRINT_SIZE_ROUNDS", "3"))
    net = load_net(os.environ.get("PRINT_SIZE_NET", "random"))
    weights = Weights()
    content, style = demo_images(width, height)
    start = homework_start(content, 1)
    a_C = content_target(net, content, weights.content_layer)
    grams = style_targets(net, style, weights.style_layers)
    untiled = objective(net, a_C, grams, weights)
    problem = problem_of(net, width, height, "fp32")
    full = memory.untiled_macs(problem.layers, height, width, problem.style_levels, problem.deepest)
    variants = {"untiled": (untiled.value_and_grad, None, 1.0)}
    for budget in (2.0, 2.5, 3.0, 4.0):
        choice = memory.plan_for(problem, budget * 1e9)
        if choice.plan is not None:
            obj = tiles.tiled_objective(net, a_C.numpy(), grams, weights, choice.plan)
            variants[f"planned for {budget:g} GB"] = (obj.value_and_grad, choice.plan, choice.macs / full)
    for edge in (512, 768):
        choice = memory.forced_plan(problem, edge)
        obj = tiles.tiled_objective(net, a_C.numpy(), grams, weights, choice.plan)
        variants[f"one segment, --tile {edge}"] = (obj.value_and_grad, choice.plan, choice.macs / full)
    image = tf.constant(start)
    results = {
        name: {
            "wall": [],
            "cpu": [],
            "plan": None if plan is None else dataclasses.asdict(plan),
            "predicted_work": work,
        }
        for name, (_, plan, work) in variants.items()
    }
    reference = None
    for name, (call, _, _) in variants.items():  # warm up (traces), and the numbers against the untiled ones
        values = call(image)
        if reference is None:
            reference = (float(values[0]), np.asarray(values[3]))
        grad = np.asarray(values[3])
        results[name]["J"] = float(values[0])
        results[name]["J_relative_error"] = abs(float(values[0]) / reference[0] - 1)
        results[name]["gradient_relative_error"] = float(
            np.max(np.abs(grad - reference[1])) / np.max(np.abs(reference[1]))
        )
        del values, grad
    for _ in range(rounds):
        for name, (call, _, _) in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            values = call(image)
            float(values[0])
            results[name]["wall"].append(time.perf_counter() - wall)
            results[name]["cpu"].append(time.process_time() - cpu)
            del values
        print(f"round done (load {os.getloadavg()[0]:.1f})", flush=True)
    base_cpu, base_wall = min(results["untiled"]["cpu"]), min(results["untiled"]["wall"])
    for name, r in results.items():
        r["cpu_ratio"], r["wall_ratio"] = min(r["cpu"]) / base_cpu, min(r["wall"]) / base_wall
        print(
            f"{name:28} CPU {min(r['cpu']):6.1f} s ({r['cpu_ratio']:.2f}x), wall {min(r['wall']):6.1f} s "
            f"({r['wall_ratio']:.2f}x), predicted work {r['predicted_work']:.2f}x; "
            f"J error {r['J_relative_error']:.1e}, "
            f"gradient error {r['gradient_relative_error']:.1e}",
            flush=True,
        )
    out = {
        "machine": machine(),
        "command": "python -m benchmarks print_size ratio",
        "size": [width, height],
        "net": os.environ.get("PRINT_SIZE_NET", "random"),
        **load_note(),
        "variants": results,
    }
    write("ratio" if width == 1920 else f"ratio_{width}x{height}", out)


def plans_mode():
    """What the planner picks (no TensorFlow): for VGG-19 and VGG-16 with the real widths, fp32 and bf16, at
    1920x1080 and 3840x2160 under budgets, the plan, its predicted peak and its work (multiply-adds / the untiled
    evaluation's), beside the best plan of one segment (the classic halo'd tiles) and --tile 512 / 768."""
    from nst.engine import memory

    out = {
        "command": "python -m benchmarks print_size plans",
        "measured": dataclasses.asdict(memory.MEASURED),
        "rows": [],
    }
    for network in ("VGG-19", "VGG-16"):
        layers, weights_bytes = memory.vgg_layers(network)
        style = tuple(memory_levels(layers, ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")))
        content = memory_levels(layers, ("conv4_2",))[0]
        for itemsize in (4, 2):
            for width, height in ((1920, 1080), (3840, 2160)):
                problem = memory.Problem(layers, weights_bytes, height, width, style, content, itemsize)
                full = memory.untiled_macs(layers, height, width, style, problem.deepest)
                row = {
                    "network": network,
                    "precision": "fp32" if itemsize == 4 else "bf16",
                    "size": [width, height],
                    "untiled_bytes": memory.untiled_bytes(problem),
                    "smallest_bytes": memory.smallest_budget(problem),
                    "budgets": [],
                }
                for budget in (2e9, 3e9, 4e9, 6e9, 8e9):
                    options = memory.choices(problem, budget)
                    single = [c for c in options if not c.plan.boundaries and c.bytes <= budget]
                    try:
                        choice = memory.plan_for(problem, budget)
                    except memory.NoPlan:
                        row["budgets"].append({"budget": budget, "plan": None, "fits": False})
                        continue
                    row["budgets"].append(
                        {
                            "budget": budget,
                            "fits": True,
                            "predicted_bytes": choice.bytes,
                            "plan": None if choice.plan is None else dataclasses.asdict(choice.plan),
                            "work": round(choice.macs / full, 3),
                            "one_segment_work": round(min(c.macs for c in single) / full, 3) if single else None,
                        }
                    )
                row["tile"] = {
                    edge: {"work": round(c.macs / full, 3), "predicted_bytes": c.bytes}
                    for edge in (512, 768)
                    for c in [memory.forced_plan(problem, edge)]
                }
                out["rows"].append(row)
                print(
                    network,
                    row["precision"],
                    f"{width}x{height}: untiled {row['untiled_bytes'] / 1e9:.1f} GB, "
                    f"smallest {row['smallest_bytes'] / 1e9:.2f} GB; "
                    + ", ".join(
                        f"{b['budget'] / 1e9:g} GB: "
                        + (f"{b['work']:.2f}x (one segment: {b['one_segment_work']})" if b["fits"] else "no plan")
                        for b in row["budgets"]
                    ),
                    flush=True,
                )
    write("plans", out)


def memory_levels(layers, names):
    from nst.engine.tiling import level_of

    return [level_of(layers, name) for name in names]


def table_mode():
    """The markdown rows of docs/benchmarks/print-size.md from the results files: each run's measured peak beside
    the memory model's prediction for its plan (nst.engine.memory.plan_bytes, the constants as they are now; the
    benchmark's runs have no save points, so the model's save-point share is left out of their prediction)."""
    import numpy as np

    from nst.engine import memory
    from nst.engine.tiling import Plan

    runs = json.loads((RESULTS / "print_size_runs.json").read_text())["runs"]
    print("| net | size | plan | predicted peak | measured peak | CPU s/step | wall s/step | load |")
    print("|---|---|---|---|---|---|---|---|")
    untiled_cpu = {}
    for r in runs:
        if r["mode"] == "peer":
            print(
                f"| PyTorch peer (random VGG-19) | {r['width']}×{r['height']} | whole | — | "
                f"{r['peak_bytes'] / 1e9:.2f} GB | — | {r['peer']['median']:.1f} | {r['load_average'][0]:.1f} |"
            )
            continue
        layers, weights_bytes = memory.vgg_layers("VGG-19" if r["net"] == "random" else "VGG-16")
        problem = memory.Problem(
            layers,
            weights_bytes,
            r["height"],
            r["width"],
            tuple(memory_levels(layers, ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"))),
            memory_levels(layers, ("conv4_2",))[0],
        )
        unsaved = dataclasses.replace(memory.MEASURED, saving=0)  # these runs have no save points
        if r["plan"] is None:
            predicted, shown = memory.untiled_bytes(problem, unsaved), "whole"
        else:
            plan = Plan(
                tuple(r["plan"]["boundaries"]),
                tuple(map(tuple, r["plan"]["forward"])),
                tuple(map(tuple, r["plan"]["backward"])),
                r["plan"]["fused"],
            )
            predicted = memory.plan_bytes(problem, plan, unsaved)
            full = memory.untiled_macs(layers, r["height"], r["width"], problem.style_levels, problem.deepest)
            work = (
                sum(
                    memory.plan_macs(
                        layers,
                        plan,
                        r["height"],
                        r["width"],
                        problem.style_levels,
                        problem.content_level,
                        problem.deepest,
                    )
                )
                / full
            )
            split = ", ".join(layers[b - 1].name for b in plan.boundaries)
            grids = " + ".join(f"{a}x{b}" for a, b in plan.backward[:-1]) + (
                " + whole" if plan.fused else f" + {plan.backward[-1][0]}x{plan.backward[-1][1]}"
            )
            shown = f"{'split at ' + split if split else 'one segment'}; backward {grids}; work {work:.2f}×"
        cpu = float(np.min(r["cpu_seconds_per_step"][1:] or r["cpu_seconds_per_step"]))
        wall = float(np.min(r["seconds_per_step"][1:] or r["seconds_per_step"]))
        if r["plan"] is None:
            untiled_cpu[(r["net"], r["width"])] = cpu
        ratio = (
            f" ({cpu / untiled_cpu[(r['net'], r['width'])]:.2f}×)"
            if (r["net"], r["width"]) in untiled_cpu and r["plan"] is not None
            else ""
        )
        print(
            f"| {r['net']} | {r['width']}×{r['height']} | {shown} | {predicted / 1e9:.2f} GB | "
            f"{r['peak_bytes'] / 1e9:.2f} GB | {cpu:.1f}{ratio} | {wall:.1f} | {r['load_average'][0]:.1f} |"
        )


COMMANDS = {
    # the done-when run: 4K within 3 GB, the automatic 4 scales, every step saved (save points count)
    "4k": ["--width", "3840", "--height", "2160", "--max-memory", "3G", "--iterations", "2", "--save-every", "1"],
    # a finished 1920x1080 picture: L-BFGS coarse to fine (35, 17 and 8 evaluations at 480x270, 960x540, 1920x1080)
    "1080p-lbfgs": ["--width", "1920", "--height", "1080", "--optimizer", "lbfgs"],
}


def measured(argv, cwd=ROOT, env=None):
    """Run `argv` in a child process as a user would (in `env`, default this one's): (its output, its peak resident
    set (VmHWM, read from /proc every half second while it runs), wall seconds, CPU seconds (its own and its
    children's), exit code)."""
    import resource
    import threading

    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env={**(os.environ if env is None else env), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    peak = [0]

    def watch():
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], status_bytes("VmHWM", proc.pid))
            except (OSError, StopIteration):
                pass
            time.sleep(0.5)

    watcher = threading.Thread(target=watch)
    watcher.start()
    log, _ = proc.communicate()
    watcher.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return log, peak[0], wall, cpu, proc.returncode


def finish_mode(coarse_only=False):
    """The time to a finished 1920x1080 picture, whole commands on the real ImageNet VGG-16 (as a VGG-19 with
    identity conv3_4, conv4_4, conv5_4, which the peer needs; J is the VGG-16's): `nst --optimizer lbfgs` as
    chosen for a print size (coarse to fine: 35, 17 and 8 evaluations at 480x270, 960x540, 1920x1080), the same
    straight at full size (`--scales 1`: 35 evaluations at 1920x1080), and the PyTorch + scipy peer straight at
    full size (torch_lbfgs.py --optimizer scipy, from nst's own seed-1 start) until it reaches the J of nst's
    coarse-to-fine picture (at most 60 evaluations). coarse_only (`finish coarse`): nst's coarse-to-fine run
    alone, put in place of the file's (the straight run and the peer's kept, with when each was measured)."""

    from benchmarks.lbfgs_peer import vgg16_as_vgg19
    from nst.weights.cache import read_weights
    from nst.weights.imagenet import imagenet_vgg16

    width, height = 1920, 1080
    out = {
        "machine": machine(),
        "command": "python -m benchmarks print_size finish",
        "size": [width, height],
        "network": "real ImageNet VGG-16 (as a VGG-19 with identity conv3_4, conv4_4, conv5_4)",
        **load_note(),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        proxy = vgg16_as_vgg19(imagenet_vgg16(), Path(tmp) / "imagenet-vgg16-as-19.mat")
        read_weights(proxy)  # nst's weights cache warm, as on a second run
        runs = (("nst coarse to fine", []), ("nst straight", ["--scales", "1"]))
        if coarse_only:
            kept = json.loads((RESULTS / "print_size_finish.json").read_text())
            earlier = {"load_average": kept.get("load_average"), "recorded_from": kept.get("recorded_from")}
            out["runs"] = {name: {"earlier_run": earlier, **run} for name, run in kept["runs"].items()}
            runs = runs[:1]
        for name, extra in runs:
            folder = Path(tmp) / name.replace(" ", "-")
            argv = [
                sys.executable,
                "-m",
                "nst",
                "--weights",
                str(proxy),
                "--seed",
                "1",
                "--no-progress",
                "--output-dir",
                str(folder),
                "--width",
                str(width),
                "--height",
                str(height),
                "--optimizer",
                "lbfgs",
                *extra,
            ]
            log, peak, wall, cpu, code = measured(argv)
            if code != 0:
                sys.exit(f"nst failed:\n{log[-3000:]}")
            manifest = json.loads((folder / "run.json").read_text())
            out["runs"][name] = {
                "arguments": argv[3:],
                "peak_bytes": peak,
                "wall_seconds": wall,
                "cpu_seconds": cpu,
                "final_costs": manifest["final_costs"],
                "lines": [line for line in log.splitlines() if line.startswith(("Scale ", "L-BFGS"))],
                "load_average_after": os.getloadavg(),
            }
            print(
                f"{name}: {wall:.0f} s wall, {cpu:.0f} CPU s, peak {peak / 1e9:.2f} GB, "
                f"J {manifest['final_costs']['total']:.5g}",
                flush=True,
            )
        write("finish", out)  # kept before the peer runs: a failed peer leaves nst's runs on record
        if not coarse_only:
            finish_peer(out, proxy, Path(tmp))


def finish_peer(out=None, proxy=None, tmp=None):
    """The peer's side of finish_mode: torch_lbfgs.py --optimizer scipy straight at full size, from nst's own
    seed-1 start, until it reaches the J of nst's coarse-to-fine picture (at most 60 evaluations); added to
    print_size_finish.json (`python -m benchmarks print_size finish-peer` runs it alone on the file's target)."""
    import numpy as np

    if out is None:
        from benchmarks.lbfgs_peer import vgg16_as_vgg19
        from nst.weights.imagenet import imagenet_vgg16

        out = json.loads((RESULTS / "print_size_finish.json").read_text())
        with tempfile.TemporaryDirectory() as scratch:
            proxy = vgg16_as_vgg19(imagenet_vgg16(), Path(scratch) / "imagenet-vgg16-as-19.mat")
            return finish_peer(out, proxy, Path(scratch))
    if not PEER.is_file():
        sys.exit(f"no {PEER}: set NST_PEERS to the folder of the PyTorch peers")
    width, height = out["size"]
    target = out["runs"]["nst coarse to fine"]["final_costs"]["total"]
    images = tmp / "peer-images"
    images.mkdir()
    content, style = demo_images(width, height)
    np.save(images / "content_norm.npy", content)
    np.save(images / "style_norm.npy", style)
    np.save(images / "init_seed1.npy", homework_start(content, 1))
    argv = [
        PEER_PYTHON,
        str(PEER.parent / "torch_lbfgs.py"),
        str(proxy),
        str(images),
        "--target",
        repr(target),
        "--optimizer",
        "scipy",
        "--max-evals",
        "60",
    ]
    log, peak, wall, cpu, code = measured(argv, cwd=PEER.parent)
    if code != 0:
        sys.exit(f"the peer failed:\n{log[-3000:]}")
    result = json.loads(next(line for line in log.splitlines() if line.startswith("RESULT "))[7:])
    out["runs"]["peer straight"] = {
        "arguments": [
            "torch_lbfgs.py",
            "PROXY",
            "IMGDIR",
            "--target",
            target,
            "--optimizer",
            "scipy",
            "--max-evals",
            60,
        ],
        "peak_bytes": peak,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "result": result,
        "load_average_after": os.getloadavg(),
    }
    print(f"peer straight: {wall:.0f} s wall, {cpu:.0f} CPU s, peak {peak / 1e9:.2f} GB, {result}", flush=True)
    write("finish", out)


def command_mode(name, net="random"):
    """The whole command `nst ...` (COMMANDS[name]) in a child process, as a user runs it: its peak resident set
    (VmHWM read from /proc while it runs), wall and CPU seconds, its log's
    plan lines and run.json's memory record and final costs."""

    with tempfile.TemporaryDirectory() as tmp:
        if net == "random":
            from nst.weights.testnet import REAL_WIDTHS, write_test_vgg

            weights = write_test_vgg(Path(tmp) / "vgg19-real-widths.mat", widths=REAL_WIDTHS, seed=0)
        else:
            from nst.weights.imagenet import imagenet_vgg16

            weights = imagenet_vgg16()
        out = Path(tmp) / "out"
        argv = [
            sys.executable,
            "-m",
            "nst",
            "--weights",
            str(weights),
            "--seed",
            "1",
            "--no-progress",
            "--output-dir",
            str(out),
            *COMMANDS[name],
        ]
        log, peak, wall, cpu, code = measured(argv)
        if code != 0:
            sys.exit(f"nst failed:\n{log[-3000:]}")
        manifest = json.loads((out / "run.json").read_text())
    result = {
        "machine": machine(),
        "command": f"python -m benchmarks print_size command {name} {net}",
        "nst_arguments": COMMANDS[name],
        "net": net,
        **load_note(),
        "peak_bytes": peak,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "plan_lines": [line for line in log.splitlines() if " in tiles: " in line or line.startswith("Scale ")],
        "memory": manifest.get("memory"),
        "final_costs": manifest["final_costs"],
        "seconds_per_iteration": manifest["seconds_per_iteration"],
    }
    print(
        f"{name} ({net}): peak {peak / 1e9:.2f} GB, {wall:.0f} s wall, {result['cpu_seconds']:.0f} CPU s, "
        f"final J {result['final_costs']['total']:.4g} (load {result['load_average'][0]:.1f})"
    )
    print("\n".join(result["plan_lines"]))
    write(f"command_{name}_{net}", result)


def write(mode, out):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"print_size_{mode}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


MODES = {
    "finish": finish_mode,
    "finish-peer": finish_peer,
    "tiles": tiles_mode,
    "lbfgs": lbfgs_mode,
    "runs": runs_mode,
    "ratio": ratio_mode,
    "plans": plans_mode,
    "table": table_mode,
}
WORKERS = {"tile": tile_worker, "lbfgs": lbfgs_worker, "run": run_worker_job, "peer": peer_worker}


def worker(job):
    """One measurement in a process of its own (`python -m benchmarks print_size --worker JOB`)."""
    return WORKERS[job.get("mode", "tile")](job)


def main(argv):
    if len(argv) == 1 and argv[0] in MODES:
        return MODES[argv[0]]()
    if argv == ["finish", "coarse"]:
        return finish_mode(coarse_only=True)
    if len(argv) in (2, 3) and argv[0] == "command" and argv[1] in COMMANDS:
        return command_mode(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2
