"""Validates examples/argo/workflowtemplate.yaml offline, and proves the validation can fail.

Argo's own schema is the generated models that `hera-workflows` ships: the
document must parse into `WorkflowTemplate` and survive a round trip
unchanged (a field the schema does not know would be dropped). On top of
the schema, the rules the gate needs: the entrypoint and every step name a
template; the gate's retry expression, evaluated as Argo would for each of
the binary's exit codes, retries on 3 (timeout) only; each attempt's
activeDeadlineSeconds is above PEAKA_TIMEOUT; the key comes from a Secret;
the JSON summary is the workflow's output parameter. Then each rule is
broken in a copy of the template, and the copy must be refused.

    python scripts/argo_check.py examples/argo/workflowtemplate.yaml
"""

from __future__ import annotations

import copy
import re
import sys
from types import SimpleNamespace
from typing import Any

import pydantic
import yaml
from hera.workflows.models import WorkflowTemplate

# The binary's exit codes, and "-1": Argo's exit code of a pod that never ran.
EXIT_CODES = (-1, 0, 1, 2, 3, 4, 5, 6, 7, 130, 143)
RETRIED = {3}
GATE_IMAGE = re.compile(r"(^|/)peaka-wait(:|@|$)")


class Invalid(Exception):
    pass


def validate(doc: Any) -> None:
    if not isinstance(doc, dict) or doc.get("kind") != "WorkflowTemplate":
        raise Invalid("not a WorkflowTemplate")
    if doc.get("apiVersion") != "argoproj.io/v1alpha1":
        raise Invalid(f"apiVersion {doc.get('apiVersion')!r}, not argoproj.io/v1alpha1")
    try:
        model = WorkflowTemplate.model_validate(doc)
    except pydantic.ValidationError as err:
        raise Invalid(f"Argo's schema refuses it: {err}") from err
    back = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    unknown = _dropped(doc, back, "")
    if unknown:
        raise Invalid(f"fields Argo's schema does not know: {', '.join(unknown)}")
    spec = doc["spec"]
    templates = {t["name"]: t for t in spec.get("templates", [])}
    if len(templates) != len(spec.get("templates", [])):
        raise Invalid("two templates share a name")
    if spec.get("entrypoint") not in templates:
        raise Invalid(f"entrypoint {spec.get('entrypoint')!r} names no template")
    for template in templates.values():
        for group in template.get("steps") or []:
            for step in group:
                if step.get("template") not in templates:
                    raise Invalid(f"step {step.get('name')!r} names no template {step.get('template')!r}")
    gates = [t for t in templates.values() if GATE_IMAGE.search((t.get("container") or {}).get("image", ""))]
    if not gates:
        raise Invalid("no template runs the peaka-wait image")
    for gate in gates:
        _check_gate(gate)
    _check_summary(spec, templates, {g["name"] for g in gates})


def _check_gate(gate: dict) -> None:
    name = gate["name"]
    strategy = gate.get("retryStrategy") or {}
    expression = strategy.get("expression")
    if not expression:
        raise Invalid(f"{name}: no retryStrategy.expression, so a failed refresh (exit 1) would be retried")
    if strategy.get("retryPolicy") != "Always":
        raise Invalid(
            f"{name}: retryPolicy {strategy.get('retryPolicy')!r}: Always, so the expression decides"
        )
    if int(strategy.get("limit", 0)) < 1:
        raise Invalid(f"{name}: retryStrategy.limit below 1 never retries a timeout")
    retried = {code for code in EXIT_CODES if evaluate(expression, exit_code=code)}
    if retried != RETRIED:
        raise Invalid(f"{name}: the expression {expression!r} retries exit codes {sorted(retried)}, not [3]")
    env = {e["name"]: e for e in gate["container"].get("env", [])}
    timeout = seconds((env.get("PEAKA_TIMEOUT") or {}).get("value", "30m"))
    deadline = gate.get("activeDeadlineSeconds")
    if not isinstance(deadline, int) or deadline <= timeout + 1:
        raise Invalid(f"{name}: activeDeadlineSeconds {deadline!r} is not above PEAKA_TIMEOUT ({timeout} s)")
    key = env.get("PEAKA_API_KEY") or {}
    if "value" in key or "secretKeyRef" not in (key.get("valueFrom") or {}):
        raise Invalid(f"{name}: PEAKA_API_KEY must come from a Secret (valueFrom.secretKeyRef)")
    if (env.get("PEAKA_OUTPUT") or {}).get("value") != "json":
        raise Invalid(f"{name}: PEAKA_OUTPUT is not json, so the result is not the JSON summary")


