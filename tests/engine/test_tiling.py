"""Where tiles lie (nst.engine.tiling): every position owned once, crops aligned and uniform, halos that cover."""

import itertools

import pytest

from nst.engine.tiling import CONV, POOL, Plan, back, level_size, network_layers, poolings, segment_tiling
from nst.weights.matconvnet import CONV_NAMES, NETWORKS, conv_names, layer_order
from nst.weights.testnet import REAL_WIDTHS


def vgg_layers(network="VGG-19"):
    names = conv_names(NETWORKS[network])
    shapes, c_in = {}, 3
    for name in names:
        width = REAL_WIDTHS[int(name[4]) - 1]
        shapes[name], c_in = (3, 3, c_in, width), width
    return network_layers(layer_order(names), shapes)


LAYERS = vgg_layers()
STYLE = (1, 4, 7, 12, 17)  # conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 of VGG-19
CONTENT = 13  # conv4_2


def test_vgg19_geometry():
    assert [layer.name for layer in LAYERS[:3]] == ["conv1_1", "conv1_2", "avgpool1"]
    assert LAYERS[STYLE[-1] - 1].name == "conv5_1" and LAYERS[CONTENT - 1].name == "conv4_2"
    assert poolings(LAYERS, 0, 17) == 4
    assert [level_size(1081, LAYERS, level) for level in (0, 3, 6, 11, 16)] == [1081, 541, 271, 136, 68]
    # conv5_1's receptive field: 156 px, 70 to the left of a position's 16-pixel block and 85 to its right
    j = 20
    lo, hi = back(LAYERS, 0, 17, j, j + 1, 10_000)[0]
    assert (16 * j - lo, hi - 16 * j, hi - lo) == (70, 86, 156)


@pytest.mark.parametrize("height, width", [(75, 101), (1081, 1919), (33, 17), (1, 1)])
@pytest.mark.parametrize("start, stop", [(0, 17), (0, 3), (3, 11), (11, 17), (6, 17)])
def test_tiles_own_every_position_once(height, width, start, stop):
    levels = [level for level in (*STYLE, CONTENT) if start < level <= stop]
    for rows, columns in ((1, 1), (2, 3), (4, 5), (7, 2)):
        tiling = segment_tiling(LAYERS, start, stop, height, width, rows, columns, levels)
        for axis, n in ((tiling.rows, height), (tiling.columns, width)):
            for level in {*levels, stop}:
                size = level_size(n, LAYERS, level)
                owned = sorted(own[level] for own in axis.owned)
                assert owned[0][0] == 0 and owned[-1][1] == size
                assert all(a[1] == b[0] for a, b in zip(owned, owned[1:]))
                assert all(lo < hi for lo, hi in owned)


@pytest.mark.parametrize("height, width", [(75, 101), (1081, 1919), (540, 960)])
@pytest.mark.parametrize("start, stop", [(0, 17), (0, 6), (3, 11), (11, 17), (16, 17)])
def test_crops_are_aligned_uniform_and_cover_what_each_tile_needs(height, width, start, stop):
    stride = 2 ** poolings(LAYERS, start, stop)
    levels = [level for level in (*STYLE, CONTENT) if start < level <= stop]
    for rows, columns in ((1, 1), (3, 2), (5, 6)):
        tiling = segment_tiling(LAYERS, start, stop, height, width, rows, columns, levels)
        for axis, n in ((tiling.rows, height), (tiling.columns, width)):
            n_in = level_size(n, LAYERS, start)
            for crop, owned in zip(axis.crops, axis.owned):
                assert crop % stride == 0 and 0 <= crop and crop + axis.length <= n_in
                keep = {level: owned[level] for level in levels}
                for level, (lo, hi) in back(LAYERS, start, stop, *owned[stop], n, keep).items():
                    f = 2 ** poolings(LAYERS, start, level)
                    crop_lo, crop_hi = crop // f, -(-(crop + axis.length) // f)
                    assert crop_lo <= lo and hi <= crop_hi, (level, crop, lo, hi)


def test_a_crop_ending_inside_the_image_never_cuts_a_needed_pooling_window():
    # odd crop lengths inside the image: the crop's own SAME padding must only touch positions nobody owns
    for n, count in itertools.product((99, 101, 257, 1081), (2, 3, 5)):
        tiling = segment_tiling(LAYERS, 0, 17, n, n, count, 1, (*STYLE, CONTENT))
        for crop, owned in zip(tiling.rows.crops, tiling.rows.owned):
            needed = back(LAYERS, 0, 17, *owned[17], n, {level: owned[level] for level in (*STYLE, CONTENT)})
            for level in range(1, 18):
                if LAYERS[level - 1].kind == POOL and crop + tiling.rows.length < n:
                    f = 2 ** poolings(LAYERS, 0, level - 1)
                    local_end = -(-(crop + tiling.rows.length) // f)  # the crop's end at the pooling's input
                    lo, hi = needed[level]
                    assert 2 * hi <= local_end  # the last needed window lies whole inside the crop


def test_vgg16_layers_and_plan_segments():
    layers = vgg_layers("VGG-16")
    assert sum(layer.kind == CONV for layer in layers) == 13
    plan = Plan((3, 10), ((1, 1), (2, 2), (1, 2)), ((2, 2), (2, 2), (1, 1)), True)
    assert plan.segments(15) == [(0, 3), (3, 10), (10, 15)]
    assert plan.record(layers)["boundaries"] == ["avgpool1", "avgpool3"]
    with pytest.raises(ValueError):
        Plan((3,), ((1, 1),), ((1, 1),))
    with pytest.raises(ValueError):
        Plan((), ((1, 1),), ((2, 2),), True)
    assert len(CONV_NAMES) == 16
