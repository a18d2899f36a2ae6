"""The ``cloudwatch`` service over HTTP, in the three protocols current SDKs speak to it
(botocore's cloudwatch/2010-08-01 model lists ``smithy-rpc-v2-cbor``, ``json``, ``query``):

- Smithy RPCv2 CBOR (boto3's default): ``POST /service/GraniteServiceVersion20100801/operation/
  <Op>``, ``smithy-protocol: rpc-v2-cbor``; timestamps are tag 1 holding epoch *seconds*
  (integer or float), doubles are CBOR floats, integers are major types 0/1;
- awsJson1_0: ``X-Amz-Target: GraniteServiceVersion20100801.<Op>``, epoch-second numbers;
- awsQuery: form-encoded ``Action=<Op>``, XML answers, ISO 8601 timestamps.

The service is ``awsQueryCompatible``: JSON and CBOR errors carry the error shape's name in
``__type`` and the query code in ``x-amzn-query-error: <Code>;Sender``, so botocore raises the
same ``InvalidParameterValue`` whatever the protocol. Request bodies may be gzip-compressed
(PutMetricData's ``requestcompression`` trait). This layer only parses and serialises; the
rules live in :mod:`.model` (metrics, dashboards) and :mod:`.alarmstate` (alarms, their
evaluation loop and SNS actions); every other operation answers 501 ``NotImplemented``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import cbor2

from sim.emulator.protocol import AwsError, Request, Response, error_response, protocol_of
from sim.emulator.providers.base import Provider
from sim.emulator.providers.cloudwatch.alarmstate import Alarms
from sim.emulator.providers.cloudwatch.model import CloudWatch
from sim.emulator.providers.moto_backend import MotoProvider
from sim.emulator.validation import service_model

log = logging.getLogger("bdlab.cloudwatch")
XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
TARGET_PREFIX = "GraniteServiceVersion20100801."
JSON_TYPE = "application/x-amz-json-1.0"
CBOR_TYPE = "application/cbor"
# Alarm operations: bdlab's alarms (alarmstate.py); moto serves no CloudWatch operation now.
MOTO_OPERATIONS: frozenset[str] = frozenset()
ALARM_OPERATIONS = frozenset(
    {
        "PutMetricAlarm",
        "PutCompositeAlarm",
        "DescribeAlarms",
        "DescribeAlarmsForMetric",
        "DescribeAlarmHistory",
        "DeleteAlarms",
        "SetAlarmState",
        "EnableAlarmActions",
        "DisableAlarmActions",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    }
)


def _model() -> Any:
    return service_model("cloudwatch")


def _error_shapes() -> dict[str, str]:
    """Query error code -> error shape name (``InvalidParameterValue`` ->
    ``InvalidParameterValueException``), for ``__type`` in JSON and CBOR."""
    out: dict[str, str] = {}
    model = _model()
    for name in model.shape_names:
        shape = model.shape_for(name)
        err = shape.metadata.get("error") if shape.metadata.get("exception") else None
        if err and err.get("code"):
            out.setdefault(err["code"], name)
    return out


_SHAPES: dict[str, str] | None = None


def _shape_name(code: str) -> str:
    global _SHAPES
    if _SHAPES is None:
        _SHAPES = _error_shapes()
    return _SHAPES.get(code, code)


# ---------------------------------------------------------------------- parsing
def _timestamp(value: Any, where: str) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise AwsError(
                "InvalidParameterValue", f"The value {value} for parameter {where} is invalid."
            ) from None
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    raise AwsError(
        "InvalidParameterValue", f"The value {value!r} for parameter {where} is invalid."
    )


def _double(value: Any, where: str) -> float:
    # JSON has no NaN or infinities: Smithy's JSON protocols send them as these strings.
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AwsError("SerializationException", f"Expected a number at {where}")
    return float(value)


def _typed(shape: Any, value: Any, where: str) -> Any:
    """A JSON or CBOR request value checked against its shape; timestamps -> epoch seconds."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            raise AwsError("SerializationException", f"Expected a structure at {where or 'input'}")
        members = shape.members
        return {
            k: _typed(members[k], v, f"{where}.{k}" if where else k)
            for k, v in value.items()
            if k in members and v is not None
        }
    if t == "list":
        if not isinstance(value, list):
            raise AwsError("SerializationException", f"Expected a list at {where}")
        member = shape.member
        if member.type_name in ("double", "float"):
            return [_double(v, where) for v in value]
        return [_typed(member, v, f"{where}.member.{i}") for i, v in enumerate(value, 1)]
    if t == "map":
        if not isinstance(value, dict):
            raise AwsError("SerializationException", f"Expected a map at {where}")
        return {str(k): _typed(shape.value, v, where) for k, v in value.items()}
    if t == "timestamp":
        return _timestamp(value, where)
    if t in ("double", "float"):
        return _double(value, where)
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise AwsError("SerializationException", f"Expected an integer at {where}")
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            raise AwsError("SerializationException", f"Expected a boolean at {where}")
        return value
    if t == "string" and not isinstance(value, str):
        raise AwsError("SerializationException", f"Expected a string at {where}")
    return value


