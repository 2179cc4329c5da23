"""What a CloudFormation stack update from one template (and its parameters) to another replaces,
computed offline from SAM's own translation (sam-translate.py) and the create-only properties of
the CloudFormation registry schemas cfn-lint ships.

usage: stack-update.py OLD_TEMPLATE NEW_TEMPLATE [old:Name=Value ...] [new:Name=Value ...] [Name=Value ...]
       stack-update.py --batch < [{"old": TEMPLATE, "new": TEMPLATE, "oldParameters": {..}, "newParameters": {..}}, ...]

A bare Name=Value applies to both sides; --batch answers a JSON list of comparisons with the list
of their results, in one process (each template translated once per set of parameters).

Each side is translated with its parameters, then resolved as CloudFormation would for them:
conditions evaluated, resources whose condition is false left out, Fn::If chosen, parameter Refs
(and ${Param} in Fn::Sub strings) replaced by their values, AWS::NoValue dropped. Refs and GetAtts
of resources stay symbolic. A resource is replaced when its type changes, when a create-only
property changes, or when a create-only property names (Ref, GetAtt, ${Id} in Fn::Sub) a resource
that is replaced or new; repeated until nothing more is replaced.

Prints JSON: {"removed": [ids], "added": [ids], "disabled": [ids], "enabled": [ids], "replaced":
{id: [create-only properties that changed]}, "updated": {id: [top-level properties that changed]},
"conditions": [the new template's conditions whose value differs from the old one's]}.
A removed id is a resource CloudFormation deletes because the new template has no such logical id,
an added one a resource it creates: together, what a changed logical id does (SAM's API Deployment
ids end in the hash of the API body, so a changed body is one of each, which is how SAM redeploys).
A disabled id is deleted because its Condition is now false (a feature turned off), an enabled one
created because it is now true.
"""
import importlib.util
import json
import os
import re
import sys

import cfnlint

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")
NONE = object()


