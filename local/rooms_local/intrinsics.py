"""Evaluates CloudFormation intrinsic functions and conditions against local values.

Only what is read gets resolved, so an intrinsic the local stack cannot evaluate (`Fn::ImportValue`)
in a resource it does not emulate (an alarm) costs nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any

from .naming import LocalNaming

log = logging.getLogger(__name__)


class TemplateError(ValueError):
    """The template cannot be read or resolved locally."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LIST_TYPES = ("CommaDelimitedList", "List<")
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:([a-z0-9-]+):(.+?)\}\}")
_SECRET_TYPE = "AWS::SecretsManager::Secret"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise TemplateError(f"expected a scalar, got {value!r}")


def parameter_values(document: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter defaults with `overrides` applied and checked, as CloudFormation would see them."""
    declared: dict[str, Any] = document.get("Parameters") or {}
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"unknown parameters: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            text = _scalar_text(overrides[name])
        elif "Default" in spec:
            default = spec["Default"]
            text = ",".join(map(_scalar_text, default)) if isinstance(default, list) else _scalar_text(default)
        else:
            raise TemplateError(f"parameter {name} has no Default: pass a value for it")
        _check_parameter(name, spec, text)
        is_list = str(spec.get("Type", "String")).startswith(_LIST_TYPES)
        values[name] = [item.strip() for item in text.split(",")] if is_list else text
    return values


def _check_parameter(name: str, spec: Mapping[str, Any], text: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and text not in [_scalar_text(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, text):
        raise TemplateError(f"parameter {name}={text!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(text)
        except ValueError:
            raise TemplateError(f"parameter {name}={text!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={text} is below MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={text} is above MaxValue {spec['MaxValue']}")


class Resolver:
    """Resolves intrinsics of one template against parameters and local physical values."""

    def __init__(self, document: Mapping[str, Any], parameters: Mapping[str, Any], naming: LocalNaming):
        self.resources: dict[str, Any] = document.get("Resources") or {}
        self.mappings: dict[str, Any] = document.get("Mappings") or {}
        self.parameters = dict(parameters)
        self.naming = naming
        self._condition_defs: dict[str, Any] = document.get("Conditions") or {}
        self._conditions: dict[str, bool] = {}
        self._generated_secrets: dict[str, str] = {}
        self._pseudo: dict[str, Any] = {
            "AWS::Region": naming.region,
            "AWS::AccountId": naming.account,
            "AWS::StackName": naming.stack,
            "AWS::StackId": naming.arn("cloudformation", f"stack/{naming.stack}/local"),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self._condition_defs:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = False  # breaks cycles; CloudFormation rejects them anyway
            self._conditions[name] = self._truth(self._condition_defs[name])
        return self._conditions[name]

    def conditions(self) -> dict[str, bool]:
        return {name: self.condition(name) for name in self._condition_defs}

    def enabled(self, logical_id: str) -> bool:
        """False when the resource's `Condition` is false, so it does not exist."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1 and "Condition" in value:
            return self.condition(value["Condition"])
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return resolved
        return str(resolved).lower() == "true"

    # ------------------------------------------------------------------ dynamic references
    def dynamic_references(self, text: str) -> str:
        """Resolve `{{resolve:secretsmanager:<secret>:SecretString}}` of a secret the template generates
        (GenerateSecretString): a random value per stack, the same wherever it is read, as CloudFormation
        would give. Other dynamic references (SSM, a secret made elsewhere) cannot be resolved locally."""

        def substitute(match: re.Match[str]) -> str:
            service, reference = match.groups()
            for logical_id, resource in self.resources.items():
                if service != "secretsmanager" or resource.get("Type") != _SECRET_TYPE:
                    continue
                for secret_id in {str(self.ref(logical_id)), str(self.get_att(logical_id, "Arn"))}:
                    if reference in (secret_id, f"{secret_id}:SecretString"):
                        return self._generated_secret(logical_id)
            raise TemplateError(f"dynamic reference {match.group(0)} cannot be resolved locally")

        return _DYNAMIC_REFERENCE.sub(substitute, text)

    def _generated_secret(self, logical_id: str) -> str:
        if logical_id not in self._generated_secrets:
            props = self.resolve(self.resources[logical_id].get("Properties") or {})
            spec = props.get("GenerateSecretString")
            if not isinstance(spec, dict) or "SecretStringTemplate" in spec:
                raise TemplateError(f"{logical_id}: only a whole generated SecretString is emulated")
            alphabet = string.ascii_letters + string.digits
            length = int(spec.get("PasswordLength", 32))
            self._generated_secrets[logical_id] = "".join(secrets.choice(alphabet) for _ in range(length))
        return self._generated_secrets[logical_id]

    # ------------------------------------------------------------------ values
    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic inside `value`; `AWS::NoValue` entries disappear."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.get_att(name, "Ref")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id!r}")
        if not self.enabled(logical_id):
            raise TemplateError(f"reference to {logical_id}, which its condition switched off")
        kind = resource.get("Type", "")
        attributes = self.naming.attributes(logical_id, kind, resource.get("Properties") or {})
        if attribute in attributes:
            return attributes[attribute]
        # An attribute the local stack does not model: a stable placeholder beats a failed start.
        log.warning("no local value for %s.%s (%s); using a placeholder", logical_id, attribute, kind)
        return f"{attributes['Ref']}.{attribute}"

    def _function(self, name: str, argument: Any) -> Any:
        match name:
            case "GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(self.resolve(logical_id), self.resolve(attribute))
            case "Sub":
                return self._sub(argument)
            case "Join":
                delimiter, items = argument
                return _scalar_text(delimiter).join(_scalar_text(i) for i in self._list(items))
            case "Select":
                index, items = argument
                return self._list(items)[int(self.resolve(index))]
            case "Split":
                delimiter, text = argument
                return _scalar_text(self.resolve(text)).split(_scalar_text(delimiter))
            case "FindInMap":
                return self._find_in_map(argument)
            case "If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
            case "Equals":
                left, right = (self.resolve(item) for item in argument)
                return _comparable(left) == _comparable(right)
            case "And":
                return all(self._truth(item) for item in argument)
            case "Or":
                return any(self._truth(item) for item in argument)
            case "Not":
                return not self._truth(argument[0])
            case "Base64":
                return base64.b64encode(_scalar_text(self.resolve(argument)).encode()).decode()
            case "GetAZs":
                return [f"{self.naming.region}{zone}" for zone in "abc"]
            case "ToJsonString":
                return json.dumps(self.resolve(argument), separators=(",", ":"))
            case "Length":
                return len(self._list(argument))
        raise TemplateError(f"Fn::{name} cannot be resolved locally")

    def _list(self, value: Any) -> list[Any]:
        resolved = self.resolve(value)
        if not isinstance(resolved, list):
            raise TemplateError(f"expected a list, got {resolved!r}")
        return resolved

    def _sub(self, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {key: self.resolve(item) for key, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is written out as ${Literal}
                return "${" + name[1:] + "}"
            if name in values:
                return _scalar_text(values[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _scalar_text(self.get_att(logical_id, attribute))
            return _scalar_text(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, template)

    def _find_in_map(self, argument: list[Any]) -> Any:
        map_name, top, second = (self.resolve(item) for item in argument[:3])
        try:
            return self.resolve(self.mappings[map_name][top][second])
        except KeyError:
            if len(argument) > 3 and "DefaultValue" in argument[3]:
                return self.resolve(argument[3]["DefaultValue"])
            raise TemplateError(f"Fn::FindInMap: no {map_name}/{top}/{second}") from None


def _comparable(value: Any) -> Any:
    # CloudFormation compares parameter strings with YAML scalars: "8000" equals 8000.
    return value if isinstance(value, list | dict) else _scalar_text(value)


def check_rules(document: Mapping[str, Any], resolver: Resolver) -> None:
    """Refuse the parameters as CloudFormation would: each assertion of each Rule whose RuleCondition holds."""
    for name, rule in (document.get("Rules") or {}).items():
        if "RuleCondition" in rule and not resolver._truth(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions") or []:
            if not resolver._truth(assertion["Assert"]):
                raise TemplateError(f"rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")
