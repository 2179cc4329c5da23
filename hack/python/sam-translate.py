"""Translate template.yaml with SAM's own translator (samtranslator, from the venv of setup-venv.sh),
offline, and print the CloudFormation template CloudFormation would get, as JSON.

usage: sam-translate.py TEMPLATE [Name=Value ...] [AWS::Region=REGION (default us-east-1)]

Parameter values given here are the ones SAM resolves at transform time (e.g. Tracing); the rest
stay conditions. Local CodeUri paths are replaced by a placeholder S3 URI (the translator accepts
only S3 locations), and managed policy names resolve to their ARN in the aws partition, as
`sam validate` does without credentials.
"""
import json
import sys

from samcli.yamlhelper import yaml_parse
from boto3.session import Session
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator


class OfflinePolicies:
    def load(self):
        names = ["AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess", "AWSLambdaBasicExecutionRole"]
        return {n: f"arn:aws:iam::aws:policy/{n}" for n in names}


def translate(path, parameters):
    """The translation of the template at path with these parameter values (a dict; AWS::Region too)."""
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            key = "CodeUri" if "CodeUri" in props else "ContentUri"
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://bucket/placeholder.zip"
    parameters = dict(parameters)
    region = parameters.pop("AWS::Region", "us-east-1")
    translator = Translator(None, parser.Parser(), boto_session=Session(region_name=region))
    return translator.translate(template, parameters, get_managed_policy_map=OfflinePolicies().load)


def main():
    path, *pairs = sys.argv[1:]
    out = translate(path, dict(pair.split("=", 1) for pair in pairs))
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
