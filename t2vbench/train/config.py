"""Training budgets as data: resolve a model's config for a budget, apply `--set key=value`, hash it.

A config file `baselines/configs/<model>.json` holds `defaults` and per-budget overrides (`budgets`); a
file with `inherits` (an ablation) is layered on its parent. Resolution order, later wins:
parent.defaults, parent.budgets[b], child.defaults, child.budgets[b], --set overrides.
So an ablation's switch (e.g. lambda_info = 0) survives every budget.
"""
from __future__ import annotations

import copy
import json
import math

from t2vbench.data.format import sha256_json
from t2vbench.errors import UserError
from t2vbench.registry import MODELS, configs_dir

BUDGETS = {
    "smoke": "a few iterations at tiny widths: the whole path (train, samples, checkpoint, eval on a few "
             "samples, leaderboard row marked smoke) in < 2 min on CPU; for tests and CI",
    "quick": "small widths for a CPU (<= 30 min per model on one core, batch 16, Adam 5e-4); IRC-GAN and "
             "RCGAN-c add a caption-conditioned frame head on D2",
    "paper": "the papers' sizes and budgets (60k iterations, batch 64): for a GPU",
}
BUDGET_VERSION = 1  # of the budget table: raise it when a budget's settings change


def model_names() -> list[str]:
    return MODELS.names()


def load_spec(name: str) -> dict:
    MODELS.impl(name)  # an unknown model: one line that lists the known ones
    path = configs_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the config of model '{name}' ({path}): {e}") from None


def deep_merge(base: dict, over: dict) -> dict:
    """`over` into a copy of `base`, recursively for dicts (lists and scalars are replaced)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _chain(name: str) -> list[dict]:
    chain, seen = [], set()
    while name:
        if name in seen:
            raise UserError(f"config inheritance loop at '{name}'")
        seen.add(name)
        spec = load_spec(name)
        chain.insert(0, spec)
        name = spec.get("inherits")
    return chain


def _shown(text: str, limit: int = 80) -> str:
    """User text as it goes into a one-line message: control characters escaped, long text cut."""
    t = text if text.isprintable() else json.dumps(text)[1:-1]
    return t if len(t) <= limit else t[:limit] + "..."


def _value_shown(value) -> str:
    return _shown(value if isinstance(value, str) else json.dumps(value))


def parse_override(text: str):
    """'train.iters=100' -> (['train', 'iters'], 100); values are JSON, else plain strings."""
    if "=" not in text:
        raise UserError(f"--set expects key=value (e.g. train.iters=100), got '{_shown(text)}'")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than Python's stack
        value = raw
    return key.strip().split("."), value


def apply_override(cfg: dict, path: list[str], value) -> None:
    node = cfg
    for i, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            where = _shown(".".join(path[:i])) or "the top level"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "nothing (not a section)"
            raise UserError(f"unknown config key '{_shown('.'.join(path))}': {where} has {known}")
        if i == len(path) - 1:
            node[part] = _same_kind(".".join(path), node[part], value)
        node = node[part]


ZERO_OK = ("train.bn_recalibrate_batches",)  # 0 turns it off
# None or at least this (eval.n_samples None: the evaluation protocol's count; epochs None: use iters)
OPTIONAL_COUNTS = {"eval.n_samples": 2, "text.pretrain.epochs": 1, "text.pretrain.iters": 1}


def _same_kind(key: str, default, value):
    """An override keeps the default's type (an int may stand for a float); counts stay >= 1, learning
    rates > 0, other positive numbers >= 0 (a weight of 0 is an ablation), numbers finite: a bad value
    fails here, before the run folder is touched."""
    if key in OPTIONAL_COUNTS:
        least = OPTIONAL_COUNTS[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise UserError(f"--set {key}={_value_shown(value)}: expected null or an integer >= {least}")
        return value
    kinds = ((bool, "true or false"), (int, "an integer"), (float, "a number"), (str, "a string"),
             (list, "a JSON list"), (dict, "a JSON object"))
    for kind, words in kinds:
        if isinstance(default, kind):
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                try:
                    ok, value = True, float(value)
                except OverflowError:
                    ok, value = False, math.inf
            if kind is float and ok and not math.isfinite(value):
                raise UserError(f"--set {key}={_value_shown(value)}: expected a finite number (default "
                                f"{json.dumps(default)})")
            if not ok:
                raise UserError(f"--set {key}={_value_shown(value)}: expected {words} (default {json.dumps(default)})")
            if kind is int and default > 0 and value < 1 and key not in ZERO_OK:
                raise UserError(f"--set {key}={value}: must be at least 1 (default {default})")
            is_lr = key.rsplit(".", 1)[-1].startswith("lr")
            if kind is float and default >= 0 and (value < 0 or (value == 0 and is_lr)):
                raise UserError(f"--set {key}={value}: must be {'positive' if is_lr else '>= 0'} (default {default})")
            return value
    return value


def resolve(name: str, budget: str = "quick", overrides=()) -> dict:
    """The full config of `name` for `budget` with overrides applied (no run-specific fields)."""
    if budget not in BUDGETS:
        raise UserError(f"unknown budget '{budget}'; choose one of: {', '.join(BUDGETS)}")
    chain = _chain(name)
    cfg: dict = {}
    for spec in chain:
        cfg = deep_merge(cfg, spec.get("defaults", {}))
        cfg = deep_merge(cfg, spec.get("budgets", {}).get(budget, {}))
    for text in overrides:
        path, value = parse_override(text)
        apply_override(cfg, path, value)
    pre = cfg.get("text", {}).get("pretrain")
    if isinstance(pre, dict) and "iters" in pre and pre.get("iters") is None and pre.get("epochs") is None:
        raise UserError("text.pretrain.iters and text.pretrain.epochs are both null: set one of them (--set)")
    cfg["name"] = name
    cfg["impl"] = MODELS.impl(name)
    cfg["budget"] = budget
    cfg["budget_version"] = BUDGET_VERSION
    return cfg


def config_hash(cfg: dict) -> str:
    return sha256_json(cfg)


def describe(name: str) -> dict:
    spec = _chain(name)[-1]
    return {"name": name, "title": spec.get("title", name), "description": spec.get("description", ""),
            "inherits": spec.get("inherits")}
