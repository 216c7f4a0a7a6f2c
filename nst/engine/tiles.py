"""The objective evaluated in tiles, exactly: J and dJ/dimage of print-size images within a memory plan.

J = alpha J_content + beta sum_l lambda_l J_l (+ tv_weight TV) is the untiled objective's (nst.engine.objective);
only how it is computed differs. A style layer's Gram G_l = F_l^T F_l is a sum over positions, and J_l depends on
the image only through G_l; with the Grams known, dJ/dF_l = F_l (M_l + M_l^T) with the fixed matrix
M_l = beta lambda_l dJ_l/dG_l = beta lambda_l 2 (G_l - G_S) / (4 C^2 P^2), local in the positions. So:

1. the forward sweep (no gradient) computes every layer's activations tile by tile, accumulating each tile's share
   of the Grams (over the positions it owns) and of the content cost: J is known after it;
2. the backward sweep computes, tile by tile, forward and backward again on
   L_tile = sum_l <M_l, G_l,tile> + alpha / (4 n_H n_W n_C) sum_tile (a_C - a)^2 + <g_out, output_tile>
   and adds each tile's gradient into the whole image's (its halo's share included): the sum is dJ/dimage.

Where the tiles lie (their halos, alignment to the poolings, the uniform crop shape, what each tile owns):
nst.engine.tiling. To keep halos small, the network is split into *segments* at pooling outputs (Plan.boundaries):
the activations at a boundary are kept whole between the sweeps (the forward sweep writes each tile's owned part),
the next segment's tiles read their crops from there, and in the backward sweep the gradient with respect to a
boundary is accumulated whole, then injected into the segment before it as <g_out, output_tile>. A segment's
halo covers only its own layers' receptive field (2 px for conv1_x, 70 px for the whole network). The last
segment may be fused (Plan.fused): evaluated whole, its forward and backward once, with the true costs of its
layers (no second forward).

Computed like the untiled objective: convolutions in the precision's dtype (bfloat16 for "bf16": the boundaries
are then kept in bfloat16, as the untiled graph holds them), Grams and costs in float32; a_C in float32.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from nst.costs import style_gram
from nst.engine import device
from nst.engine.network import Kernels, conv2d_same, kernels
from nst.engine.objective import PRECISIONS, Abandoned, Objective, Weights
from nst.engine.tiling import CONV, Plan, level_channels, level_of, level_size, network_layers, segment_tiling


def layers_of(network):
    """The tiling geometry (nst.engine.tiling.Layer list) of a VGG (nst.engine.network.VGG)."""
    return network_layers(network.layer_order, {name: tuple(W.shape) for name, (W, _) in network.weights.items()})


@dataclasses.dataclass
class Setting:
    """What every sweep needs: the network and its geometry, the image size, the costs' levels and weights."""

    network: object
    layers: tuple
    height: int
    width: int
    style: dict  # {level: lambda}
    content: int | None  # the content level (None: no content cost)
    alpha: float
    beta: float
    compute: tf.DType
    kernels: Kernels  # in the compute dtype, for the gradient's convolutions
    plain: Kernels  # the same weights for TF's own convolution (a forward pass without gradient)
    functions: dict = dataclasses.field(default_factory=dict)  # traced tile functions, by segment and role
    gradient: object = None  # dJ/dimage, a float32 variable of the image's shape (tiled_objective makes it)

    @property
    def deepest(self):
        return max([*self.style, self.content or 0])

    def positions(self, level):
        return level_size(self.height, self.layers, level) * level_size(self.width, self.layers, level)


def setting(network, height, width, weights, precision="fp32", input_gradient=None, style=True, content=True):
    """The Setting of an image of height x width for `weights` (style=False / content=False leave those out)."""
    layers = layers_of(network)
    network.check_layers(weights.layers)
    if input_gradient is None:
        input_gradient = device.input_gradient(device.read_cpuinfo(), precision)
    style_levels = {level_of(layers, name): float(lam) for name, lam in weights.style_layers} if style else {}
    content_level = level_of(layers, weights.content_layer) if content else None
    deepest = layers[max([*style_levels, content_level or 0]) - 1].name
    made = kernels(network, PRECISIONS[precision], input_gradient, [deepest])
    return Setting(
        network,
        layers,
        height,
        width,
        style_levels,
        content_level,
        float(weights.alpha),
        float(weights.beta),
        PRECISIONS[precision],
        made,
        Kernels(made.dtype, "tf", made.weights, {}),
    )


