"""Where the tiles of a tiled evaluation lie: the network's geometry, each tile's crop and what it owns.

Pure Python, no TensorFlow: the memory planner (nst.engine.memory) uses it before TensorFlow starts.

The network is a list of `Layer`s: 3x3 stride-1 SAME convolutions (each followed by its ReLU) and 2x2 stride-2
SAME poolings. Level 0 is the image, level k the output of layers[k - 1]; an axis of n positions at one level has
ceil(n / 2) at the level after a pooling, so level k of an N-pixel axis has ceil(N / 2^p) positions where p is the
number of poolings before it (its stride).

A *segment* is a run of layers [a, b) evaluated in tiles: the positions of level b are split into chunks along
each axis; a tile owns one chunk per axis at level b, and at each level t inside the segment the positions that
pool into it (the chunk times 2^(poolings in layers[t:b]), the last chunk to the end of the axis), so the tiles
own every position of every level exactly once. To compute its owned positions exactly, a tile reads a *crop* of
level a that contains every position they depend on (the interval grows by one position each side per
convolution and doubles at each pooling: the halo, 70 px left and 85 px right of a conv5_1 position in VGG,
its 156-pixel receptive field), with

- its start a multiple of 2^(poolings in the segment) (the segment's stride), so the crop's pooling windows are the
  image's: a window never straddles the crop's start;
- its ends either the image's borders, where the crop's SAME zero padding is the image's, or far enough inside
  that the positions its padding corrupts (one per convolution, and a pooled position whose window the crop's end
  cuts) are not ones the tile owns or needs;
- one length per axis for all tiles (the length is chosen congruent to the axis's size modulo the segment's
  stride, so the last crop ends at the border with an aligned start), so that a compiled tile computation is
  traced once.

`segment_tiling` gives the crops and owned intervals; the proof that the owned values equal the untiled ones is
the interval argument above, and tests/engine/test_tiles.py checks it numerically at odd sizes and every border.
"""

import dataclasses
import itertools
import math

