"""Write each inline IAM policy of a translated template (sam-translate.py's JSON on stdin) to its own
file, OUTDIR/<Role>-<PolicyName>.json, as IAM would get it with every condition true and the given
parameter values: what parliament reads (scripts/test-scanners.sh).

usage: iam-policies.py OUTDIR [Name=Value ...]   (a CommaDelimitedList value: items joined by ",")

Fn::If takes its first branch; Ref, Fn::Sub, Fn::GetAtt, Fn::Split and Fn::Join resolve with the
parameters (then their defaults) and pseudo parameters of a stack "image-rewriter" in us-east-1 of
account 123456789012; a log group's Arn is its ARN with ":*", as CloudFormation gives it.
"""
import json
import re
import sys

PSEUDO = {
    "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
    "AWS::StackName": "image-rewriter", "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()


def main():
    outdir, *pairs = sys.argv[1:]
    template = json.load(sys.stdin)
    resources = template["Resources"]
    params = {k: v.get("Default", "") for k, v in template.get("Parameters", {}).items()}
    params.update(dict(pair.split("=", 1) for pair in pairs))
    params.update(PSEUDO)
    for name, p in template.get("Parameters", {}).items():
        if p.get("Type") == "CommaDelimitedList":
            params[name] = params[name].split(",")

    def attribute(logical, attr):
        kind = resources[logical]["Type"]
        if kind == "AWS::Logs::LogGroup" and attr == "Arn":
            return f"arn:aws:logs:us-east-1:123456789012:log-group:{logical}:*"
        return f"arn:aws:lambda:us-east-1:123456789012:function:{logical}"

    def sub(text, local):
        def one(m):
            key = m.group(1)
            if key in local:
                return str(local[key])
            if "." in key:
                return attribute(*key.split(".", 1))
            value = params[key]
            return value if isinstance(value, str) else ",".join(value)
        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(x):
        if isinstance(x, dict) and len(x) == 1:
            (fn, arg), = x.items()
            if fn == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else params.get(arg, f"{arg}-ref")
            if fn == "Fn::Sub":
                return sub(arg, {}) if isinstance(arg, str) else sub(arg[0], {k: resolve(v) for k, v in arg[1].items()})
            if fn == "Fn::If":
                return resolve(arg[1])
            if fn == "Fn::GetAtt":
                return attribute(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if fn == "Fn::Split":
                return resolve(arg[1]).split(arg[0])
            if fn == "Fn::Join":
                return arg[0].join(resolve(arg[1]))
        if isinstance(x, dict):
            return {k: v for k, v in ((k, resolve(v)) for k, v in x.items()) if v is not NO_VALUE}
        if isinstance(x, list):
            return [v for v in map(resolve, x) if v is not NO_VALUE]
        return x

    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resolve(resource["Properties"]).get("Policies", []):
            path = f"{outdir}/{name}-{policy['PolicyName']}.json"
            with open(path, "w", encoding="utf-8") as f:
                json.dump(policy["PolicyDocument"], f, indent=1)
            print(path)


if __name__ == "__main__":
    main()
