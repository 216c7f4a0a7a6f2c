"""Adam on the pixels with TF1 `tf.train.AdamOptimizer` semantics (the homework's optimiser), bit for bit:

lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
x = x - lr_t * m / (sqrt(v) + epsilon)          (epsilon outside the bias correction)
"""

import tensorflow as tf

from nst.homework import ADAM_BETA1 as BETA1
from nst.homework import ADAM_BETA2 as BETA2
from nst.homework import ADAM_EPSILON as EPSILON

STATE_KEYS = ("m", "v", "beta1_power", "beta2_power")


def adam_state(image):
    """Fresh Adam slots for `image` as tf.Variables: m, v (zeros like image) and beta1^t, beta2^t (TF1 keeps
    these powers as variables, multiplied by beta after each step; they start at beta1 and beta2)."""
    return {
        "m": tf.Variable(tf.zeros_like(image), trainable=False, name="adam_m"),
        "v": tf.Variable(tf.zeros_like(image), trainable=False, name="adam_v"),
        "beta1_power": tf.Variable(BETA1, dtype=tf.float32, trainable=False, name="beta1_power"),
        "beta2_power": tf.Variable(BETA2, dtype=tf.float32, trainable=False, name="beta2_power"),
    }


def adam_update(var, grad, state, learning_rate, beta1=BETA1, beta2=BETA2, epsilon=EPSILON):
    """One TF1-AdamOptimizer update of `var` in place (see the module docstring for the equations).

    Computed in float32 in the order of TF1's ApplyAdam kernel, with beta^t accumulated by multiplication as
    TF1 does, so the result equals tf.compat.v1.train.AdamOptimizer bit for bit.
    """
    one, beta1, beta2 = tf.constant(1.0), tf.constant(beta1), tf.constant(beta2)
    b1_power, b2_power = state["beta1_power"], state["beta2_power"]
    lr_t = learning_rate * tf.sqrt(one - b2_power) / (one - b1_power)
    m = state["m"].assign_add((grad - state["m"]) * (one - beta1))
    v = state["v"].assign_add((tf.square(grad) - state["v"]) * (one - beta2))
    updated = var.assign_sub(m * lr_t / (tf.sqrt(v) + epsilon))
    b1_power.assign(b1_power * beta1)
    b2_power.assign(b2_power * beta2)
    return updated


def make_train_step(objective, image, state, learning_rate, jit_compile=None):
    """One Adam step as a callable: the costs of the current image, its gradient, one update of `image` (a
    tf.Variable) and `state`. Returns (J, J_content, J_style) of the image before the update.

    A fused objective (the whole image) is traced once into one tf.function with the update (no arguments: image
    and state are variables); jit_compile=True compiles it with XLA. Otherwise (a tiled objective) the objective's
    own value_and_grad runs, then a compiled update.
    """
    if objective.fused:

        @tf.function(jit_compile=jit_compile)
        def train_step():
            with tf.GradientTape() as tape:
                J, J_content, J_style = objective.costs(image)
            grad = tape.gradient(J, image)
            adam_update(image, grad, state, learning_rate)
            return J, J_content, J_style

        return train_step

    update = tf.function(lambda grad: adam_update(image, grad, state, learning_rate))

    def tiled_step():
        J, J_content, J_style, grad = objective.value_and_grad(image)
        update(grad)
        return J, J_content, J_style

    return tiled_step


def state_arrays(state):
    """Adam's state as float32 numpy arrays {m, v, beta1_power, beta2_power} (what a checkpoint keeps)."""
    return {key: state[key].numpy() for key in STATE_KEYS}
