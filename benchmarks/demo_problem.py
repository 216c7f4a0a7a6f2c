"""What the quality benchmarks share: the nets (real-size random weights, or the real ImageNet VGG-16), the demo
images, the homework's start image per seed, fixed targets, and J of an image evaluated in fp32.

Used by bf16_quality.py, time_to_quality.py, bf16_error.py, bf16_speed.py and bf16_costs.py (the machine description comes from bench.py).
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def size_and_count(args, default_size, default_count, usage):
    """A benchmark's command line `[WIDTHxHEIGHT [N]]` -> (width, height, N); exits with `usage` when it is not."""
    try:
        width, height = (int(v) for v in (args[0] if args else default_size).split("x"))
        count = int(args[1]) if len(args) > 1 else default_count
        if len(args) > 2 or min(width, height, count) < 1:
            raise ValueError
    except ValueError:
        sys.exit(usage)
    return width, height, count


def real_net(seed=0):
    """The benchmark net: VGG-19 with the real conv widths and random weights (nst.weights.testnet), loaded."""
    from nst.weights.testnet import REAL_WIDTHS, write_test_vgg
    from nst.vgg import load_vgg_model

    with tempfile.TemporaryDirectory() as tmp:
        return load_vgg_model(write_test_vgg(Path(tmp) / "vgg19-real-conv.mat", widths=REAL_WIDTHS, seed=seed))


def imagenet_net():
    """The real ImageNet VGG-16 (nst.weights.imagenet: pretrained-model/imagenet-vgg-verydeep-16.mat, built
    once), loaded as a run loads it (average pooling, kernels as stored)."""
    from nst.vgg import load_vgg_model
    from nst.weights.imagenet import imagenet_vgg16

    return load_vgg_model(imagenet_vgg16())


NETWORKS = {"random": real_net, "imagenet": imagenet_net}
NETWORK_LABELS = {"random": "random-weight VGG-19 (real conv widths)", "imagenet": "real ImageNet VGG-16"}


def demo_images(width, height, content=None, style=None):
    """The content and style (default the demo's: images/grace_hopper.jpg, images/swirls.jpg) at width x height,
    normalized (1, H, W, 3), as a run reads them."""
    from nst.settings import DEMO_CONTENT, DEMO_STYLE
    from nst.images import load_image, reshape_and_normalize_image

    return tuple(reshape_and_normalize_image(load_image(path, width, height))
                 for path in (content or DEMO_CONTENT, style or DEMO_STYLE))


def homework_start(content, seed):
    """The homework's start image for `seed`: noise U(-20, 20) blended 0.6 with the content."""
    from nst.images import generate_noise_image

    return generate_noise_image(content, 0.6, seed=seed)


class Problem:
    """Fixed targets of the demo images at one size on one net; `costs(precision)` builds J in that precision,
    `J_fp32(image)` evaluates an image in fp32 (the objective every mode is judged by)."""

    def __init__(self, model, width, height, content=None, style=None):
        from nst.settings import Config
        from nst.objective import cost_function
        from nst.engine.targets import content_target, style_targets

        self.model, self.width, self.height = model, width, height
        self.content, self.style = demo_images(width, height, content, style)
        ref = Config()
        self.a_C = content_target(model, self.content, ref.content_layer)
        self.grams = style_targets(model, self.style, ref.style_layers)
        self._fp32 = cost_function(model, self.a_C, self.grams, ref)

    def costs(self, precision):
        from nst.settings import Config
        from nst.objective import cost_function

        return cost_function(self.model, self.a_C, self.grams, Config(precision=precision))

    def J_fp32(self, image):
        import tensorflow as tf

        return float(self._fp32(tf.convert_to_tensor(image, tf.float32))[0])


def adam_steps(costs, start, steps, on_step=None):
    """Up to `steps` homework Adam steps (TF1 Adam, lr 2.0) from `start` with J = `costs`; returns the image
    variable. on_step(i, image) after each step (i from 1), e.g. to time or evaluate; a true result stops."""
    import tensorflow as tf

    from nst.settings import Config
    from nst.optimize import adam_state, make_train_step

    image = tf.Variable(start)
    step = make_train_step(costs, image, adam_state(image), Config().learning_rate)
    for i in range(1, steps + 1):
        float(step()[0])  # read back as model_nn does
        if on_step is not None and on_step(i, image):
            break
    return image