def _check_summary(spec: dict, templates: dict, gates: set[str]) -> None:
    entry = templates[spec["entrypoint"]]
    steps = {s["name"]: s["template"] for group in entry.get("steps") or [] for s in group}
    for parameter in (entry.get("outputs") or {}).get("parameters", []):
        source = (parameter.get("valueFrom") or {}).get("parameter", "")
        found = re.fullmatch(r"\{\{steps\.([\w-]+)\.outputs\.result\}\}", source)
        if parameter.get("name") == "summary" and found and steps.get(found.group(1)) in gates:
            return
    raise Invalid("the entrypoint has no output parameter `summary` from the gate step's outputs.result")


def seconds(duration: str) -> int:
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration.strip():
        raise Invalid(f"PEAKA_TIMEOUT {duration!r} is not a duration this check reads")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(sum(int(n) * scale[u] for n, u in parts))


_TOKEN = re.compile(
    r'\s*(?:(?P<num>-?\d+)|(?P<str>"[^"]*")|(?P<name>lastRetry\.(?:exitCode|status|duration|message))'
    r"|(?P<fn>asInt|asFloat)|(?P<op>==|!=|<=|>=|&&|\|\||!|<|>|\(|\)|\[|\]|,|in\b))"
)


def evaluate(expression: str, exit_code: int, status: str | None = None) -> bool:
    """Argo's retry expression (the expr-lang subset retry rules use) for one attempt."""
    out, pos = [], 0
    while pos < len(expression.rstrip()):
        match = _TOKEN.match(expression, pos)
        if not match:
            raise Invalid(f"the retry expression {expression!r} uses what this check cannot evaluate")
        pos = match.end()
        kind, text = match.lastgroup, match.group(match.lastgroup)
        if kind == "op":
            text = {"&&": " and ", "||": " or ", "!": " not ", "in": " in "}.get(text, text)
        out.append(text)
    last = SimpleNamespace(
        exitCode=str(exit_code),
        status=status or ("Succeeded" if exit_code == 0 else "Error" if exit_code < 0 else "Failed"),
        duration="10",
        message="",
    )
    result = eval("".join(out), {"__builtins__": {}}, {"lastRetry": last, "asInt": int, "asFloat": float})
    return bool(result)


def _dropped(given: Any, kept: Any, path: str) -> list[str]:
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [path or "."]
        found = []
        for key, value in given.items():
            if key not in kept:
                found.append(f"{path}.{key}")
            else:
                found += _dropped(value, kept[key], f"{path}.{key}")
        return found
    if isinstance(given, list) and isinstance(kept, list):
        return [p for i, (g, k) in enumerate(zip(given, kept)) for p in _dropped(g, k, f"{path}[{i}]")]
    return []


def _broken(doc: dict) -> list[tuple[str, dict]]:
    """Copies of the template, each with one rule broken."""

    def gate(d: dict) -> dict:
        return next(t for t in d["spec"]["templates"] if "retryStrategy" in t)

    cases = []

    def case(name, change):
        d = copy.deepcopy(doc)
        change(d)
        cases.append((name, d))

    case("an unknown field", lambda d: gate(d)["container"].__setitem__("imagePullPolicyy", "Always"))
    case("a wrong type", lambda d: gate(d)["retryStrategy"].__setitem__("limit", {"max": 2}))
    case(
        "a step naming no template",
        lambda d: d["spec"]["templates"][0]["steps"][1][0].__setitem__("template", "x"),
    )
    case(
        "a retry on every failure",
        lambda d: gate(d)["retryStrategy"].__setitem__("expression", "asInt(lastRetry.exitCode) != 0"),
    )
    case(
        "a retry on 3 and 1",
        lambda d: gate(d)["retryStrategy"].__setitem__("expression", "asInt(lastRetry.exitCode) in [1, 3]"),
    )
    case("no retry expression", lambda d: gate(d)["retryStrategy"].pop("expression"))
    case("policy OnError", lambda d: gate(d)["retryStrategy"].__setitem__("retryPolicy", "OnError"))
    case("a deadline at the timeout", lambda d: gate(d).__setitem__("activeDeadlineSeconds", 1200))
    case(
        "the key as a literal",
        lambda d: gate(d)["container"]["env"].__setitem__(-1, {"name": "PEAKA_API_KEY", "value": "k" * 12}),
    )
    case("no summary output", lambda d: d["spec"]["templates"][0].pop("outputs"))
    return cases


def main(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    try:
        validate(doc)
    except Invalid as err:
        print(f"argo: {path} is invalid: {err}", file=sys.stderr)
        return 1
    print(f"argo: {path} is a valid WorkflowTemplate; the gate retries exit 3 only")
    for name, broken in _broken(doc):
        try:
            validate(broken)
        except Invalid as err:
            print(f"argo: refused, as it must be, {name}: {str(err).splitlines()[0]}")
            continue
        print(f"argo: the check accepted {name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "examples/argo/workflowtemplate.yaml"))