CONV, POOL = "conv", "pool"


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer of the network: `kind` CONV (3x3, stride 1, SAME, then ReLU) or POOL (2x2, stride 2, SAME);
    `inputs` and `channels`: its input and output channels."""

    name: str
    kind: str
    inputs: int
    channels: int


def network_layers(order, conv_shapes):
    """The Layers of a VGG: `order` its layer names (conv1_1, conv1_2, avgpool1, ...: VGG.layer_order),
    `conv_shapes` {conv name: W's shape (3, 3, C_in, C_out)}."""
    layers, channels = [], 3
    for name in order:
        if name.startswith("conv"):
            _, _, c_in, c_out = conv_shapes[name]
            layers.append(Layer(name, CONV, int(c_in), int(c_out)))
            channels = int(c_out)
        else:
            layers.append(Layer(name, POOL, channels, channels))
    return tuple(layers)


def level_of(layers, name):
    """The level of layer `name`'s output (its index + 1)."""
    return next(i for i, layer in enumerate(layers) if layer.name == name) + 1


def poolings(layers, start, stop):
    """The number of poolings in layers[start:stop]."""
    return sum(layer.kind == POOL for layer in layers[start:stop])


def level_size(n, layers, level):
    """Positions along an axis of n pixels at `level`."""
    return -(-n // 2 ** poolings(layers, 0, level))


def level_channels(layers, level):
    return 3 if level == 0 else layers[level - 1].channels


def level_sizes(n, layers):
    """[positions at level 0, 1, ..., len(layers)] along an axis of n pixels."""
    sizes = [n]
    for layer in layers:
        sizes.append(sizes[-1] if layer.kind == CONV else -(-sizes[-1] // 2))
    return sizes


def back(layers, start, stop, lo, hi, n, keep=(), sizes=None):
    """The interval of level `start` that positions [lo, hi) of level `stop` depend on (n: the image's axis
    length; sizes: level_sizes(n, layers), if known), widened at each level of `keep` to contain the interval
    given for it ({level: (lo, hi)}). Returns {level: (lo, hi)} for every level start..stop."""
    sizes = sizes or level_sizes(n, layers)
    needed = {stop: (lo, hi)}
    for level in range(stop, start, -1):
        size = sizes[level - 1]
        if layers[level - 1].kind == CONV:
            lo, hi = max(0, lo - 1), min(size, hi + 1)
        else:
            lo, hi = 2 * lo, min(size, 2 * hi)
        if level - 1 in keep:
            lo, hi = min(lo, keep[level - 1][0]), max(hi, keep[level - 1][1])
        needed[level - 1] = (lo, hi)
    return needed


def chunks(size, count):
    """[lo, hi) of `count` near-equal chunks of range(size)."""
    edges = [size * k // count for k in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


@dataclasses.dataclass(frozen=True)
class AxisTiles:
    """The tiles of a segment along one axis: `length` the crops' length at the segment's input level;
    `crops` [start] per tile; `owned` [{level: (lo, hi)}] per tile, for the levels a..b whose ownership was asked."""

    length: int
    crops: tuple
    owned: tuple

    def widest(self, level):
        """The most positions of `level` one tile owns."""
        return max(hi - lo for lo, hi in (own[level] for own in self.owned))


def axis_tiles(layers, start, stop, n, count, levels=()):
    """AxisTiles of segment layers[start:stop] along an axis of n image pixels split into `count` chunks at
    level `stop` (at most its size). `levels`: the levels inside the segment (and `stop`) whose owned intervals
    are wanted (the style, content and output levels)."""
    sizes = level_sizes(n, layers)
    size_out = sizes[stop]
    count = max(1, min(count, size_out))
    stride = 2 ** poolings(layers, start, stop)
    factors = {level: 2 ** poolings(layers, level, stop) for level in set(levels) | {stop}}
    n_in = sizes[start]
    owned, needs = [], []
    for lo, hi in chunks(size_out, count):
        own = {level: (lo * f, min(sizes[level], hi * f)) for level, f in factors.items()}
        needed = back(layers, start, stop, lo, hi, n, keep=own, sizes=sizes)[start]
        owned.append(own)
        needs.append((needed[0] // stride * stride, needed[1]))
    length = max(hi - lo for lo, hi in needs)
    length = min(n_in, length + (n_in - length) % stride)  # congruent to n_in: the last crop ends at the border
    crops = tuple(min(lo, n_in - length) for lo, _ in needs)
    return AxisTiles(length, crops, tuple(owned))


@dataclasses.dataclass(frozen=True)
class Tiling:
    """A segment's tiles: rows x columns (AxisTiles each) at the segment's input level."""

    layers: tuple
    start: int
    stop: int
    rows: AxisTiles
    columns: AxisTiles

    @property
    def count(self):
        return len(self.rows.crops) * len(self.columns.crops)

    @property
    def shape(self):
        """The crops' (height, width) at the segment's input level."""
        return self.rows.length, self.columns.length

    def tiles(self):
        """(row index, column index) of every tile, row by row."""
        return list(itertools.product(range(len(self.rows.crops)), range(len(self.columns.crops))))

    def factor(self, level):
        """The stride of `level` relative to the segment's input level."""
        return 2 ** poolings(self.layers, self.start, level)

    def local_ranges(self, i, j, levels):
        """[(r0, r1, c0, c1)]: tile (i, j)'s owned positions at each of `levels`, in its crop's coordinates."""
        out = []
        for level in levels:
            r0, c0 = self.rows.crops[i] // self.factor(level), self.columns.crops[j] // self.factor(level)
            (a, b), (c, d) = self.rows.owned[i][level], self.columns.owned[j][level]
            out.append((a - r0, b - r0, c - c0, d - c0))
        return out

    def crop(self, i, j, level):
        """(rows slice, columns slice) of tile (i, j)'s crop in the whole `level`."""
        f = self.factor(level)
        h, w = self.shape
        r0, c0 = self.rows.crops[i] // f, self.columns.crops[j] // f
        return slice(r0, r0 + -(-h // f)), slice(c0, c0 + -(-w // f))

    def owned(self, i, j, level):
        """(rows slice, columns slice) of what tile (i, j) owns of the whole `level`."""
        (a, b), (c, d) = self.rows.owned[i][level], self.columns.owned[j][level]
        return slice(a, b), slice(c, d)


def segment_tiling(layers, start, stop, height, width, rows, columns, levels=()):
    """The Tiling of segment layers[start:stop] over an image of height x width pixels, `rows` x `columns` chunks
    of level `stop` (fewer where that level has fewer positions)."""
    return Tiling(
        tuple(layers),
        start,
        stop,
        axis_tiles(layers, start, stop, height, rows, levels),
        axis_tiles(layers, start, stop, width, columns, levels),
    )


def counts_for_edge(layers, stop, height, width, edge):
    """Rows and columns of chunks of level `stop` for tiles of about `edge` image pixels."""
    return max(1, math.ceil(height / edge)), max(1, math.ceil(width / edge))


def conv_macs(layers, start, stop, height, width, gram_levels=()):
    """Multiply-adds of one forward pass of layers[start:stop] over a crop of height x width positions of level
    `start`: each convolution's 9 C_in C_out per position, plus C^2 per position for the Gram of each level in
    `gram_levels`. The input gradient of a convolution costs the same again, as does a Gram's."""
    total, h, w = 0, height, width
    for level in range(start, stop):
        layer = layers[level]
        if layer.kind == CONV:
            total += h * w * 9 * layer.inputs * layer.channels
        else:
            h, w = -(-h // 2), -(-w // 2)
        if level + 1 in gram_levels:
            total += h * w * layer.channels**2
    return total


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a tiled evaluation splits the network and the image.

    boundaries: the levels (each after a pooling) where one segment ends and the next begins; the activations
    there are kept whole between the two sweeps, and their gradient during the backward sweep.
    forward, backward: per segment, the (rows, columns) of its tiles in the forward sweep (no gradient: the
    Grams, the content cost, the boundary activations) and in the backward sweep (forward and backward again,
    the Grams fixed).
    fused: the last segment is evaluated whole, forward and backward in one pass after the forward sweep of the
    others (its `forward` entry is not used; its `backward` entry is (1, 1)).
    """

    boundaries: tuple = ()
    forward: tuple = ((1, 1),)
    backward: tuple = ((1, 1),)
    fused: bool = False

    def __post_init__(self):
        if not (len(self.forward) == len(self.backward) == len(self.boundaries) + 1):
            raise ValueError("a plan needs one forward and one backward grid per segment")
        if list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError("boundaries must be increasing")
        if self.fused and tuple(self.backward[-1]) != (1, 1):
            raise ValueError("a fused last segment is one tile")

    def segments(self, deepest):
        """[(start, stop)] of the segments for a network evaluated up to level `deepest`."""
        levels = (0,) + tuple(self.boundaries) + (deepest,)
        return list(zip(levels[:-1], levels[1:]))

    def record(self, layers):
        """The plan for logs and run.json: segments by layer names, tile grids."""
        names = ["image"] + [layer.name for layer in layers]
        return {
            "boundaries": [names[b] for b in self.boundaries],
            "forward": [list(grid) for grid in self.forward],
            "backward": [list(grid) for grid in self.backward],
            "fused": self.fused,
        }


def single_segment_plan(rows, columns):
    """The plain scheme: the whole network in one segment, rows x columns tiles in both sweeps."""
    return Plan((), ((rows, columns),), ((rows, columns),), False)
