"""The graded functions measured inside a submission's sandbox: their raw results as data, never a verdict.

`nst grade` sends a request (an .npz: the inputs as arrays and a JSON plan of calls) only once the submission's
cells have run; `run(namespace, request, results, name)` calls the learner's function `name` as the plan says and
writes what it gave to an .npz: the value (as numbers, with its type and dtype), the gradient of a weighted sum
of it with respect to each tensor input, the value inside tf.function, how often it called another graded
function (a "helper"), or the error it raised. Comparing with the reference,
naming mistakes and points happen in the grader, outside the sandbox (`nst.teaching.function_checks`).

A helper can be replaced by a stand-in that replays the reference helper from data the grader decided before
the submission ran: the reference's value at points of the grader's own choosing (the steps the reference formula
takes on the grader's inputs) and its first-order expansion there. Each call picks the point nearest to its
argument (of the same shape), so at those points it gives the reference's value and gradient, inside tf.function
too; elsewhere it is only a linear guess. No reference code is in the sandbox, and nothing the submission sends
decides what the stand-in holds.

Self-contained (NumPy and TensorFlow only): the sandbox hides `nst`, so the runner executes this file's source in
the kernel. `nst.teaching.function_checks` imports it to measure functions in-process too.
"""

import json
import sys

import numpy as np

MAX_ELEMENTS = 4_000_000  # a result (value, gradient, recorded argument) larger than this is not kept
TENSOR, NUMPY, NONE = "tensor", "numpy", "none"  # the kinds of a value, besides a type name


def tf():
    import tensorflow

    return tensorflow


class SkipKerasOptimizers:
    """While TensorFlow imports: refuse `keras.src.optimizers`, which TF's __init__ imports at its end only to
    register Keras's optimizers for SavedModels, pulling in all of Keras and matplotlib.pyplot (0.7 s of CPU and
    36 MB of each kernel, measured); as nst.commands.console.SkipKerasImport does for nst's own processes (this file
    cannot import nst). `tf.keras` and `import keras` work as usual afterwards."""

    def find_spec(self, name, path=None, target=None):
        if name == "keras.src.optimizers":
            raise ImportError("not imported with TensorFlow while grading")
        return None


def prepare():
    """Import TensorFlow (its start-up messages muted, without Keras) and warm it up: the first tf.function and
    gradient of a kernel take a second that should not count against a learner's function."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    skip = SkipKerasOptimizers()
    sys.meta_path.insert(0, skip)
    try:
        try:
            t = tf()
        finally:
            sys.meta_path.remove(skip)
        x = t.constant([[1.0, 2.0]])
        with t.GradientTape() as tape:
            tape.watch(x)
            y = t.function(lambda a: t.reduce_sum(t.matmul(a, a, transpose_b=True)))(x)
        tape.gradient(y, x)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# --- the request ----------------------------------------------------------------------------------------------


def load(path):
    """(plan, arrays) of a request file; arrays stay float32 as sent."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return json.loads(str(arrays.pop("plan"))), arrays


def build_args(specs, arrays):
    """(positional arguments, their tensors in order) from a call's argument specs: {"tensor": key},
    {"float": x}, {"tensors": {layer: key}} (a dict of tensors, keys sorted) or {"layers": [[name, coeff]]}."""
    t = tf()
    args, tensors = [], []
    for spec in specs:
        if "tensor" in spec:
            x = t.constant(arrays[spec["tensor"]])
            args.append(x)
            tensors.append(x)
        elif "float" in spec:
            args.append(float(spec["float"]))
        elif "tensors" in spec:
            d = {name: t.constant(arrays[key]) for name, key in sorted(spec["tensors"].items())}
            args.append(d)
            tensors.extend(d.values())
        elif "layers" in spec:
            args.append(tuple((str(name), float(coeff)) for name, coeff in spec["layers"]))
        else:
            raise ValueError(f"unknown argument {spec}")
    return args, tensors


# --- measuring ----------------------------------------------------------------------------------------------


def error_text(exc):
    """(type name, "Type: last line of the message") of an exception."""
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    return name, f"{name}: {lines[-1]}" if lines else name


def kind_of(value):
    t = tf()
    if value is None:
        return NONE
    if t.is_tensor(value):
        return TENSOR
    if type(value).__module__ == "numpy":
        return NUMPY
    return type(value).__name__