def run_layers(network, k, x, layers, start, stop):
    """Activations {level: (1, h, w, C)} of layers[start:stop] applied to x (level `start`) with the kernels `k`
    (nst.engine.network.Kernels), as nst.engine.network.activations computes them from the image."""
    acts = {}
    for level in range(start, stop):
        layer = layers[level]
        if layer.kind == CONV:
            W, b = k.weights[layer.name]
            if k.input_gradient == "tf":
                y = tf.nn.conv2d(x, W, strides=1, padding="SAME")
            else:
                y = conv2d_same(x, W, k.rotated.get(layer.name))
            x = tf.nn.relu(tf.nn.bias_add(y, b))
        elif network.pooling == "avg":
            x = tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")
        else:
            x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
        acts[level + 1] = x
    return acts


def _owned(acts, ranges, k, level):
    r = ranges[k]
    return tf.cast(acts[level][:, r[0] : r[1], r[2] : r[3], :], tf.float32)


def _segment_style(s, start, stop):
    return [level for level in sorted(s.style) if start < level <= stop]


def _has_content(s, start, stop):
    return s.content is not None and start < s.content <= stop


def _tile_function(s, start, stop, levels, role, content, store):
    """The traced computation of one tile of segment [start, stop) (made once per segment, role and crop shape).

    levels: the levels whose owned ranges a call passes ((n, 4) int32 [r0, r1, c0, c1] in the crop, in order).
    content: whether the content cost is computed here (a_C given, the content level in the segment).
    role "forward": x, ranges, a_C -> (Grams of the segment's style levels over the owned positions, content sum,
    the output level's activations if `store`, else None).
    role "backward": x, ranges, a_C, Ms, g_out -> dL_tile/dx (module docstring).
    role "fused": x, a_C, G_S -> (J_l of the style levels, J_content, d(alpha J_content + beta sum lambda J_l)/dx).
    """
    style = _segment_style(s, start, stop)
    index = {level: k for k, level in enumerate(levels)}
    content_norm = float(4 * s.positions(s.content) * level_channels(s.layers, s.content)) if content else None

    def forward(x):
        # Without a gradient, TF's own convolution (grappler may fuse it with its bias and ReLU).
        return run_layers(
            s.network,
            s.plain if role == "forward" else s.kernels,
            tf.cast(x, s.compute) if start == 0 else x,
            s.layers,
            start,
            stop,
        )

    def content_sum(acts, ranges, a_C):
        r = ranges[index[s.content]]
        return tf.reduce_sum(
            tf.square(a_C[:, r[0] : r[1], r[2] : r[3], :] - _owned(acts, ranges, index[s.content], s.content))
        )

    if role == "forward":

        @tf.function
        def run(x, ranges, a_C):
            acts = forward(x)
            grams = [style_gram(_owned(acts, ranges, index[level], level)) for level in style]
            total = content_sum(acts, ranges, a_C) if content else tf.constant(0.0)
            return grams, total, (acts[stop] if store else None)
    elif role == "backward":

        @tf.function
        def run(x, ranges, a_C, Ms, g_out):
            with tf.GradientTape() as tape:
                tape.watch(x)
                acts = forward(x)
                terms = [
                    tf.reduce_sum(M * style_gram(_owned(acts, ranges, index[level], level)))
                    for M, level in zip(Ms, style)
                ]
                if content:
                    terms.append((s.alpha / content_norm) * content_sum(acts, ranges, a_C))
                if g_out is not None:
                    terms.append(tf.reduce_sum(tf.cast(acts[stop], tf.float32) * g_out))
                loss = tf.add_n(terms)
            return tape.gradient(loss, x)
    else:

        @tf.function
        def run(x, a_C, grams_S):
            with tf.GradientTape() as tape:
                tape.watch(x)
                acts = forward(x)
                J_layers = [
                    style_layer_cost(G_S, style_gram(tf.cast(acts[level], tf.float32)), s, level)
                    for G_S, level in zip(grams_S, style)
                ]
                J_content = (
                    tf.reduce_sum(tf.square(a_C - tf.cast(acts[s.content], tf.float32))) / content_norm
                    if content
                    else tf.constant(0.0)
                )
                terms = [s.beta * s.style[level] * J for J, level in zip(J_layers, style)]
                total = tf.add_n(terms + [s.alpha * J_content]) if content else tf.add_n(terms)
            return J_layers, J_content, tape.gradient(total, x)

    return run


def style_layer_cost(G_S, G, s, level):
    """J_l = sum((G_S - G)^2) / (4 C^2 P^2) with P the whole image's positions at `level` (as nst.costs)."""
    channels = level_channels(s.layers, level)
    return tf.reduce_sum(tf.square(G_S - G)) / float(4 * channels**2 * s.positions(level) ** 2)


