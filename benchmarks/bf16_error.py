"""Where bf16's error comes from: bf16 against fp32 on the same image, along an fp32 Adam run.

    python benchmarks/bf16_error.py                 # 200x150, 200 steps, demo and noise images
    python benchmarks/bf16_error.py 100x75 100      # SIZE STEPS

On the benchmark net (real VGG-19 conv widths, random weights) for two problems, the demo images
(images/grace_hopper.jpg, images/swirls.jpg, the homework's start for seed 0) and bench.py's noise images
(uniform random content and style, the problem benchmarks/bf16_costs.py and the first bf16 figures used):
fp32 Adam steps, and at steps 0, 50, 100, ..., on that same image: J in fp32, the relative error of J in
bf16, of each style layer's Gram and cost, of the content cost, and of the gradient dJ/dimage (relative L2
error and cosine against fp32's). An error that is small next to J's own fall is harmless; one that grows as J
falls sets a floor below which bf16 cannot follow fp32.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def layer_errors(model, a_C, grams, image, cfg):
    """Per style layer: (Gram rel. error, layer cost rel. error); content cost rel. error; bf16 vs fp32."""
    import tensorflow as tf

    from nst.costs import compute_content_cost, layer_style_cost_from_gram, style_gram

    layers = [cfg.content_layer] + [name for name, _ in cfg.style_layers]
    fp32 = model(tf.constant(image), layers)
    bf16 = {k: tf.cast(v, tf.float32) for k, v in model(tf.cast(tf.constant(image), tf.bfloat16), layers).items()}
    rel = lambda a, b: float(tf.norm(a - b) / tf.norm(b))  # noqa: E731
    out = {}
    for name, _ in cfg.style_layers:
        g32, g16 = style_gram(fp32[name]), style_gram(bf16[name])
        c32 = layer_style_cost_from_gram(grams[name], fp32[name])
        c16 = layer_style_cost_from_gram(grams[name], bf16[name])
        out[name] = (rel(g16, g32), float(abs(c16 - c32) / c32))
    c32, c16 = (compute_content_cost(a_C, acts[cfg.content_layer]) for acts in (fp32, bf16))
    out["content"] = (None, float(abs(c16 - c32) / c32))
    return out


def main(width, height, steps):
    import numpy as np
    import tensorflow as tf

    from bench import machine, problem
    from demo_problem import Problem, adam_steps, homework_start, real_net
    from nst.settings import Config
    from nst.objective import cost_function, make_value_and_grad
    from nst.engine.targets import content_target, style_targets

    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {' '.join(info['flags'])}; {width}x{height}", flush=True)
    model = real_net()
    demo = Problem(model, width, height)
    noise_content, noise_style, noise_start = problem(width, height)
    cfg = Config()
    cases = {"demo": (demo.a_C, demo.grams, homework_start(demo.content, 0)),
             "noise": (content_target(model, noise_content, cfg.content_layer),
                       style_targets(model, noise_style, cfg.style_layers), noise_start)}
    for name, (a_C, grams, start) in cases.items():
        vg = {p: make_value_and_grad(cost_function(model, a_C, grams, Config(precision=p))) for p in ("fp32", "bf16")}
        print(f"\n{name} images: step, J (fp32), J bf16 err, grad rel err, grad cosine | per layer Gram err / cost err")
        J0 = None

        def report(i, image):
            nonlocal J0
            if i % 50 and i != steps:
                return False
            x = tf.constant(image.numpy() if hasattr(image, "numpy") else image)
            J32, _, _, g32 = vg["fp32"](x)
            J16, _, _, g16 = vg["bf16"](x)
            J0 = J0 or float(J32)
            g32, g16 = g32.numpy().ravel().astype(np.float64), g16.numpy().ravel().astype(np.float64)
            err = np.linalg.norm(g16 - g32) / np.linalg.norm(g32)
            cos = g16 @ g32 / np.linalg.norm(g16) / np.linalg.norm(g32)
            layers = layer_errors(model, a_C, grams, x.numpy(), cfg)
            cells = " ".join(f"{k}: {'-' if g is None else f'{100 * g:.2f}'}/{100 * c:.2f}%" for k, (g, c) in layers.items())
            print(f"  {i:4d} J {float(J32):.5g} ({float(J32) / J0:.2g} of start) J err {100 * abs(float(J16 - J32)) / float(J32):.2f}% "
                  f"grad err {100 * err:.1f}% cos {cos:.4f} | {cells}", flush=True)
            return False

        report(0, start)
        adam_steps(cost_function(model, a_C, grams, cfg), start, steps, report)


if __name__ == "__main__":
    from demo_problem import size_and_count

    main(*size_and_count(sys.argv[1:], "200x150", 200, "usage: python benchmarks/bf16_error.py [WIDTHxHEIGHT [STEPS]]"))