def numbers(value):
    """value as a float64 array, or None when it is not numbers (or too many of them)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except Exception:  # noqa: BLE001 (any object may come back)
        return None
    return array if array.size <= MAX_ELEMENTS else None


def kind_and_dtype(value):
    return {"kind": kind_of(value), "dtype": str(getattr(getattr(value, "dtype", None), "name", "") or "")}


def describe(value, out, key):
    """The meta of a value; its numbers go to out[key]."""
    meta = kind_and_dtype(value)
    array = numbers(value)
    if array is not None:
        out[key] = array
    return meta


def call(fn, args):
    """(value, None) or (None, exception) of fn(*args); an interrupt passes."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 (the learner's code may raise anything)
        return None, exc


class Spy:
    """Stands in for a helper: counts the calls, then calls the learner's own. When that one is missing or raises,
    it gives zeros of the shape the helper should give ("square": an n x n matrix for an argument of n rows,
    "scalar"), so that the calls after are seen too."""

    def __init__(self, original, fallback):
        self.original, self.fallback, self.calls = original, fallback, 0

    def __call__(self, *args, **kwargs):
        t = tf()
        self.calls += 1
        if self.original is not None:
            try:
                return self.original(*args, **kwargs)
            except Exception:  # noqa: BLE001 (a wrong helper may raise: its value is not what is measured here)
                pass
        shape = getattr(args[0], "shape", None) if args else None
        if self.fallback == "square" and shape is not None and len(shape) == 2 and shape[0] is not None:
            return t.zeros([shape[0], shape[0]])
        return t.zeros([])


class StandInMismatch(Exception):
    """The learner's function calls its helper in a way the stand-in cannot answer (other arguments)."""


class StandIn:
    """Replays the reference helper from the grader's data: for each call, among the points of the argument's
    shape, the nearest one p (by squared distance, chosen inside the graph) and value_p plus the reference's
    first-order change from p: for a Gram matrix ("gram", one argument) d·pᵀ + p·dᵀ with d = x - p; for a
    scalar ("scalar") the sum of gradient_j · (x_j - p_j) over the arguments."""

    def __init__(self, kind, candidates, params):
        self.kind, self.candidates, self.params = kind, candidates, params  # [(value, [point], [gradient])]

    def __call__(self, *args, **kwargs):
        t = tf()
        if kwargs:  # called by the homework's parameter names (gram_matrix(A=...))
            if set(kwargs) - set(self.params[len(args) :]):
                raise StandInMismatch(f"it calls the function it uses with arguments {sorted(kwargs)}")
            args = args + tuple(kwargs[name] for name in self.params[len(args) :] if name in kwargs)
        shapes = [tuple(getattr(x, "shape", ())) for x in args]
        fitting = [
            c
            for c in self.candidates
            if len(c[1]) == len(args) and all(tuple(p.shape) == s for p, s in zip(c[1], shapes))
        ]
        if not fitting:
            raise StandInMismatch("it calls the function it uses with arguments the grader did not expect")
        xs = [t.cast(x, t.float32) for x in args]
        outs, distances = [], []
        for value, points, gradients in fitting:
            ds = [x - p for x, p in zip(xs, points)]
            if self.kind == "gram":
                (d,), (p,) = ds, points
                out = value + t.matmul(d, p, transpose_b=True) + t.matmul(p, d, transpose_b=True)
            else:
                out = value + t.add_n([t.reduce_sum(g * d) for g, d in zip(gradients, ds)])
            outs.append(out)
            distances.append(t.add_n([t.reduce_sum(t.square(d)) for d in ds]))
        if len(outs) == 1:
            return outs[0]
        pick = t.stop_gradient(t.one_hot(t.argmin(t.stack(distances)), len(outs), dtype=t.float32))
        return t.add_n([pick[k] * out for k, out in enumerate(outs)])


def stand_in(spec, arrays):
    return StandIn(
        spec["kind"],
        [
            (arrays[c["value"]], [arrays[p] for p in c["points"]], [arrays[g] for g in c.get("gradients", [])])
            for c in spec["calls"]
        ],
        [str(name) for name in spec.get("params", [])],
    )


