"""Print the CloudFormation that SAM makes of a template, as JSON: `sam_transform.py TEMPLATE [PARAMETERS_JSON]`.

Runs under the SAM CLI's virtualenv (its translator), offline: a template that names an AWS managed
policy by name instead of by ARN needs IAM to resolve it, and fails here instead.
"""

import json
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    def load(self) -> dict[str, str]:
        raise RuntimeError("a managed policy named without its ARN needs IAM to resolve")


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator insists on a region
    template = yaml_parse(Path(sys.argv[1]).read_text(encoding="utf-8"))
    for resource in template.get("Resources", {}).values():
        for key in ("CodeUri", "ContentUri"):  # as `sam validate` does: a local path would be uploaded to S3
            if isinstance(resource.get("Properties", {}).get(key), str):
                resource["Properties"][key] = f"s3://bucket/{resource['Properties'][key]}"
    parameters = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    json.dump(transform(template, parameters, OfflinePolicyLoader()), sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
