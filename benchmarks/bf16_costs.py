"""bf16 against fp32 in costs, not time: the same 200 Adam steps from the same start in both precisions.

    python benchmarks/bf16_costs.py                  # 200x150, 200 steps (about 2.5 minutes here)
    python benchmarks/bf16_costs.py 100x75 200       # SIZE STEPS

On the benchmark net (real VGG-19 conv widths, random weights, nst.weights.testnet) with bench.py's random images,
prints J every 50 steps for fp32 and bf16, and each final image's J as computed in its own precision and in
fp32 (the objective both are minimising), with the relative differences.
"""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(width, height, steps):
    import tensorflow as tf

    from bench import problem
    from nst.settings import Config
    from nst.objective import cost_function
    from nst.optimize import adam_state, make_train_step
    from nst.engine.targets import content_target, style_targets
    from nst.weights.testnet import REAL_WIDTHS, write_test_vgg
    from nst.vgg import load_vgg_model

    with tempfile.TemporaryDirectory() as tmp:
        model = load_vgg_model(write_test_vgg(Path(tmp) / "vgg19-real-conv.mat", widths=REAL_WIDTHS, seed=0))
    content, style, start = problem(width, height)
    ref = Config()
    a_C = content_target(model, content, ref.content_layer)
    grams = style_targets(model, style, ref.style_layers)
    in_fp32 = cost_function(model, a_C, grams, ref)
    final = {}
    print(f"{width}x{height}, {steps} steps; J before step i's update:")
    for precision in ("fp32", "bf16"):
        costs = cost_function(model, a_C, grams, Config(precision=precision))
        image = tf.Variable(start)
        step = make_train_step(costs, image, adam_state(image), ref.learning_rate)
        history = [float(step()[0]) for _ in range(steps)]
        final[precision] = (float(costs(image)[0]), float(in_fp32(image)[0]))
        marks = ", ".join(f"{i}: {history[i]:.6g}" for i in range(0, steps, 50))
        print(f"  {precision}: {marks}; final {final[precision][0]:.6g} (in fp32: {final[precision][1]:.6g})",
              flush=True)
    ref_J = final["fp32"][0]
    print(f"bf16 final J {100 * (final['bf16'][0] - ref_J) / ref_J:+.2f} % against fp32 as bf16 computes it, "
          f"{100 * (final['bf16'][1] - ref_J) / ref_J:+.2f} % evaluated in fp32")


if __name__ == "__main__":
    from demo_problem import size_and_count

    main(*size_and_count(sys.argv[1:], "200x150", 200, "usage: python benchmarks/bf16_costs.py [WIDTHxHEIGHT [STEPS]]"))
