"""Request validation against botocore's service models: AWS's own input contract.

moto trusts its input (a missing StreamName becomes a stream called "None", a bad JSON body is
read as empty). AWS does not: it answers SerializationException, ValidationException,
MissingParameter or UnknownOperationException. Every JSON and query request to a moto-served
service is checked here first, with the constraints (required, min/max, enum) that botocore
ships for each operation, so the emulator rejects what AWS would reject, with AWS's codes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from sim.emulator.protocol import AwsError, Request


@lru_cache(maxsize=64)
def service_model(service: str) -> Any:
    """botocore's model of ``service`` (None when botocore does not know it), cached."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        return botocore.session.get_session().get_service_model(service)
    except UnknownServiceError:
        return None


def _constraint_errors(shape: Any, value: Any, path: str, out: list[str]) -> None:
    """AWS-style messages for values that break the shape's constraints."""
    if value is None:
        return
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            raise AwsError("SerializationException", f"Expected an object at '{path or 'input'}'")
        for name in shape.required_members:
            if value.get(name) is None:
                out.append(
                    f"Value null at '{_field(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        for name, member in shape.members.items():
            if name in value:
                _constraint_errors(member, value[name], _field(path, name), out)
    elif t == "list":
        if not isinstance(value, list):
            raise AwsError("SerializationException", f"Expected a list at '{path}'")
        _length(meta, len(value), value, path, out)
        for i, item in enumerate(value):
            _constraint_errors(shape.member, item, f"{path}.{i + 1}.member", out)
    elif t == "map":
        if not isinstance(value, dict):
            raise AwsError("SerializationException", f"Expected an object at '{path}'")
        _length(meta, len(value), value, path, out)
    elif t == "string":
        if not isinstance(value, str):
            raise AwsError("SerializationException", f"Expected a string at '{path}'")
        _length(meta, len(value), value, path, out)
        if shape.enum and value not in shape.enum:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                f"satisfy enum value set: [{', '.join(shape.enum)}]"
            )
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise AwsError("SerializationException", f"Expected a number at '{path}'")
        if "min" in meta and value < meta["min"]:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                f"have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must "
                f"have value less than or equal to {meta['max']}"
            )
    elif t == "boolean" and not isinstance(value, bool):
        raise AwsError("SerializationException", f"Expected a boolean at '{path}'")


def _length(meta: dict[str, Any], n: int, value: Any, path: str, out: list[str]) -> None:
    if "min" in meta and n < meta["min"]:
        out.append(
            f"Value '{_short(value)}' at '{path}' failed to satisfy constraint: Member "
            f"must have length greater than or equal to {meta['min']}"
        )
    if "max" in meta and n > meta["max"]:
        out.append(
            f"Value '{_short(value)}' at '{path}' failed to satisfy constraint: Member "
            f"must have length less than or equal to {meta['max']}"
        )


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(path: str, name: str) -> str:
    lowered = name[:1].lower() + name[1:]
    return f"{path}.{lowered}" if path else lowered


def validate(req: Request, body: bytes) -> None:
    """Raise the AwsError AWS would answer for a malformed JSON or query request."""
    model = service_model(req.service)
    if model is None:
        return
    protocol = model.protocol
    if req.target and protocol == "json":
        _validate_json(model, req, body)
    elif protocol == "query" and not req.target:
        _validate_query(model, req, body)


def parse_json(req: Request, body: bytes) -> dict[str, Any]:
    """The JSON body of an API call, or SerializationException as AWS answers it."""
    try:
        params = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise AwsError("SerializationException", f"Invalid JSON body: {exc}") from exc
    if not isinstance(params, dict):
        raise AwsError(
            "SerializationException", "Start of structure or map found where not expected."
        )
    return params


def validate_params(service: str, op_name: str, params: dict[str, Any]) -> None:
    """Check already-parsed ``params`` of a JSON operation against botocore's model."""
    model = service_model(service)
    if model is None:
        return
    if op_name not in model.operation_names:
        raise AwsError("UnknownOperationException", f"Unknown operation {op_name}")
    shape = model.operation_model(op_name).input_shape
    if shape is None:
        return
    errors: list[str] = []
    _constraint_errors(shape, params, "", errors)
    if errors:
        n = len(errors)
        raise AwsError(
            "ValidationException",
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors),
        )


def _validate_json(model: Any, req: Request, body: bytes) -> None:
    op_name = req.target.rsplit(".", 1)[-1]
    if op_name not in model.operation_names:
        raise AwsError("UnknownOperationException", f"Unknown operation {op_name}")
    validate_params(req.service, op_name, parse_json(req, body))


def _validate_query(model: Any, req: Request, body: bytes) -> None:
    params = dict(parse_qsl(req.query_string, keep_blank_values=True))
    ctype = req.headers.get("content-type", "")
    if body and ("form-urlencoded" in ctype or not ctype):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    action = params.get("Action")
    if not action:
        if req.method == "GET" and not params:
            return  # e.g. a health probe of the service root
        raise AwsError("MissingAction", "Missing Action")
    if action not in model.operation_names:
        raise AwsError("InvalidAction", f"The action {action} is not valid for this web service.")
    shape = model.operation_model(action).input_shape
    if shape is None:
        return
    for name in shape.required_members:
        member = shape.members[name]
        wire = member.serialization.get("name", name)
        if wire not in params and not any(k.startswith(wire + ".") for k in params):
            raise AwsError("MissingParameter", f"The request must contain the parameter {wire}")
    errors: list[str] = []
    for name, member in shape.members.items():
        raw = params.get(member.serialization.get("name", name))
        if raw is None or member.type_name not in ("string", "integer", "long"):
            continue
        value: Any = raw
        if member.type_name != "string":
            try:
                value = int(raw)
            except ValueError:
                raise AwsError(
                    "MalformedInput", f"Value {raw!r} for {name} is not a number"
                ) from None
        _constraint_errors(member, value, _field("", name), errors)
    if errors:
        n = len(errors)
        raise AwsError(
            "ValidationError",
            f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors),
        )
