"""L-BFGS against the PyTorch + scipy peer: `nst --optimizer lbfgs` and torch_lbfgs.py, whole commands, to the same J.

    python -m nst.weights.imagenet     # once: pretrained-model/imagenet-vgg-verydeep-16.mat
    python -m benchmarks lbfgs_peer --torch-python TORCHVENV/bin/python --peers ../shared/peers
    python -m benchmarks lbfgs_peer ... --size 100x75 --target-steps 20 --rounds 1 --out /tmp/peer.json  # that it runs

The peer (`torch_lbfgs.py MAT IMGDIR --target J --optimizer scipy`: scipy's L-BFGS-B bounded to 0..255 with the
value and gradient from PyTorch, nst's own L-BFGS set-up) reads VGG-19's layer names, so both run the ImageNet
VGG-16 written as a VGG-19 whose conv3_4, conv4_4 and conv5_4 are identity convs (the kernel's centre an identity
matrix, no bias): after a ReLU an identity conv and its ReLU change nothing, so every activation the objective
reads, and J, are the VGG-16's, and both sides pay the two extra convs alike. The images are the peer's own
preparation of the demo images with nst's loader (`prep_images.py`: 400x300, the homework's start of seed 1).

The target: the J (in fp32) of the homework's 200 fp32 Adam steps from that start (the one
benchmarks/results/picture.json measured on the same network, images and start; computed here when that is not
the run asked for; or --target). nst's evaluations to it are found first (in-process, as benchmarks.common.lbfgs_until);
then, round by round and alternating, the whole commands are timed from their process's start to its end:
`python -m nst --weights PROXY --seed 1 --optimizer lbfgs --precision fp32 --iterations E` (weights cache warm)
and the peer's command, which stops at the first iteration at or below the target. The torch side needs a
Python with torch (not one of nst's dependencies): `python3 -m venv VENV && VENV/bin/pip install torch numpy
scipy imageio pillow`. Writes benchmarks/results/lbfgs_peer.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    RESULTS,
    ROOT,
    Clock,
    Problem,
    adam_until,
    describe,
    homework_start,
    lbfgs_until,
    machine,
    nst_command,
    parse_size,
    write_result,
)

SEED = 1


def vgg16_as_vgg19(vgg16, path):
    """Write the VGG-16 file `vgg16` as a VGG-19 file at `path`: its convs, and identity convs as conv3_4, conv4_4
    and conv5_4 (3x3 kernels whose centre is the identity matrix, zero bias). Returns `path`."""
    import numpy as np

    from nst.vgg import read_vgg_weights
    from nst.weights.matconvnet import NETWORKS
    from nst.weights.testnet import network_layers, write_test_vgg

    weights, _ = read_vgg_weights(vgg16)
    conv = []
    for block, n in NETWORKS["VGG-19"]:
        for k in range(1, n + 1):
            name = f"conv{block}_{k}"
            if name in weights:
                W, b = weights[name]
                conv.append((np.asarray(W, np.float32), np.asarray(b, np.float32).reshape(-1, 1)))
            else:
                width = conv[-1][0].shape[3]
                W = np.zeros((3, 3, width, width), np.float32)
                W[1, 1] = np.eye(width, dtype=np.float32)
                conv.append((W, np.zeros((width, 1), np.float32)))
    return write_test_vgg(path, layers=network_layers(conv, [], layout="new", network="VGG-19"), descriptions=())


def picture_target(size, steps, weights):
    """(J, where from) of the homework's run as benchmarks/results/picture.json measured it, when that is the run
    asked for (the ImageNet VGG-16, this size, seed and number of steps); (None, None) otherwise."""
    path = RESULTS / "picture.json"
    if weights is not None or not path.is_file():
        return None, None
    picture = json.loads(path.read_text())
    reference = picture["modes"][0]
    if (picture["size"], picture["seed"], reference["mode"], reference["steps"]) != (
        f"{size[0]}x{size[1]}",
        SEED,
        "adam-fp32",
        steps,
    ) or "ImageNet VGG-16" not in picture["network"]:
        return None, None
    return picture["target_J_fp32"], "benchmarks/results/picture.json (the same network, images, start and steps)"


def peer_command(python, peers, weights, images, target, max_evaluations):
    """torch_lbfgs.py --optimizer scipy to `target`, from its process's start to its end: wall seconds and its
    RESULT (evaluations, the iteration that reached the target)."""
    argv = [
        python,
        str(Path(peers) / "torch_lbfgs.py"),
        str(weights),
        str(images),
        "--target",
        repr(target),
        "--optimizer",
        "scipy",
        "--max-evals",
        str(max_evaluations),
    ]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=peers, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"the peer failed:\n{proc.stderr[-2000:]}")
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    return {
        "wall_s": seconds,
        "evaluations": result["evals"],
        "first": result["first"],
        "setup_s": result["setup_s"],
        "loop_end_s": result["t_loop_end"],
        "command": "python torch_lbfgs.py PROXY IMGDIR --target J --optimizer scipy",
    }


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks lbfgs_peer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--torch-python",
        default=os.environ.get("NST_TORCH_PYTHON"),
        help="a Python with torch, numpy, scipy, imageio, pillow (default: $NST_TORCH_PYTHON)",
    )
    peers = Path(os.environ.get("NST_PEERS", ROOT.parent / "shared" / "peers"))
    parser.add_argument(
        "--peers",
        type=Path,
        default=peers,
        help="the folder of torch_lbfgs.py and prep_images.py (default: $NST_PEERS or ../shared/peers)",
    )
    parser.add_argument("--weights", type=Path, default=None, help="the VGG-16 (default: nst.weights.imagenet's)")
    parser.add_argument("--size", default="400x300", help="nst's size; the peer's images are 400x300 (prep_images.py)")
    parser.add_argument("--target", type=float, default=None, help="the J to reach (default: the homework's run's)")
    parser.add_argument("--target-steps", type=int, default=200, help="Adam steps of the run that sets the target")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-evaluations", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/lbfgs_peer.json")
    args = parser.parse_args(argv)
    if not args.torch_python:
        sys.exit(
            "give --torch-python (a Python with torch), e.g. python3 -m venv VENV && VENV/bin/pip install torch "
            "numpy scipy imageio pillow"
        )
    if not (args.peers / "torch_lbfgs.py").is_file():
        sys.exit(f"no torch_lbfgs.py in {args.peers}: give --peers")
    from nst.vgg import load_vgg_model
    from nst.weights.cache import read_weights
    from nst.weights.imagenet import imagenet_vgg16

    size = parse_size(args.size)
    t0 = time.perf_counter()
    results = {
        "machine": machine(),
        "command": "python -m benchmarks lbfgs_peer " + " ".join(argv),
        "network": "real ImageNet VGG-16 (as a VGG-19 with identity conv3_4, conv4_4, conv5_4)",
        "size": f"{size[0]}x{size[1]}",
        "seed": SEED,
        "rounds": args.rounds,
        "load_average_at_start": os.getloadavg(),
        "sides": [],
    }
    print(describe(results["machine"]), flush=True)
    torch_version = subprocess.run(
        [args.torch_python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    results["torch"] = torch_version
    with tempfile.TemporaryDirectory() as tmp:
        proxy = vgg16_as_vgg19(args.weights or imagenet_vgg16(), Path(tmp) / "imagenet-vgg16-as-19.mat")
        read_weights(proxy)  # nst's weights cache, warm for the commands below
        images = Path(tmp) / "images"
        images.mkdir()
        subprocess.run(
            [
                sys.executable,
                str(args.peers / "prep_images.py"),
                str(ROOT / "images" / "grace_hopper.jpg"),
                str(ROOT / "images" / "swirls.jpg"),
                str(images),
            ],
            check=True,
            capture_output=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        problem = Problem(load_vgg_model(proxy), *size)
        start = homework_start(problem.content, SEED)
        target, results["target_from"] = args.target, "--target"
        if target is None:
            target, results["target_from"] = picture_target(size, args.target_steps, args.weights)
        if target is None:
            _, target, _ = adam_until(problem, "fp32", start, None, args.target_steps, args.target_steps, Clock())
            results["target_from"] = f"{args.target_steps} fp32 Adam steps, computed here"
        results["target_J"] = target
        evaluations, J, _ = lbfgs_until(problem, "fp32", start, target, args.max_evaluations, Clock())
        print(f"target J {target:.7g}; nst's L-BFGS reaches {J:.7g} after {evaluations} evaluations", flush=True)
        del problem
        nst_args = [
            "--weights",
            str(proxy),
            "--seed",
            str(SEED),
            "--optimizer",
            "lbfgs",
            "--precision",
            "fp32",
            "--iterations",
            str(evaluations),
            "--no-progress",
            "--no-download",
        ]
        if size != (400, 300):
            nst_args += ["--width", str(size[0]), "--height", str(size[1])]
        runs = {"nst": [], "peer": []}
        for r in range(args.rounds):
            for side in ("nst", "peer") if r % 2 == 0 else ("peer", "nst"):
                load = os.getloadavg()
                if side == "nst":
                    run = nst_command(nst_args)
                else:
                    run = peer_command(args.torch_python, args.peers, proxy, images, target, args.max_evaluations)
                run.update(round=r + 1, load_average={"before": load, "after": os.getloadavg()})
                runs[side].append(run)
                print(f"  round {r + 1} {side}: {run['wall_s']:.1f} s  (load {load[0]:.1f})", flush=True)
    nst_J = runs["nst"][-1]["last_costs"][1]
    peer_first = runs["peer"][-1]["first"]
    results["sides"] = [
        {
            "what": "nst, the whole command",
            "command": runs["nst"][0]["command"].replace(str(proxy), "PROXY"),
            "evaluations": evaluations,
            "J": nst_J,
            "wall_s": statistics.median(r["wall_s"] for r in runs["nst"]),
        },
        {
            "what": f"PyTorch {torch_version} + scipy L-BFGS-B",
            "command": runs["peer"][0]["command"],
            "evaluations": peer_first["evals"] if peer_first else None,
            "J": peer_first["J"] if peer_first else float("nan"),
            "wall_s": statistics.median(r["wall_s"] for r in runs["peer"]),
        },
    ]
    results["runs"] = runs
    results["nst_vs_peer"] = results["sides"][0]["wall_s"] / results["sides"][1]["wall_s"]
    results.update(load_average_at_end=os.getloadavg(), wall_s=time.perf_counter() - t0)
    print(
        f"nst {results['sides'][0]['wall_s']:.1f} s ({evaluations} evaluations, J {nst_J:.7g}) against the peer "
        f"{results['sides'][1]['wall_s']:.1f} s ({results['sides'][1]['evaluations']} evaluations): "
        f"{results['nst_vs_peer']:.2f}x"
    )
    print(f"wrote {write_result(results, 'lbfgs_peer', args.out)}")
