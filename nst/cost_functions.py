"""The cost functions a run builds J with: nst.costs's (the default), or the caller's under the homework's names.

A caller (a student's notebook) gives {"compute_content_cost": f, "compute_style_cost": g, "total_cost": h}, any
subset; gram_matrix and compute_layer_style_cost reach the run through the caller's compute_style_cost.
"""

from collections.abc import Mapping

import tensorflow as tf

from nst.costs import compute_content_cost, compute_style_cost, layer_style_cost_from_gram, total_cost
from nst.errors import NstError

CALLER_FUNCTIONS = ("compute_content_cost", "compute_style_cost", "total_cost")


def cost_parts(cfg, functions=None):
    """(content_cost(a_C, a_G), style_cost(style_target, generated activations), total(Jc, Js, alpha, beta)).

    Without `functions`: nst.costs's, the style target being the style Grams {layer: (n_C, n_C)} computed once.
    With `functions`: the caller's (missing names: nst.costs's), the style target being the style image's
    activations {layer: (1, n_H, n_W, n_C)}, passed to compute_style_cost(style_target, acts, cfg.style_layers).
    """
    if functions is None:
        def style_cost_from_grams(grams, acts):
            return tf.add_n([coeff * layer_style_cost_from_gram(grams[name], acts[name])
                             for name, coeff in cfg.style_layers])

        return compute_content_cost, style_cost_from_grams, total_cost
    functions = check_functions(functions)
    caller_style_cost = functions.get("compute_style_cost", compute_style_cost)

    def style_cost(style_acts, acts):
        return caller_style_cost(style_acts, acts, cfg.style_layers)

    return functions.get("compute_content_cost", compute_content_cost), style_cost, functions.get("total_cost", total_cost)


def check_functions(functions):
    """`functions` as a dict {name: callable} with names from CALLER_FUNCTIONS; NstError (one line) otherwise."""
    if not isinstance(functions, Mapping):
        raise NstError(f"functions must map homework function names to functions, got {type(functions).__name__}")
    unknown = [name for name in functions if name not in CALLER_FUNCTIONS]
    if unknown:
        raise NstError(f"functions: unknown name(s) {', '.join(map(repr, unknown))}; a run takes "
                       f"{', '.join(CALLER_FUNCTIONS)} (gram_matrix and compute_layer_style_cost reach it "
                       "through compute_style_cost)")
    not_callable = [name for name, f in functions.items() if not callable(f)]
    if not_callable:
        raise NstError(f"functions: {', '.join(map(repr, not_callable))} is not callable")
    return dict(functions)
