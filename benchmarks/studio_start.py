"""How soon a Start in `nst studio` shows its first step: a new `python -m nst` per run, the warm painter's first
run (Start pressed as the studio starts) and its later runs, on the ImageNet VGG-16 (nst.weights.imagenet).

    python -m benchmarks studio_start            # 2 rounds, 200x150 and 400x300 (about 3 minutes here)
    python -m benchmarks studio_start --rounds 1 --sizes 80x60,100x75 --weights W.mat --out /tmp/s.json   # it runs

Each variant, round by round:
    new process   what every Start did before the warm painter: `python -m nst ...` as a child process
    cold painter  the first Start of a studio started just before it (its painter still importing TensorFlow)
    warm painter  a later Start of the same studio, at the size of the run before it
    warm, resized a later Start at the other size (the network is kept; the step is traced for the new size)
"First step" is the moment the page's status of the run shows one step done, timed from the Start request; for a
new process, the moment its first step's image (0.png) is written, timed from the spawn. Prints a table and
writes benchmarks/results/studio_start.json.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, parse_size, write_result

TOKEN = "benchmark-token"
VARIANTS = ("new process", "cold painter", "warm painter", "warm, resized")


def call(port, method, path, fields=None):
    body, headers = None, {"Authorization": f"token {TOKEN}"}
    if fields is not None:
        body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = json.loads(response.read())
    connection.close()
    return response.status, data


def first_step(port, size):
    """Seconds from a Start (the shipped pictures, `size`) to its first step on the page; then the run is stopped."""
    fields = {
        "content_choice": "grace_hopper.jpg",
        "style_choice": "swirls.jpg",
        "iterations": 1000,
        "width": size[0],
        "height": size[1],
        "save_every": 1000,
        "seed": 1,
    }
    started = time.perf_counter()
    status, body = call(port, "POST", "/api/runs", fields)
    assert status == 200, body
    while call(port, "GET", f"/api/runs/{body['name']}")[1]["done"] < 1:
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    call(port, "POST", f"/api/runs/{body['name']}/stop")
    while call(port, "GET", f"/api/runs/{body['name']}")[1]["state"] == "running":
        time.sleep(0.05)
    return seconds


def new_process(weights, size, out):
    """Seconds from spawning `python -m nst` (as the studio did for every Start) to its first step's image (0.png,
    written when the step after it has given its costs)."""
    out.mkdir(parents=True)
    argv = [
        sys.executable,
        "-m",
        "nst",
        "--weights",
        str(weights),
        "--width",
        str(size[0]),
        "--height",
        str(size[1]),
        "--iterations",
        "1000",
        "--save-every",
        "1000",
        "--seed",
        "1",
        "--output-dir",
        str(out),
    ]
    started = time.perf_counter()
    with open(out / "stderr.txt", "wb") as err:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    while not (out / "0.png").exists():
        assert process.poll() is None, (out / "stderr.txt").read_text()[-2000:]
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    process.kill()
    process.wait()
    return seconds


def studio(weights, output):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst",
            "studio",
            "--port",
            "0",
            "--weights",
            str(weights),
            "--output-dir",
            str(output),
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    port = int(re.search(r":(\d+)/#token=", process.stdout.readline()).group(1))
    return process, port


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks studio_start", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="200x150,400x300", help="two sizes, WIDTHxHEIGHT,WIDTHxHEIGHT")
    parser.add_argument(
        "--weights", type=Path, default=None, help="default: the ImageNet VGG-16 (nst.weights.imagenet)"
    )
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/studio_start.json")
    args = parser.parse_args(argv)
    from nst.weights.imagenet import imagenet_vgg16

    rounds, sizes = args.rounds, tuple(map(parse_size, args.sizes.split(",")))
    weights = args.weights or imagenet_vgg16()
    results = {
        "machine": machine(),
        "weights": weights.name,
        "command": "python -m benchmarks studio_start " + " ".join(argv),
        "load_average_at_start": os.getloadavg(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for size in sizes:
                other = sizes[1 - sizes.index(size)]
                row = {
                    "round": r + 1,
                    "size": f"{size[0]}x{size[1]}",
                    "new process": new_process(weights, size, Path(tmp) / f"cli-{r}-{size[0]}"),
                }
                server, port = studio(weights, Path(tmp) / f"studio-{r}-{size[0]}")
                try:
                    row["cold painter"] = first_step(port, size)
                    row["warm painter"] = first_step(port, size)
                    first_step(port, other)
                    row["warm, resized"] = first_step(port, size)
                finally:
                    server.terminate()
                    server.wait(120)
                results["runs"].append(row)
                print(
                    "  ".join(f"{k} {v:.2f} s" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                    flush=True,
                )
    results["load_average_at_end"] = os.getloadavg()
    results["median"] = {
        f"{w}x{h}": {
            v: statistics.median(row[v] for row in results["runs"] if row["size"] == f"{w}x{h}") for v in VARIANTS
        }
        for w, h in sizes
    }
    print(
        f"\nmedians over {rounds} rounds, seconds from Start to the first step shown (load average "
        f"{results['load_average_at_start'][0]:.1f} at start, {results['load_average_at_end'][0]:.1f} at end)"
    )
    for size, medians in results["median"].items():
        print(f"{size:8} " + "  ".join(f"{v} {s:.2f}" for v, s in medians.items()))
    print(f"wrote {write_result(results, 'studio_start', args.out)}")