def _tree(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a.member.1.b=x`` pairs as nested dicts."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[parts[-1]] = value
    return root


def _index(k: str) -> int:
    try:
        return int(k)
    except ValueError:
        raise AwsError("InvalidParameterValue", f"Invalid list index {k!r}") from None


def _from_query(shape: Any, node: Any, where: str) -> Any:
    """A query-protocol value (from :func:`_tree`) typed by its shape."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(node, dict):
            return {}
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if wire in node:
                out[name] = _from_query(member, node[wire], f"{where}.{wire}" if where else wire)
        return out
    if t == "list":
        items = node.get("member", {}) if isinstance(node, dict) else {}
        if not isinstance(items, dict):
            return []
        return [
            _from_query(shape.member, items[k], f"{where}.member.{k}")
            for k in sorted(items, key=_index)
        ]
    if t == "map":
        entries = node.get("entry", {}) if isinstance(node, dict) else {}
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        return {
            str(e.get(key_name)): _from_query(shape.value, e.get(value_name), where)
            for _, e in sorted(entries.items(), key=lambda kv: _index(kv[0]))
            if isinstance(e, dict)
        }
    if isinstance(node, dict):
        raise AwsError("InvalidParameterValue", f"The parameter {where} must be a scalar.")
    try:
        if t in ("integer", "long"):
            return int(node)
        if t in ("double", "float"):
            return float(node)
    except ValueError:
        raise AwsError(
            "InvalidParameterValue", f"The value {node} for parameter {where} is invalid."
        ) from None
    if t == "boolean":
        return node.lower() == "true"
    if t == "timestamp":
        return _timestamp(node, where)
    return node


# ---------------------------------------------------------------------- serialising
def _cbor(shape: Any, value: Any) -> Any:
    """``value`` with botocore's RPCv2 CBOR types: tag-1 epoch seconds, float doubles."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        members = shape.members
        return {k: _cbor(members[k], v) for k, v in value.items() if k in members and v is not None}
    if t == "list":
        m = shape.member
        if m.type_name in ("double", "float"):
            return [float(v) for v in value]
        if m.type_name == "timestamp":
            return [cbor2.CBORTag(1, float(v)) for v in value]
        return [_cbor(m, v) for v in value]
    if t == "map":
        return {k: _cbor(shape.value, v) for k, v in value.items()}
    if t == "timestamp":
        return cbor2.CBORTag(1, float(value))
    if t in ("double", "float"):
        return float(value)
    if t in ("integer", "long"):
        return int(value)
    return value


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(round(ts * 1000)) % 1000:03d}Z"
    )


def _xml(shape: Any, value: Any, out: list[str]) -> None:
    t = shape.type_name
    if t == "structure":
        for name, member in shape.members.items():
            v = value.get(name)
            if v is None:
                continue
            wire = member.serialization.get("name", name)
            out.append(f"<{wire}>")
            _xml(member, v, out)
            out.append(f"</{wire}>")
    elif t == "list":
        for v in value:
            out.append("<member>")
            _xml(shape.member, v, out)
            out.append("</member>")
    elif t == "map":
        k_name = shape.key.serialization.get("name", "key")
        v_name = shape.value.serialization.get("name", "value")
        for k, v in value.items():
            out.append(f"<entry><{k_name}>{escape(str(k))}</{k_name}><{v_name}>")
            _xml(shape.value, v, out)
            out.append(f"</{v_name}></entry>")
    elif t == "timestamp":
        out.append(_iso(float(value)))
    elif t == "boolean":
        out.append("true" if value else "false")
    elif t in ("double", "float"):
        out.append(repr(float(value)))
    else:
        out.append(escape(str(value)))