def _function(s, start, stop, levels, role, shape, content=False, store=False):
    key = (start, stop, tuple(levels), role, tuple(shape), content, store)
    if key not in s.functions:
        s.functions[key] = _tile_function(s, start, stop, levels, role, content, store)
    return s.functions[key]


def _segment_levels(s, start, stop, keep):
    return sorted(
        {level for level in [*s.style, *keep] if start < level <= stop}
        | ({s.content} if _has_content(s, start, stop) else set())
        | {stop}
    )


def _tiling(s, start, stop, grid, levels):
    return segment_tiling(s.layers, start, stop, s.height, s.width, grid[0], grid[1], levels)


def _whole(s, level, dtype):
    return np.empty(
        (
            1,
            level_size(s.height, s.layers, level),
            level_size(s.width, s.layers, level),
            level_channels(s.layers, level),
        ),
        dtype,
    )


NO_TARGET = np.zeros((), np.float32)


def forward_sweep(s, image, plan, a_C=None, keep=(), on_tile=None, skip_last=False):
    """The forward sweep of `plan` over `image` (1, H, W, 3) float32 (numpy or a tensor).

    Returns (Grams {level: (C, C) float32 tensor}, the content cost's sum of squares (None without a_C),
    {level: whole activations, numpy} of the plan's boundaries (in the compute dtype) and of the levels in `keep`
    (float32)). skip_last: leave the last segment out (a fused one: backward_sweep evaluates it).
    """
    segments = plan.segments(s.deepest)
    grams, total, kept = {}, None, {}
    x = image
    for k, (start, stop) in enumerate(segments):
        if skip_last and k == len(segments) - 1:
            break
        levels = _segment_levels(s, start, stop, keep)
        tiling = _tiling(s, start, stop, plan.forward[k], levels)
        content = a_C is not None and _has_content(s, start, stop)
        store = stop in keep or k < len(segments) - 1
        run = _function(s, start, stop, levels, "forward", tiling.shape, content, store)
        if store:
            kept[stop] = _whole(s, stop, np.float32 if stop in keep else s.compute.as_numpy_dtype)
        for n, (i, j) in enumerate(tiling.tiles()):
            ranges = tiling.local_ranges(i, j, levels)
            target = a_C[(slice(None), *tiling.crop(i, j, s.content))] if content else NO_TARGET
            tile_grams, tile_total, out = run(
                tf.convert_to_tensor(x[(slice(None), *tiling.crop(i, j, start))]),
                tf.constant(ranges, tf.int32),
                tf.constant(target),
            )
            for level, G in zip(_segment_style(s, start, stop), tile_grams):
                grams[level] = G if level not in grams else grams[level] + G
            if content:
                total = float(tile_total) + (total or 0.0)
            if store:
                r0, r1, c0, c1 = ranges[levels.index(stop)]
                kept[stop][(slice(None), *tiling.owned(i, j, stop))] = np.asarray(out)[:, r0:r1, c0:c1, :]
            if on_tile is not None:
                on_tile("forward", k, n, tiling.count)
        x = kept.get(stop)
    return grams, total, kept


def backward_sweep(s, image, plan, kept, Ms, a_C=None, grams_S=None, on_tile=None):
    """The backward sweep of `plan`, accumulating dJ/dimage into s.gradient (a float32 variable of the image's
    shape, zeroed first); returns the fused segment's costs, ({level: J_l}, J_content or None), ({}, None)
    without one.

    kept: the forward sweep's boundary activations (consumed: each is dropped once used); Ms {level: M_l} for
    the style levels outside a fused segment; a_C whole (numpy); grams_S {level: G_S} for a fused last segment.
    """
    segments = plan.segments(s.deepest)
    g_out, fused_costs = None, ({}, None)
    gradient = s.gradient
    gradient.assign(tf.zeros_like(gradient))
    for k in range(len(segments) - 1, -1, -1):
        start, stop = segments[k]
        x = image if start == 0 else kept.pop(start)
        g_in = None if start == 0 else np.zeros(x.shape, np.float32)

        def add(where, grad, g_in=g_in):
            if g_in is None:
                gradient[where].assign(gradient[where] + tf.cast(grad, tf.float32))
            else:
                g_in[where] += np.asarray(grad, dtype=np.float32)

        style = _segment_style(s, start, stop)
        content = a_C is not None and _has_content(s, start, stop)
        if plan.fused and k == len(segments) - 1:
            run = _function(s, start, stop, (), "fused", x.shape, content)
            J_layers, J_content, grad = run(
                tf.convert_to_tensor(x), tf.constant(a_C if content else NO_TARGET), [grams_S[level] for level in style]
            )
            fused_costs = (
                {level: float(J) for level, J in zip(style, J_layers)},
                float(J_content) if content else None,
            )
            add(slice(None), grad)
            del grad
        else:
            levels = _segment_levels(s, start, stop, ())
            tiling = _tiling(s, start, stop, plan.backward[k], levels)
            run = _function(s, start, stop, levels, "backward", tiling.shape, content)
            for n, (i, j) in enumerate(tiling.tiles()):
                ranges = tiling.local_ranges(i, j, levels)
                g_local = None
                if g_out is not None:  # the gradient of the positions this tile owns at the segment's output
                    g_local = np.zeros(g_out[(slice(None), *tiling.crop(i, j, stop))].shape, np.float32)
                    r0, r1, c0, c1 = ranges[levels.index(stop)]
                    g_local[:, r0:r1, c0:c1, :] = g_out[(slice(None), *tiling.owned(i, j, stop))]
                    g_local = tf.constant(g_local)
                target = a_C[(slice(None), *tiling.crop(i, j, s.content))] if content else NO_TARGET
                where = (slice(None), *tiling.crop(i, j, start))
                add(
                    where,
                    run(
                        tf.convert_to_tensor(x[where]),
                        tf.constant(ranges, tf.int32),
                        tf.constant(target),
                        [Ms[level] for level in style],
                        g_local,
                    ),
                )
                if on_tile is not None:
                    on_tile("backward", k, n, tiling.count)
        g_out = g_in
    return fused_costs


