"""Why nst can compute a conv's input gradient itself (nst.engine.network.conv2d_same): GFLOP/s of one conv layer.

    python -m benchmarks conv_grad        # about a minute
    python -m benchmarks conv_grad --quick   # the smallest shape only

For three VGG-19 layer shapes at 400x300 and in float32 and bfloat16: the forward conv, TF's own input
gradient (Conv2DBackpropInput, what tf.GradientTape uses for tf.nn.conv2d), and the same gradient as nst
computes it (a forward conv of dy with the kernel rotated 180 degrees, channels swapped); each also with XLA.
Best of 5 calls after one warm-up; 2*9*C*C*H*W FLOP each.
"""

import argparse
import time

import tensorflow as tf

SHAPES = ((300, 400, 64), (150, 200, 128), (75, 100, 256))  # conv1_2, conv2_2, conv3_x at 400x300


def best_seconds(fn, *args, repeats=5):
    fn(*args).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args).numpy()
        times.append(time.perf_counter() - t)
    return min(times)


def forward(x, W):
    return tf.nn.conv2d(x, W, strides=1, padding="SAME")


def tf_input_gradient(dy, W):
    return tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.shape(dy), filter=W, out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME"
    )


def rotated_input_gradient(dy, W):
    return tf.nn.conv2d(dy, tf.transpose(tf.reverse(W, axis=[0, 1]), [0, 1, 3, 2]), strides=1, padding="SAME")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks conv_grad", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest layer shape only")
    args = parser.parse_args(argv)
    kernels = {"forward": forward, "TF input grad": tf_input_gradient, "nst input grad": rotated_input_gradient}
    print(f"{'H x W x C':16} {'dtype':9} " + " ".join(f"{name + xla:>19}" for xla in ("", " XLA") for name in kernels))
    for h, w, c in SHAPES[-1:] if args.quick else SHAPES:
        flop = 2 * 9 * c * c * h * w
        for dtype in (tf.float32, tf.bfloat16):
            x = tf.cast(tf.random.normal((1, h, w, c)), dtype)
            W = tf.cast(tf.random.normal((3, 3, c, c)) * 0.05, dtype)
            cells = []
            for jit in (False, True):
                for fn in kernels.values():
                    cells.append(flop / best_seconds(tf.function(fn, jit_compile=jit), x, W) / 1e9)
            print(f"{f'{h}x{w}x{c}':16} {dtype.name:9} " + " ".join(f"{g:19.0f}" for g in cells), flush=True)
    print("(GFLOP/s; the two gradient columns compute the same sum)")
