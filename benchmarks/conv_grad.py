"""Why nst computes a conv's input gradient itself (nst.vgg.conv2d_same): GFLOP/s of one 3x3 conv layer.

    python benchmarks/conv_grad.py        # about a minute

For three VGG-19 layer shapes at 400x300 and in float32 and bfloat16: the forward conv, TF's own input
gradient (Conv2DBackpropInput, what tf.GradientTape uses for tf.nn.conv2d), and the same gradient as nst
computes it (a forward conv of dy with the kernel rotated 180 degrees, channels swapped); each also with XLA.
Best of 5 calls after one warm-up; 2*9*C*C*H*W FLOP each.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

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
    return tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(dy), filter=W, out_backprop=dy,
                                          strides=[1, 1, 1, 1], padding="SAME")


def rotated_input_gradient(dy, W):
    return tf.nn.conv2d(dy, tf.transpose(tf.reverse(W, axis=[0, 1]), [0, 1, 3, 2]), strides=1, padding="SAME")


def main():
    kernels = {"forward": forward, "TF input grad": tf_input_gradient, "nst input grad": rotated_input_gradient}
    print(f"{'H x W x C':16} {'dtype':9} " + " ".join(f"{name + xla:>19}" for xla in ("", " XLA") for name in kernels))
    for h, w, c in SHAPES:
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


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit("usage: python benchmarks/conv_grad.py")
    main()