class CloudWatchProvider(Provider):
    """CloudWatch metrics and dashboards from :class:`CloudWatch`, alarms from
    :class:`Alarms`; alarm actions publish to SNS through ``moto`` (journaled like a client's
    Publish, so SNS delivers to its SQS subscriptions and a restart keeps the messages)."""

    service = "cloudwatch"

    def __init__(self, model: CloudWatch, moto: MotoProvider | None = None) -> None:
        self.model = model
        self.moto = moto
        self.alarms = Alarms(model, model.clock, publish=self._publish if moto else None)
        self._catch_up_lock = asyncio.Lock()
        self._running = False
        al = self.alarms
        self.ops: dict[str, Callable[[dict[str, Any], int], dict[str, Any] | None]] = {
            "PutMetricData": lambda p, size: model.put_metric_data(
                p.get("Namespace"), p.get("MetricData"), size=size
            ),
            "GetMetricStatistics": lambda p, _: model.get_metric_statistics(p),
            "GetMetricData": lambda p, _: model.get_metric_data(p),
            "ListMetrics": lambda p, _: model.list_metrics(p),
            "PutDashboard": lambda p, _: model.put_dashboard(p),
            "GetDashboard": lambda p, _: model.get_dashboard(p),
            "ListDashboards": lambda p, _: model.list_dashboards(p),
            "DeleteDashboards": lambda p, _: model.delete_dashboards(p),
            "PutMetricAlarm": lambda p, _: al.put_metric_alarm(p),
            "PutCompositeAlarm": lambda p, _: al.put_composite_alarm(p),
            "DescribeAlarms": lambda p, _: al.describe_alarms(p),
            "DescribeAlarmsForMetric": lambda p, _: al.describe_alarms_for_metric(p),
            "DescribeAlarmHistory": lambda p, _: al.describe_alarm_history(p),
            "DeleteAlarms": lambda p, _: al.delete_alarms(p),
            "SetAlarmState": lambda p, _: al.set_alarm_state(p),
            "EnableAlarmActions": lambda p, _: al.set_actions_enabled(p, True),
            "DisableAlarmActions": lambda p, _: al.set_actions_enabled(p, False),
            "TagResource": lambda p, _: al.tag_resource(p),
            "UntagResource": lambda p, _: al.untag_resource(p),
            "ListTagsForResource": lambda p, _: al.list_tags_for_resource(p),
        }

    def fault_error(self, kind: str) -> AwsError:
        if kind == "throttle":
            return AwsError("Throttling", "Rate exceeded (bdlab fault: throttle_rate).", 400)
        return super().fault_error(kind)

    async def operation(self, req: Request) -> str:
        if not req.operation:
            req.operation = _operation(req, await req.read())
        return req.operation

    def error_response(self, req: Request, err: AwsError) -> Response:
        proto = protocol_of(req)
        if proto not in ("json", "cbor"):
            return error_response(req, err)
        rid = req.request_id
        kind = "Sender" if err.sender else "Receiver"
        data: dict[str, Any] = {"__type": _shape_name(err.code), "message": err.message}
        data.update(err.extra)
        headers = [
            ("x-amzn-requestid", rid),
            ("x-amzn-query-error", f"{err.code};{kind}"),
        ]
        if proto == "cbor":
            headers += [("content-type", CBOR_TYPE), ("smithy-protocol", "rpc-v2-cbor")]
            return Response(err.status, headers, cbor2.dumps(data))
        headers += [("content-type", JSON_TYPE)]
        return Response(err.status, headers, json.dumps(data).encode())

    async def handle(self, req: Request) -> Response:
        raw = await req.read(limit=8 * 1024 * 1024)
        op = req.operation = req.operation or _operation(req, raw)
        body = _decompress(req, raw)
        proto = protocol_of(req)
        model = _model()
        if not op:
            raise AwsError("MissingAction", "Missing Action")
        if op not in model.operation_names:
            if proto == "query":
                raise AwsError(
                    "InvalidAction", f"The action {op} is not valid for this web service."
                )
            raise AwsError("UnknownOperationException", f"Unknown operation {op}")
        fn = self.ops.get(op)
        if fn is None:
            raise AwsError(
                "NotImplemented",
                f"bdlab's CloudWatch provider does not implement {op} yet.",
                501,
                sender=False,
            )
        op_model = model.operation_model(op)
        params = _parse(proto, op_model.input_shape, req, body)
        if op not in ALARM_OPERATIONS:
            out = fn(params, len(body)) or {}
            return _render(proto, op_model, out, req.request_id)
        # Alarm calls see every evaluation due by now (deterministic at any clock speed), and
        # the actions of a transition they cause (SetAlarmState) are sent before the answer.
        await self.catch_up()
        try:
            out = fn(params, len(body)) or {}
        finally:
            await self.alarms.run_actions()
        return _render(proto, op_model, out, req.request_id)

    # ------------------------------------------------------------------ alarm evaluation
    async def catch_up(self) -> int:
        """Evaluate every alarm tick due by the emulator's now and send the actions of the
        transitions, before returning (the admin clock endpoint awaits this after a jump)."""
        async with self._catch_up_lock:
            try:
                done = self.alarms.evaluate_due()
            except Exception:  # logged; the API call or clock jump that asked still answers
                log.exception("alarm evaluation failed")
                done = 0
            await self.alarms.run_actions()
            return done

    async def evaluate_ahead(self, names: list[str], ahead_s: float) -> dict[str, Any]:
        """The admin ``/_bdlab/cloudwatch/evaluate``: the alarms ``names`` evaluated as they
        would be ``ahead_s`` seconds from now (:meth:`Alarms.evaluate_ahead`), their
        notifications sent before returning; the shared clock does not move."""
        async with self._catch_up_lock:
            try:
                out = self.alarms.evaluate_ahead(names, ahead_s)
            finally:
                await self.alarms.run_actions()
            return out

    async def run_forever(self, max_sleep_s: float = 10.0) -> None:
        """Sleep on the emulator clock until the next evaluation tick (at most ``max_sleep_s``
        emulator seconds, so a new alarm is picked up), then catch up; until :meth:`stop`."""
        self._running = True
        clock = self.model.clock
        while self._running:
            now = clock.now()
            nxt = self.alarms.next_due(now)
            await clock.sleep_until(min(nxt, now + max_sleep_s) if nxt else now + max_sleep_s)
            try:
                await self.catch_up()
            except Exception:  # a bad round must not end the loop; the next one retries
                log.exception("alarm evaluation round failed")

    def stop(self) -> None:
        self._running = False

    async def _publish(self, topic: str, subject: str, message: str) -> str:
        """SNS Publish through moto (as a client's call: journaled, delivered to the topic's
        subscriptions); AwsError with SNS's code when it refuses."""
        assert self.moto is not None
        region = topic.split(":")[3] if topic.count(":") >= 5 else "us-east-1"
        status, body = await self.moto.internal_call(
            "sns",
            region,
            {
                "Action": "Publish",
                "Version": "2010-03-31",
                "TopicArn": topic,
                "Subject": subject,
                "Message": message,
            },
        )
        text = body.decode("utf-8", "replace")
        if status >= 400:
            code = re.search(r"<Code>([^<]*)</Code>", text)
            msg = re.search(r"<Message>([^<]*)</Message>", text)
            raise AwsError(
                code.group(1) if code else "InternalFailure",
                msg.group(1) if msg else f"SNS answered {status}",
                status,
            )
        mid = re.search(r"<MessageId>([^<]*)</MessageId>", text)
        return mid.group(1) if mid else ""

    def put_internal(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """bdlab's services publishing AWS/* metrics: straight to the model."""
        self.model.put_internal(namespace, data)


def _operation(req: Request, body: bytes) -> str:
    if req.target:
        return req.target.rsplit(".", 1)[-1]
    if "/operation/" in req.raw_path:
        return req.raw_path.rsplit("/", 1)[-1]
    for k, v in parse_qsl(req.query_string):
        if k == "Action":
            return v
    if body:
        text = _decompress(req, body)
        if b"Action=" in text:
            for k, v in parse_qsl(text.decode("utf-8", "replace")):
                if k == "Action":
                    return v
    return ""


def _decompress(req: Request, body: bytes) -> bytes:
    encoding = req.headers.get("content-encoding", "").lower()
    if "gzip" not in encoding or not body:
        return body
    try:
        return gzip.decompress(body)
    except (OSError, EOFError, zlib.error):
        raise AwsError("SerializationException", "The gzip-encoded body is malformed.") from None


def _parse(proto: str, shape: Any, req: Request, body: bytes) -> dict[str, Any]:
    if shape is None:
        return {}
    if proto == "query":
        pairs = parse_qsl(req.query_string, keep_blank_values=True)
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(_from_query(shape, _tree(pairs), ""))
    if not body.strip():
        return {}
    if proto == "cbor":
        try:
            data = cbor2.loads(body, semantic_decoders={1: lambda v, immutable=False: float(v)})
        except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
            raise AwsError("SerializationException", f"Invalid CBOR body: {exc}") from None
    else:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AwsError("SerializationException", f"Invalid JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise AwsError(
            "SerializationException", "Start of structure or map found where not expected."
        )
    return dict(_typed(shape, data, ""))


def _render(proto: str, op_model: Any, out: dict[str, Any], rid: str) -> Response:
    shape = op_model.output_shape
    headers = [("x-amzn-requestid", rid)]
    if proto == "cbor":
        headers += [("smithy-protocol", "rpc-v2-cbor")]
        if shape is None:
            return Response(200, headers, b"")
        headers += [("content-type", CBOR_TYPE)]
        return Response(200, headers, cbor2.dumps(_cbor(shape, out)))
    if proto == "json":
        return Response(200, headers + [("content-type", JSON_TYPE)], json.dumps(out).encode())
    op = op_model.name
    parts = [f'<{op}Response xmlns="{XMLNS}">']
    if shape is not None:
        parts.append(f"<{op}Result>")
        _xml(shape, out, parts)
        parts.append(f"</{op}Result>")
    parts.append(
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{op}Response>"
    )
    return Response.xml("".join(parts), 200, headers)
