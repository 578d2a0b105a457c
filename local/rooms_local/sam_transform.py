"""AWS's own SAM transform (aws-sam-translator, what `sam validate` and CloudFormation run), offline.

The SAM template becomes the CloudFormation template AWS would deploy: Globals merged, functions,
event source mappings, schedules, the HTTP API as an OpenAPI body, SimpleTables as tables. The local
stack reads that, so SAM's semantics are SAM's own.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from typing import Any

from .intrinsics import TemplateError
from .naming import LocalNaming

# The transform wants code in S3; local paths travel as keys of this bucket and are read back.
LOCAL_CODE_BUCKET = "rooms-local-code"
_LOCAL_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def sam_transform(document: Mapping[str, Any], parameters: Mapping[str, Any], naming: LocalNaming) -> dict[str, Any]:
    """The CloudFormation template of `document` (a copy of it when it is not a SAM template)."""
    if "AWS::Serverless-2016-10-31" not in _transforms(document):
        return copy.deepcopy(dict(document))
    # Tests load the same template hundreds of times: each gets its own copy of one transform.
    key = json.dumps([document, parameters], sort_keys=True, default=str)
    return json.loads(_cached_transform(key, naming))


@functools.lru_cache(maxsize=16)
def _cached_transform(key: str, naming: LocalNaming) -> str:
    document, parameters = json.loads(key)
    return json.dumps(_transform(document, parameters, naming))


def _transform(document: Mapping[str, Any], parameters: Mapping[str, Any], naming: LocalNaming) -> dict[str, Any]:
    # Imported here: the translator takes most of a second, and the specs alone do not need it.
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = _with_local_code_in_s3(document)
    pseudo = {
        "AWS::Region": naming.region,
        "AWS::AccountId": naming.account,
        "AWS::StackName": naming.stack,
        "AWS::Partition": "aws",
    }
    # A session only carries the region: the transform calls no AWS API without a managed policy name,
    # and those it asks of `get_managed_policy_map`, which knows none.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=naming.region))
    try:
        return translator.translate(sam, parameter_values={**parameters, **pseudo}, get_managed_policy_map=dict)
    except InvalidDocumentException as error:
        messages = "; ".join(cause.message for cause in error.causes)
        raise TemplateError(f"SAM transform failed: {messages}") from error
    finally:
        translator.metrics.publish()  # to its no-op publisher; unpublished metrics warn at exit


def _transforms(document: Mapping[str, Any]) -> list[Any]:
    declared = document.get("Transform") or []
    return declared if isinstance(declared, list) else [declared]


def _with_local_code_in_s3(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy where each local CodeUri/ContentUri is an S3 URI in LOCAL_CODE_BUCKET (as `sam validate` does)."""
    sam = copy.deepcopy(dict(document))
    sections = [
        (resource.get("Type", ""), resource.get("Properties")) for resource in sam.get("Resources", {}).values()
    ]
    sections += [(f"AWS::Serverless::{name}", value) for name, value in (sam.get("Globals") or {}).items()]
    for kind, props in sections:
        key = _LOCAL_CODE_PROPERTIES.get(kind)
        if key and isinstance(props, dict) and isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = f"s3://{LOCAL_CODE_BUCKET}/{props[key]}"
    return sam


def local_code_path(location: Any) -> str | None:
    """The local path a Code or Content property came from, or None for code that is not local."""
    if isinstance(location, Mapping) and location.get("S3Bucket") == LOCAL_CODE_BUCKET:
        return str(location["S3Key"])
    return None