def total_variation(image, gradient=None, weight=1.0, band=256):
    """TV of a (1, H, W, 3) float32 image (numpy or a tensor), nst.costs.total_variation_cost's squared form,
    computed in bands of `band` rows (band-sized temporaries only); with a `gradient` variable of the image's
    shape, weight * dTV/dimage is added into it."""
    _, H, W, C = image.shape
    n_y, n_x = max(1, (H - 1) * W * C), max(1, H * (W - 1) * C)
    cost = 0.0
    for r0 in range(0, H, band):
        r1 = min(H, r0 + band)
        lo, hi = max(0, r0 - 1), min(H, r1 + 1)
        x = np.asarray(image[0, lo:hi], dtype=np.float32)  # the band with a row above and below
        dy = x[1:] - x[:-1]  # pairs (i, i + 1) for i = lo .. hi - 2
        dx = x[r0 - lo : r1 - lo, 1:] - x[r0 - lo : r1 - lo, :-1]
        cost += float(np.sum(np.square(dx), dtype=np.float64)) / n_x
        cost += float(np.sum(np.square(dy[r0 - lo : min(r1, H - 1) - lo]), dtype=np.float64)) / n_y
        if gradient is None:
            continue
        g = np.zeros((r1 - r0, W, C), np.float32)
        g[:, 1:] += (2.0 / n_x) * dx
        g[:, :-1] -= (2.0 / n_x) * dx
        first = max(r0, 1)  # rows with a pair above: + its difference
        g[first - r0 :] += (2.0 / n_y) * dy[first - 1 - lo : r1 - 1 - lo]
        last = min(r1, H - 1)  # rows with a pair below: - its difference
        g[: last - r0] -= (2.0 / n_y) * dy[r0 - lo : last - lo]
        gradient[0:1, r0:r1].assign(gradient[0:1, r0:r1] + weight * g[None])
    return cost


def content_target(network, image, content_layer, plan):
    """The content target a_C (1, n_H, n_W, n_C) float32 numpy of a normalized image (1, H, W, 3), computed in the
    tiles of `plan`'s forward sweep (as nst.targets.content_target, in float32)."""
    weights = Weights(content_layer=content_layer, style_layers=())
    s = setting(network, image.shape[1], image.shape[2], weights, "fp32", "tf", style=False)
    plan = _up_to(plan, s.content)
    _, _, kept = forward_sweep(s, np.asarray(image, np.float32), plan, keep=(s.content,))
    return kept[s.content]


def style_targets(network, image, style_layers, plan):
    """The style Grams {layer name: (C, C) float32 tensor} of a normalized image (1, H, W, 3), computed in the tiles
    of `plan`'s forward sweep (as nst.targets.style_targets)."""
    weights = Weights(style_layers=tuple(style_layers))
    s = setting(network, image.shape[1], image.shape[2], weights, "fp32", "tf", content=False)
    grams, _, _ = forward_sweep(s, np.asarray(image, np.float32), _up_to(plan, s.deepest))
    names = {level_of(s.layers, name): name for name, _ in style_layers}
    return {names[level]: G for level, G in grams.items()}


