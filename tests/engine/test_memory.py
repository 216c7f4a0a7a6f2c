"""The memory model and planner (nst.engine.memory): plans that fit, the smallest budget, what a plan computes."""

import pytest
from test_tiling import CONTENT, LAYERS, STYLE

from nst.engine import memory
from nst.engine.tiling import Plan, conv_macs, single_segment_plan

VGG19_WEIGHTS = 80_100_000


def problem(width, height, **options):
    return memory.Problem(LAYERS, VGG19_WEIGHTS, height, width, STYLE, CONTENT, **options)


def untiled_macs(p):
    return 2 * conv_macs(p.layers, 0, p.deepest, p.height, p.width, p.style_levels)


def test_the_untiled_evaluation_is_chosen_when_it_fits():
    p = problem(400, 300)
    choice = memory.plan_for(p, 8 * memory.GiB)
    assert choice.plan is None and choice.bytes == memory.untiled_bytes(p) and choice.macs == untiled_macs(p)


@pytest.mark.parametrize("width, height", [(1920, 1080), (3840, 2160), (1001, 777)])
def test_plans_fit_their_budget_and_more_memory_never_costs_more(width, height):
    p = problem(width, height)
    smallest = memory.smallest_budget(p)
    untiled = memory.untiled_bytes(p)
    assert smallest < untiled
    with pytest.raises(memory.NoPlan) as refused:
        memory.plan_for(p, smallest - 1)
    assert refused.value.smallest == smallest
    last = None
    for k in range(6):
        budget = smallest + (untiled - smallest) * k / 6
        choice = memory.plan_for(p, budget)
        assert choice.plan is not None and choice.bytes <= budget
        assert memory.plan_bytes(p, choice.plan) == choice.bytes  # the planner's prediction is the plan's
        assert choice.macs >= untiled_macs(p)
        assert last is None or choice.macs <= last
        last = choice.macs
    assert memory.plan_for(p, untiled).plan is None


def test_a_plans_multiply_adds_count_halos_and_the_second_forward_pass():
    p = problem(1920, 1080)
    one = memory.plan_macs(
        p.layers, single_segment_plan(1, 1), p.height, p.width, p.style_levels, p.content_level, p.deepest
    )
    assert one[1] == untiled_macs(p) and one[0] == untiled_macs(p) // 2  # forward sweep + forward and backward
    fused = memory.plan_macs(
        p.layers, Plan((), ((1, 1),), ((1, 1),), True), p.height, p.width, p.style_levels, p.content_level, p.deepest
    )
    assert fused == (0, untiled_macs(p))
    tiled = memory.plan_macs(
        p.layers, single_segment_plan(4, 6), p.height, p.width, p.style_levels, p.content_level, p.deepest
    )
    assert 1.3 < sum(tiled) / untiled_macs(p) < 4  # halos of 70 to 85 px around 270 x 320 px tiles


def test_the_optimisers_state_counts():
    adam, lbfgs10, lbfgs3 = (
        problem(800, 600),
        problem(800, 600, optimizer="lbfgs"),
        problem(800, 600, optimizer="lbfgs", lbfgs_pairs=3),
    )
    n = 3 * 800 * 600
    assert memory.fixed_bytes(lbfgs10) - memory.fixed_bytes(lbfgs3) == pytest.approx(7 * 16 * n, rel=1e-6)
    assert memory.fixed_bytes(lbfgs3) > memory.fixed_bytes(adam) + memory.MEASURED.lbfgs_per_variable * n


def test_bfloat16_activations_need_less():
    p32, p16 = problem(3840, 2160), problem(3840, 2160, itemsize=2)
    assert memory.smallest_budget(p16) < memory.smallest_budget(p32)
    assert memory.untiled_bytes(p16) < memory.untiled_bytes(p32)


FREED = """
import sys
from nst.engine import memory
if sys.argv[1] == "give-back":
    memory.give_back_freed_memory()
import tensorflow as tf
before = memory.resident_bytes()
for n in (96, 64, 48, 80, 32):  # tensors of tens of MB, as a scale's working set
    x = tf.random.uniform((n * 2**18,)) * 2.0
    y = tf.reduce_sum(x * x + x)
    del x
memory.release()
print(before, memory.resident_bytes())
"""


@pytest.mark.parametrize("mode", ["give-back", "as-is"])
def test_what_a_scale_frees_goes_back_to_the_system(mode):
    # TensorFlow's oneDNN allocator pools every large block and never gives one back: a coarse scale's working
    # set stayed resident through a print-size run. give_back_freed_memory makes freed tensors leave the process.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_ONEDNN", "TF_ENABLE_ONEDNN", "MALLOC_"))}
    out = subprocess.run(
        [sys.executable, "-c", FREED, mode], capture_output=True, text=True, timeout=300, check=True, env=env
    ).stdout.split()
    kept = int(out[1]) - int(out[0])
    if mode == "give-back":
        assert kept < 64 * 2**20
    else:  # the pool without it: what the test is about
        assert kept > 200 * 2**20