def unwrapped(fn):
    """A tf.function's Python function (so a helper put in place is seen, not a trace cached before)."""
    return getattr(fn, "python_function", fn)


def measure(namespace, name, spec, arrays, out):
    """Measure one call of the plan: the learner's `name` in `namespace` on the call's arguments. Its meta; its
    arrays go to `out` under the call's id."""
    t = tf()
    cid = spec["id"]
    fn = namespace.get(name)
    if not callable(fn):
        return {"defined": False}
    meta = {"defined": True}
    helper = spec.get("helper")
    saved = namespace.get(helper, None) if helper else None
    replay = stand_in(spec["stand_in"], arrays) if spec.get("stand_in") else None
    target = unwrapped(fn) if replay is not None else fn

    def with_helper(run):
        """run() with the helper in the namespace replaced by the stand-in."""
        if replay is None:
            return run()
        had = helper in namespace
        namespace[helper] = replay
        try:
            return run()
        finally:
            if had:
                namespace[helper] = saved
            else:
                namespace.pop(helper, None)

    args, tensors = build_args(spec["args"], arrays)
    value, error = with_helper(lambda: call(target, args))
    if error is not None:
        meta["error"] = error_text(error)
    else:
        meta["value"] = describe(value, out, f"{cid}.value")
    if spec.get("gradient") and tensors:
        meta["gradient"] = gradient(target, args, tensors, arrays[spec["gradient"]], out, f"{cid}.grad", with_helper)
    if spec.get("trace"):
        traced, error = with_helper(lambda: call(t.function(target), args))
        meta["trace"] = {"error": error_text(error)} if error is not None else describe(traced, out, f"{cid}.trace")
    if spec.get("record"):
        meta["record"] = record(namespace, spec["record"], unwrapped(fn), args)
    return meta


def gradient(fn, args, tensors, weights, out, key, with_helper):
    """The gradient of sum(value * weights) with respect to each tensor input: its meta, the arrays to out."""
    t = tf()

    def run():
        with t.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*args)
            meta = kind_and_dtype(value)
            if not t.is_tensor(value):
                return meta, None
            loss = t.reduce_sum(t.reshape(t.cast(value, t.float32), weights.shape) * weights)
        return meta, tape.gradient(loss, tensors)

    try:
        meta, grads = with_helper(run)
    except Exception as exc:  # noqa: BLE001
        return {"error": error_text(exc)}
    if grads is not None:
        meta["none"] = [g is None for g in grads]
        for j, g in enumerate(grads):
            if g is not None:
                out[f"{key}{j}"] = np.asarray(g, dtype=np.float32)
    return meta


def record(namespace, spec, fn, args):
    """Call fn with the helper in the namespace spied on (spec: {"helper": name, "fallback": ...}): how many
    calls it made."""
    helper = spec["helper"]
    had, saved = helper in namespace, namespace.get(helper)
    spy = Spy(saved if callable(saved) else None, spec.get("fallback"))
    namespace[helper] = spy
    try:
        _, error = call(fn, args)
    finally:
        if had:
            namespace[helper] = saved
        else:
            namespace.pop(helper, None)
    return {"calls": min(spy.calls, 10**6), "error": error_text(error) if error is not None else None}


# --- one function of a request ----------------------------------------------------------------------------


def evaluate(namespace, plan, arrays, name):
    """(meta, arrays) of every call of the plan's function `name`."""
    out, metas = {}, {}
    for spec in plan["functions"].get(name, []):
        metas[spec["id"]] = measure(namespace, name, spec, arrays, out)
    return {"function": name, "calls": metas}, out


def pack(key, document, arrays):
    """The bytes of an .npz holding `document` as JSON under `key` and the `arrays`: a request (key "plan") or
    results (key "meta")."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **{key: np.array(json.dumps(document))}, **arrays)
    return buffer.getvalue()


def run(namespace, request, results, name):
    """In the kernel: measure function `name` of `namespace` as the request file says; write the results file
    (read by the runner once this cell has ended). The request is read anew for each function, so that nothing
    one function does to its inputs reaches the next one's."""
    plan, arrays = load(request)
    meta, out = evaluate(namespace, plan, arrays, name)
    with open(results, "wb") as f:
        f.write(pack("meta", meta, out))