def _up_to(plan, deepest):
    """`plan` for a network evaluated only up to `deepest`: boundaries at or past it dropped."""
    keep = [k for k, b in enumerate(plan.boundaries) if b < deepest]
    return Plan(
        tuple(plan.boundaries[k] for k in keep),
        tuple(plan.forward[k] for k in keep + [len(keep)]),
        tuple(plan.backward[k] for k in keep + [len(keep)]),
        False,
    )


def tiled_objective(
    network, a_C, style_grams, weights, plan, precision="fp32", input_gradient=None, on_tile=None, should_stop=None
):
    """The Objective of J for the content target `a_C` (whole, numpy: content_target), the style Grams
    {layer name: G_S} (style_targets) and `weights` (Weights), evaluated in the tiles of `plan`
    (nst.engine.tiling.Plan).

    costs(image) -> (J, J_content, J_style): the forward sweep. value_and_grad(image) -> (J, J_content, J_style,
    dJ/dimage): both sweeps. Images (1, H, W, 3) float32 (a variable, a tensor or numpy; a variable's buffer is
    read in crops, not copied); results as tensors, the gradient the value of a variable the objective keeps and
    overwrites at its next evaluation (copy it to keep it).
    on_tile(sweep, segment, tile, tiles), if given, is called after each tile (progress). should_stop() -> bool,
    if given, is asked after each tile of value_and_grad: True gives up the evaluation, raising
    nst.engine.objective.Abandoned (with the costs when the forward sweep had finished); costs() always finishes.
    """
    a_C = np.asarray(a_C, np.float32)
    settings = {}

    def settle(image):
        if isinstance(image, tf.Variable):
            image = image.value()  # the variable's buffer, no copy; the sweeps copy crops out of it
        elif not isinstance(image, tf.Tensor):
            image = np.asarray(image, np.float32)
        _, H, W, _ = image.shape
        if (H, W) not in settings:
            settings.clear()
            settings[(H, W)] = setting(network, H, W, weights, precision, input_gradient)
        s = settings[(H, W)]
        return s, image, {level: style_grams[s.layers[level - 1].name] for level in s.style}

    def finish(s, J_layers, J_content, tv):
        J_style = sum(s.style[level] * J_layers[level] for level in sorted(s.style))
        J = s.alpha * J_content + s.beta * J_style + weights.tv_weight * tv
        return tuple(tf.constant(v, tf.float32) for v in (J, J_content, J_style))

    def content_cost(s, total):
        return total / float(4 * s.positions(s.content) * level_channels(s.layers, s.content))

    def costs(image):
        s, image, grams_S = settle(image)
        grams, total, _ = forward_sweep(s, image, plan, a_C, on_tile=on_tile)
        J_layers = {level: float(style_layer_cost(grams_S[level], G, s, level)) for level, G in grams.items()}
        return finish(s, J_layers, content_cost(s, total), total_variation(image) if weights.tv_weight else 0.0)

    def checked(costs=None):
        def after_tile(*where):
            if on_tile is not None:
                on_tile(*where)
            if should_stop is not None and should_stop():
                raise Abandoned(costs)

        return after_tile

    def value_and_grad(image):
        s, image, grams_S = settle(image)
        if s.gradient is None:
            s.gradient = tf.Variable(tf.zeros(image.shape, tf.float32), trainable=False, name="tiled_gradient")
        grams, total, kept = forward_sweep(s, image, plan, a_C, on_tile=checked(), skip_last=plan.fused)
        known = None
        if not plan.fused:  # J is known now: a stop during the backward sweep keeps it
            known = finish(
                s,
                {level: float(style_layer_cost(grams_S[level], G, s, level)) for level, G in grams.items()},
                content_cost(s, total),
                total_variation(image) if weights.tv_weight else 0.0,
            )
        J_layers, Ms = {}, {}
        for level, G in grams.items():
            J_layers[level] = float(style_layer_cost(grams_S[level], G, s, level))
            channels = level_channels(s.layers, level)
            scale = s.beta * s.style[level] * 2.0 / float(4 * channels**2 * s.positions(level) ** 2)
            Ms[level] = scale * (G - grams_S[level])
        fused_layers, fused_content = backward_sweep(s, image, plan, kept, Ms, a_C, grams_S, checked(known))
        J_layers.update(fused_layers)
        J_content = content_cost(s, total) if fused_content is None else fused_content
        tv = total_variation(image, s.gradient, weights.tv_weight) if weights.tv_weight else 0.0
        return (*finish(s, J_layers, J_content, tv), s.gradient.value())

    return Objective(costs=costs, value_and_grad=value_and_grad, fused=False, plan=None)
