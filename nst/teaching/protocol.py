"""What a sandbox may say to the grader: each message checked against a strict schema, anything else refused.

The runner's messages (`nst.teaching.runner`) are JSON objects; whatever the submission did to its sandbox, they
are hostile data here. Each kind has its keys, types and bounds (sizes, counts, numbers within ranges, cell
numbers of the notebook's own code cells, the round and the functions asked for); `message(raw, ...)` gives the
checked message or raises ProtocolError, and the grader then ends that sandbox and grades what it had.
"""

import re

FAILURES = ("timeout", "stuck", "died", "kernels", "time", "error")
CELL_KINDS = ("error", "timeout", "stuck", "crashed")
MAX_TEXT = 2000  # characters of a text field
MAX_SECONDS = 1e7
CELL_KEY = re.compile(r"[1-9][0-9]{0,8}")
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class ProtocolError(Exception):
    """A message outside the protocol (its text says what was wrong, in words of ours)."""


def number(value, what, low=0.0, high=MAX_SECONDS):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ProtocolError(f"{what} is not a number from {low:g} to {high:g}")
    return float(value)


def integer(value, what, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"{what} is not a whole number from {low} to {high}")
    return value


def text(value, what):
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ProtocolError(f"{what} is not a text of at most {MAX_TEXT} characters")
    return value


def keys(raw, required, optional=()):
    if not isinstance(raw, dict) or not set(required) <= set(raw) <= set(required) | set(optional):
        raise ProtocolError("a message with other keys than its kind has")
    return raw


def cells(value, what, code_cells):
    """A list of distinct code cell numbers of the notebook."""
    if not isinstance(value, list) or len(value) > code_cells:
        raise ProtocolError(f"{what} is not a list of the notebook's code cells")
    found = [integer(n, what, 1, code_cells) for n in value]
    if len(set(found)) != len(found):
        raise ProtocolError(f"{what} names a cell twice")
    return found


def outcome(raw, code_cells):
    """The cells' outcome: {code cell number: {kind, what, seconds, left_out}}, not_run, output_cut, kernels."""
    keys(raw, ("outcome", "not_run", "output_cut", "kernels"))
    found = raw["outcome"]
    if not isinstance(found, dict) or len(found) > code_cells:
        raise ProtocolError("the cells' outcome is not one entry per code cell at most")
    checked = {}
    for key, value in found.items():
        if not isinstance(key, str) or not CELL_KEY.fullmatch(key) or int(key) > code_cells:
            raise ProtocolError("the cells' outcome names a cell the notebook does not have")
        keys(value, ("kind", "what", "seconds", "left_out"))
        if value["kind"] not in CELL_KINDS or not isinstance(value["left_out"], bool):
            raise ProtocolError("the cells' outcome has an unknown kind")
        checked[int(key)] = {
            "kind": value["kind"],
            "what": text(value["what"], "what a cell did"),
            "seconds": number(value["seconds"], "a cell's seconds"),
            "left_out": value["left_out"],
        }
    return {
        "outcome": checked,
        "not_run": cells(raw["not_run"], "the cells not run", code_cells),
        "output_cut": cells(raw["output_cut"], "the cells whose output was cut", code_cells),
        "kernels": integer(raw["kernels"], "the kernels", 0, 1000),
    }


def message(raw, code_cells, round_=None, names=(), results_cap=0):
    """The message `raw` checked: ("ready", True), ("setup_failed", text), ("outcome", {...}) or, in round
    `round_` asking for `names`, ("results", (name, base64 text)) and ("failed", (name, {failed, seconds,
    detail})); ProtocolError otherwise."""
    if not isinstance(raw, dict):
        raise ProtocolError("a message that is not an object")
    if "ready" in raw:
        keys(raw, ("ready",))
        if raw["ready"] is not True:
            raise ProtocolError("a ready message that is not")
        return "ready", True
    if "setup_failed" in raw:
        keys(raw, ("setup_failed",))
        return "setup_failed", text(raw["setup_failed"], "the set-up's failure")
    if "outcome" in raw:
        return "outcome", outcome(raw, code_cells)
    if "function" in raw:
        if raw.get("function") not in names or isinstance(raw.get("round"), bool) or raw.get("round") != round_:
            raise ProtocolError("results for a function or a round that was not asked for")
        if "results" in raw:
            keys(raw, ("function", "round", "results"))
            data = raw["results"]
            if not isinstance(data, str) or len(data) > results_cap or not BASE64.fullmatch(data):
                raise ProtocolError("results that are not base64 of at most their size")
            return "results", (raw["function"], data)
        keys(raw, ("function", "round", "failed"), ("seconds", "detail"))
        if raw["failed"] not in FAILURES:
            raise ProtocolError("a failure of an unknown kind")
        failure = {"failed": raw["failed"]}
        if "seconds" in raw:
            failure["seconds"] = number(raw["seconds"], "a check's seconds")
        if "detail" in raw:
            failure["detail"] = text(raw["detail"], "a failure's detail")
        return "failed", (raw["function"], failure)
    raise ProtocolError("a message of an unknown kind")