def _sam_translate():
    # No __pycache__ beside sam-translate.py in the checkout.
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location("sam_translate", os.path.join(HERE, "sam-translate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.translate


def translate(template, parameters, cache={}):
    key = (template, json.dumps(parameters, sort_keys=True))
    if key not in cache:
        if "translate" not in cache:
            cache["translate"] = _sam_translate()
        cache[key] = cache["translate"](template, parameters)
    return cache[key]


def create_only(resource_type, cache={}):
    if resource_type not in cache:
        if resource_type.startswith("Custom::"):
            resource_type = "AWS::CloudFormation::CustomResource"
        with open(os.path.join(SCHEMAS, "providers", "us-east-1.json"), encoding="utf-8") as f:
            index = json.load(f)
        with open(os.path.join(SCHEMAS, "resources", index[resource_type] + ".json"), encoding="utf-8") as f:
            schema = json.load(f)
        cache[resource_type] = [p[len("/properties/"):].split("/") for p in schema.get("createOnlyProperties", [])]
    return cache[resource_type]


def resolve(template, parameters):
    """The template's resources as CloudFormation would create them with these parameter values."""
    declared = template.get("Parameters", {})
    values = {k: str(v.get("Default", "")) for k, v in declared.items()}
    values.update(parameters)
    # A list parameter's Ref is a list: "" is [""], as CloudFormation splits it.
    for k, v in declared.items():
        if v.get("Type") == "CommaDelimitedList" or v.get("Type", "").startswith("List<"):
            values[k] = values[k].split(",")
    conditions = template.get("Conditions", {})
    memo = {}

    def condition(name):
        if name not in memo:
            memo[name] = truth(conditions[name])
        return memo[name]

    def truth(c):
        [(fn, arg)] = c.items()
        if fn == "Condition":
            return condition(arg)
        if fn == "Fn::Not":
            return not truth(arg[0])
        if fn == "Fn::And":
            return all(truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(truth(a) for a in arg)
        if fn == "Fn::Equals":
            return value(arg[0]) == value(arg[1])
        raise ValueError(f"condition function {fn}")

    def value(v):
        if isinstance(v, list):
            return [x for x in (value(x) for x in v) if x is not NONE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            [(fn, arg)] = v.items()
            if fn == "Ref" and arg == "AWS::NoValue":
                return NONE
            if fn == "Ref" and arg in values:
                return values[arg]
            if fn == "Fn::If":
                return value(arg[1] if condition(arg[0]) else arg[2])
            if fn == "Fn::Join":
                parts = value(arg[1])
                if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                    return value(arg[0]).join(parts)
                return {fn: [arg[0], parts]}
            if fn == "Fn::Split":
                text = value(arg[1])
                return text.split(arg[0]) if isinstance(text, str) else {fn: [arg[0], text]}
            if fn == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], value(arg[1]))
                sub = lambda m: str(values[m.group(1)]) if m.group(1) in values and m.group(1) not in names else m.group(0)
                text = re.sub(r"\$\{([A-Za-z0-9:]+)\}", sub, text)
                return {fn: [text, names]} if names or "${" in text else text
        out = {k: value(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not NONE}

    resources, disabled = {}, set()
    for rid, r in template["Resources"].items():
        if "Condition" in r and not condition(r["Condition"]):
            disabled.add(rid)
            continue
        props = value(r.get("Properties", {}))
        resources[rid] = {"Type": r["Type"], "Properties": props}
    return resources, disabled, {name: condition(name) for name in conditions}


def names(v):
    """The logical ids a value refers to (Ref, GetAtt, ${Id} or ${Id.Attr} in Fn::Sub)."""
    if isinstance(v, list):
        return set().union(*(names(x) for x in v)) if v else set()
    if isinstance(v, str):
        return set()
    if isinstance(v, dict) and len(v) == 1:
        [(fn, arg)] = v.items()
        if fn == "Ref" and isinstance(arg, str):
            return {arg}
        if fn == "Fn::GetAtt":
            return {arg[0] if isinstance(arg, list) else arg.split(".")[0]}
        if fn == "Fn::Sub":
            text, subs = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            found = {m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9:.]+)\}", text) if m not in subs}
            return found | names(subs)
    return set().union(*(names(x) for x in v.values())) if isinstance(v, dict) and v else set()


def at(props, path):
    for p in path:
        if not isinstance(props, dict) or p not in props:
            return NONE
        props = props[p]
    return props


def compare(old_side, new_side):
    (old, old_disabled, old_conditions), (new, new_disabled, new_conditions) = old_side, new_side
    removed = sorted(set(old) - set(new) - new_disabled)
    disabled = sorted(set(old) & new_disabled)
    added = sorted(set(new) - set(old) - old_disabled)
    enabled = sorted(set(new) & old_disabled)
    both = sorted(set(old) & set(new))
    replaced = {}
    changed = True
    while changed:
        changed = False
        for rid in both:
            if rid in replaced:
                continue
            o, n = old[rid], new[rid]
            if o["Type"] != n["Type"]:
                replaced[rid] = ["Type"]
                changed = True
                continue
            why = []
            for path in create_only(n["Type"]):
                a, b = at(o["Properties"], path), at(n["Properties"], path)
                gone = (names(b) & (set(replaced) | set(added) | set(enabled))) if b is not NONE else set()
                if a != b or gone:
                    why.append("/".join(path) + (f" (names {', '.join(sorted(gone))}, replaced)" if a == b else ""))
            if why:
                replaced[rid] = why
                changed = True
    updated = {}
    for rid in both:
        if rid in replaced:
            continue
        keys = set(old[rid]["Properties"]) | set(new[rid]["Properties"])
        diff = sorted(k for k in keys if old[rid]["Properties"].get(k) != new[rid]["Properties"].get(k))
        if diff:
            updated[rid] = diff
    flipped = sorted(c for c in new_conditions if old_conditions.get(c) != new_conditions[c])
    return {"removed": removed, "added": added, "disabled": disabled, "enabled": enabled, "replaced": replaced,
            "updated": updated, "conditions": flipped}


def update(old_template, new_template, old_parameters, new_parameters):
    old = resolve(translate(old_template, old_parameters), old_parameters)
    new = resolve(translate(new_template, new_parameters), new_parameters)
    return compare(old, new)


def main():
    if sys.argv[1:] == ["--batch"]:
        cases = json.load(sys.stdin)
        print(json.dumps([update(c["old"], c["new"], c.get("oldParameters", {}), c.get("newParameters", {})) for c in cases], indent=1))
        return
    old_template, new_template, *pairs = sys.argv[1:]
    sides = {"old": {}, "new": {}}
    for pair in pairs:
        side, _, rest = pair.partition(":") if pair.split("=", 1)[0].startswith(("old:", "new:")) else ("", "", pair)
        k, v = rest.split("=", 1)
        for s in [side] if side else ["old", "new"]:
            sides[s][k] = v
    print(json.dumps(update(old_template, new_template, sides["old"], sides["new"]), indent=1))


if __name__ == "__main__":
    main()
