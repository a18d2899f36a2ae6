"""CloudWatch alarms as a service: definitions, state, history, evaluation on the emulator clock
and the SNS actions of transitions. The rules of one evaluation live in :mod:`.alarms` (pure);
this module orchestrates them (what is due, which data, what is stored, which actions run).

AWS documents followed: the CloudWatch API Reference (PutMetricAlarm, PutCompositeAlarm,
DescribeAlarms, DescribeAlarmsForMetric, DescribeAlarmHistory, DeleteAlarms, SetAlarmState,
EnableAlarmActions, DisableAlarmActions, TagResource, UntagResource, ListTagsForResource) and
the user guide's "Using Amazon CloudWatch alarms" (evaluation, actions on transitions only,
notification format of "Amazon SNS notifications for alarms").

Evaluation cadence and catch-up (also in docs/emulator.md):
- a metric alarm is evaluated at every tick of its cadence (each minute for Period >= 60 s,
  each 10 s for 10/20/30 s periods), the first tick being the first one after its creation;
- :meth:`Alarms.evaluate_due` evaluates *every* tick that has passed since an alarm's last
  evaluation, in time order over all alarms, so a clock advanced by a large step gives the
  same states, history and notifications as a clock that ran through (at most
  ``MAX_CATCH_UP`` ticks per alarm: older skipped ticks are not evaluated);
- composite alarms are re-evaluated at the tick where a child changed state, and at their own
  minute tick (a new composite, a child deleted).
Actions (SNS publish) run after the transition that caused them is committed; every attempt
is recorded as an Action history item. A crash between the two loses the notification, never
the state (at most once, like AWS's "actions happen only on state transitions").
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sim.emulator.clock import Clock
from sim.emulator.protocol import AwsError
from sim.emulator.providers.cloudwatch import alarms as rules
from sim.emulator.providers.cloudwatch import metricmath
from sim.emulator.providers.cloudwatch.model import (
    STATISTICS,
    CloudWatch,
    _dims,
    _hash,
    _offset,
    _token,
    parse_extended,
)
from sim.emulator.providers.cloudwatch.store import HistoryRow

log = logging.getLogger("bdlab.cloudwatch.alarms")

MAX_CATCH_UP = 1440  # ticks evaluated per alarm in one catch-up (a day of minutes)
MAX_AHEAD_S = 86_400  # how far evaluate_ahead may look (a day)
HISTORY_DAYS = 30  # "CloudWatch retains alarm history for 30 days" (DescribeAlarmHistory)
MAX_ACTIONS = 5  # per state (PutMetricAlarm: AlarmActions "Maximum number of 5 items")
METRIC, COMPOSITE = "MetricAlarm", "CompositeAlarm"
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "sa-east-1": "South America (Sao Paulo)",
}
# arn:partition:service:region:account-or-more:resource (EC2 actions: arn:aws:automate:r:ec2:stop)
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[A-Za-z0-9-]*:.+$")
# PutMetricAlarm members that are configuration (echoed by DescribeAlarms and in history)
_METRIC_CONFIG = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)
_COMPOSITE_CONFIG = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "AlarmRule",
)

# publish(topic ARN, subject, message) -> MessageId; raises AwsError when SNS refuses
Publish = Callable[[str, str, str], Awaitable[str]]


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFound", message, 404)


def _null(member: str) -> AwsError:
    return validation(
        f"1 validation error detected: Value null at '{member[0].lower() + member[1:]}' "
        "failed to satisfy constraint: Member must not be null"
    )


def _iso(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


@dataclass
class Alarm:
    """One alarm: ``config`` holds the Put*Alarm members as given (AWS casing); the rest is
    its state. Times are emulator epoch seconds."""

    name: str
    type: str  # MetricAlarm | CompositeAlarm
    config: dict[str, Any]
    arn: str
    config_updated: float
    state: str = rules.INSUFFICIENT_DATA
    reason: str = rules.INITIAL_REASON
    reason_data: str | None = None
    state_updated: float = 0.0
    state_transitioned: float = 0.0
    last_evaluated: float | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    spec: rules.AlarmSpec | None = None  # metric alarms
    rule: rules.RuleNode | None = None  # composite alarms

    def doc(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "type": self.type,
                "config": self.config,
                "arn": self.arn,
                "config_updated": self.config_updated,
                "state": self.state,
                "reason": self.reason,
                "reason_data": self.reason_data,
                "state_updated": self.state_updated,
                "state_transitioned": self.state_transitioned,
                "last_evaluated": self.last_evaluated,
                "tags": self.tags,
            }
        )

    @classmethod
    def from_doc(cls, text: str) -> Alarm:
        d = json.loads(text)
        a = cls(**d)
        a.compile()
        return a

    def compile(self) -> None:
        if self.type == METRIC:
            self.spec = rules.AlarmSpec.from_api(self.config)
        else:
            self.rule = rules.parse_rule(self.config["AlarmRule"])

    @property
    def actions_enabled(self) -> bool:
        return bool(self.config.get("ActionsEnabled", True))

    def actions_for(self, state: str) -> list[str]:
        key = {
            rules.ALARM: "AlarmActions",
            rules.OK: "OKActions",
            rules.INSUFFICIENT_DATA: "InsufficientDataActions",
        }[state]
        return list(self.config.get(key) or [])

    def all_actions(self) -> list[str]:
        return [
            *(self.config.get("AlarmActions") or []),
            *(self.config.get("OKActions") or []),
            *(self.config.get("InsufficientDataActions") or []),
        ]

    def describe(self) -> dict[str, Any]:
        """The MetricAlarm / CompositeAlarm structure of DescribeAlarms."""
        members = _METRIC_CONFIG if self.type == METRIC else _COMPOSITE_CONFIG
        out: dict[str, Any] = {k: self.config[k] for k in members if k in self.config}
        out.setdefault("ActionsEnabled", True)
        for k in ("OKActions", "AlarmActions", "InsufficientDataActions"):
            out.setdefault(k, [])
        if self.type == METRIC:
            out.setdefault("Dimensions", [] if "MetricName" in out else None)
            if out["Dimensions"] is None:
                del out["Dimensions"]
            out.setdefault("TreatMissingData", "missing")
        out.update(
            AlarmArn=self.arn,
            AlarmConfigurationUpdatedTimestamp=self.config_updated,
            StateValue=self.state,
            StateReason=self.reason,
            StateUpdatedTimestamp=self.state_updated,
            StateTransitionedTimestamp=self.state_transitioned,
        )
        if self.reason_data:
            out["StateReasonData"] = self.reason_data
        return out


@dataclass
class PendingAction:
    """An action to run for a transition that is already committed."""

    alarm: str
    alarm_type: str
    arn: str
    subject: str
    message: str
    when: float


class Alarms:
    """Every alarm of one emulator (one account, one region's names; see docs/emulator.md)."""

    def __init__(
        self,
        model: CloudWatch,
        clock: Clock,
        region: str = "us-east-1",
        publish: Publish | None = None,
    ) -> None:
        self.model = model
        self.store = model.store
        self.clock = clock
        self.account = model.account
        self.region = region
        self.publish = publish
        self.alarms: dict[str, Alarm] = {}
        self.pending: list[PendingAction] = []
        self._actions_lock = asyncio.Lock()
        for name, doc in self.store.load_alarms():
            try:
                self.alarms[name] = Alarm.from_doc(doc)
            except (rules.AlarmError, metricmath.MetricMathError, KeyError, TypeError) as exc:
                log.warning("alarm %s not loaded: %s", name, exc)
        self._history_expired_at = 0.0
        self._stamp_cap: float | None = None  # set while evaluate_ahead runs (its "now")

    # ------------------------------------------------------------------ helpers
    def arn(self, name: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}"

    def _get(self, name: str) -> Alarm:
        a = self.alarms.get(name)
        if a is None:
            raise not_found(f"Alarm {name} not found")
        return a

    def _commit(
        self,
        changed: Iterable[Alarm],
        history: Iterable[HistoryRow] = (),
        deleted: Iterable[str] = (),
    ) -> None:
        self.store.save_alarms([(a.name, a.doc()) for a in changed], history, deleted)

    @staticmethod
    def _check_actions(p: dict[str, Any]) -> None:
        for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
            actions = p.get(key) or []
            if len(actions) > MAX_ACTIONS:
                raise validation(
                    f"1 validation error detected: Value '{actions}' at '{key[0].lower() + key[1:]}'"
                    f" failed to satisfy constraint: Member must have length less than or equal "
                    f"to {MAX_ACTIONS}"
                )
            for arn in actions:
                if not isinstance(arn, str) or not _ARN.match(arn):
                    raise validation(f"Invalid arn syntax: {arn}")

    @staticmethod
    def _check_name(name: Any) -> str:
        if not name:
            raise _null("AlarmName")
        if not isinstance(name, str) or len(name) > 255:
            raise validation(
                "1 validation error detected: Value at 'alarmName' failed to satisfy "
                "constraint: Member must have length less than or equal to 255"
            )
        return name

    def _config_history(self, a: Alarm, kind: str, before: dict[str, Any] | None) -> HistoryRow:
        """A ConfigurationUpdate item shaped as AWS writes it."""
        now = self.clock.now()
        body = _camel(a.describe())
        for k in ("stateValue", "stateReason", "stateReasonData", "stateUpdatedTimestamp"):
            body.pop(k, None)
        body.pop("stateTransitionedTimestamp", None)
        body["alarmConfigurationUpdatedTimestamp"] = _iso(a.config_updated)
        if kind == "Create":
            data: dict[str, Any] = {"type": "Create", "version": "1.0", "createdAlarm": body}
            summary = f'Alarm "{a.name}" created'
        elif kind == "Update":
            data = {
                "type": "Update",
                "version": "1.0",
                "originalAlarm": before,
                "updatedAlarm": body,
            }
            summary = f'Alarm "{a.name}" updated'
        else:
            data = {"type": "Delete", "version": "1.0", "deletedAlarm": body}
            summary = f'Alarm "{a.name}" deleted'
        return (a.name, a.type, "ConfigurationUpdate", now, summary, json.dumps(data))

    # ------------------------------------------------------------------ PutMetricAlarm
    def put_metric_alarm(self, p: dict[str, Any]) -> dict[str, Any]:
        """PutMetricAlarm: create or replace (the state of an existing alarm is kept; tags
        only on creation). ValidationError / InvalidParameterCombination as CloudWatch."""
        name = self._check_name(p.get("AlarmName"))
        for member in ("EvaluationPeriods", "ComparisonOperator"):
            if p.get(member) is None:
                raise _null(member)
        metrics = p.get("Metrics")
        single = [
            k for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic") if p.get(k)
        ]
        if metrics and single:
            raise AwsError(
                "InvalidParameterCombination",
                "Metrics list cannot be used together with MetricName, Namespace, Statistic or "
                "ExtendedStatistic.",
            )
        if not metrics:
            if not p.get("MetricName"):
                raise AwsError("MissingParameter", "The parameter MetricName is required.")
            if not p.get("Namespace"):
                raise AwsError("MissingParameter", "The parameter Namespace is required.")
            if p.get("Period") is None:
                raise AwsError("MissingParameter", "The parameter Period is required.")
            stat, ext = p.get("Statistic"), p.get("ExtendedStatistic")
            if bool(stat) == bool(ext):
                raise AwsError(
                    "InvalidParameterCombination",
                    "Exactly one of the parameters Statistic and ExtendedStatistic must be "
                    "specified.",
                )
            if stat and stat not in STATISTICS:
                raise validation(
                    f"1 validation error detected: Value '{stat}' at 'statistic' failed to "
                    "satisfy constraint: Member must satisfy enum value set: "
                    "[Maximum, SampleCount, Sum, Minimum, Average]"
                )
            if ext and parse_extended(ext) is None:
                raise validation(f"The value {ext} for parameter ExtendedStatistic is invalid.")
            p = {**p, "Dimensions": [dict(d) for d in p.get("Dimensions") or []]}
            _dims_or_error(p["Dimensions"])
        else:
            self._check_metrics(metrics)
        if p.get("Threshold") is None and not p.get("ThresholdMetricId"):
            raise validation("Threshold must be specified for a static threshold alarm.")
        if p.get("ThresholdMetricId") or p["ComparisonOperator"] in rules.ANOMALY_OPERATORS:
            raise AwsError(
                "UnsupportedOperation",
                "Anomaly detection alarms (ThresholdMetricId, band operators) are not modelled "
                "by bdlab.",
            )
        self._check_actions(p)
        existing = self.alarms.get(name)
        if existing is not None and existing.type != METRIC:
            raise validation(f"The alarm {name} is a composite alarm; use PutCompositeAlarm.")
        config = {k: p[k] for k in _METRIC_CONFIG if p.get(k) is not None}
        try:
            spec = rules.AlarmSpec.from_api(config)
        except rules.AlarmError as exc:
            raise AwsError(exc.code, exc.message) from None
        except metricmath.MetricMathError as exc:
            raise validation(str(exc)) from None
        return self._put(name, METRIC, config, p.get("Tags"), spec=spec)

    def _check_metrics(self, metrics: list[dict[str, Any]]) -> None:
        ids: set[str] = set()
        for j, q in enumerate(metrics, 1):
            where = f"Metrics.member.{j}"
            qid = q.get("Id")
            if not qid:
                raise _null(f"{where}.Id")
            if qid in ids:
                raise validation(
                    f"The value {qid} for parameter {where}.Id is used more than once."
                )
            ids.add(qid)
            if (q.get("MetricStat") is None) == (q.get("Expression") is None):
                raise validation(
                    f"Exactly one element of {where}.MetricStat and {where}.Expression must be "
                    "specified."
                )
            ms = q.get("MetricStat")
            if ms is not None:
                if ms.get("Period") is None:
                    raise AwsError(
                        "MissingParameter", f"The parameter {where}.MetricStat.Period is required."
                    )
                stat = ms.get("Stat")
                if not stat or not (stat in STATISTICS or parse_extended(stat)):
                    raise validation(
                        f"The value {stat} for parameter {where}.MetricStat.Stat is invalid."
                    )
                metric = ms.get("Metric") or {}
                if not metric.get("MetricName") or not metric.get("Namespace"):
                    raise AwsError(
                        "MissingParameter",
                        f"The parameter {where}.MetricStat.Metric.MetricName is required.",
                    )
                _dims_or_error(metric.get("Dimensions") or [])

    def _put(
        self,
        name: str,
        kind: str,
        config: dict[str, Any],
        tags: list[dict[str, str]] | None,
        spec: rules.AlarmSpec | None = None,
        rule: rules.RuleNode | None = None,
    ) -> dict[str, Any]:
        now = self.clock.now()
        existing = self.alarms.get(name)
        if existing is None:
            a = Alarm(
                name=name,
                type=kind,
                config=config,
                arn=self.arn(name),
                config_updated=now,
                state_updated=now,
                state_transitioned=now,
                last_evaluated=now,  # the first evaluation is the first tick after creation
                tags=[dict(t) for t in tags or []],
            )
            a.spec, a.rule = spec, rule
            history = self._config_history(a, "Create", None)
        else:
            before = _camel(existing.describe())
            a = existing
            a.config, a.config_updated, a.spec, a.rule = config, now, spec, rule
            history = self._config_history(a, "Update", before)
        self._commit([a], [history])
        self.alarms[name] = a
        return {}

    # ------------------------------------------------------------------ PutCompositeAlarm
    def put_composite_alarm(self, p: dict[str, Any]) -> dict[str, Any]:
        """PutCompositeAlarm: the rule is parsed (``Error in AlarmRule [...]``), every alarm it
        names must exist, and no alarm may depend on itself."""
        name = self._check_name(p.get("AlarmName"))
        text = p.get("AlarmRule")
        if text is None:
            raise _null("AlarmRule")
        try:
            node = rules.parse_rule(text)
            rules.check_rule_alarms_exist(node, set(self.alarms))
        except rules.AlarmError as exc:
            raise AwsError(exc.code, exc.message) from None
        if name in self._reachable(rules.rule_alarms(node)):
            raise validation(
                f"The alarm rule of {name} creates a cycle: a composite alarm cannot depend on "
                "itself."
            )
        self._check_actions(p)
        existing = self.alarms.get(name)
        if existing is not None and existing.type != COMPOSITE:
            raise validation(f"The alarm {name} is a metric alarm; use PutMetricAlarm.")
        config = {k: p[k] for k in _COMPOSITE_CONFIG if p.get(k) is not None}
        return self._put(name, COMPOSITE, config, p.get("Tags"), rule=node)

    def _reachable(self, names: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            child = self.alarms.get(n)
            if child is not None and child.rule is not None:
                todo.extend(rules.rule_alarms(child.rule))
        return seen

    def _parents(self, name: str) -> list[Alarm]:
        return [
            a
            for a in self.alarms.values()
            if a.rule is not None and name in rules.rule_alarms(a.rule)
        ]

    # ------------------------------------------------------------------ DescribeAlarms
    def describe_alarms(self, p: dict[str, Any]) -> dict[str, Any]:
        """DescribeAlarms: ``{"MetricAlarms", "CompositeAlarms", "NextToken"?}`` sorted by name;
        AlarmTypes defaults to metric alarms only; MaxRecords 1..100 (50)."""
        names, prefix = p.get("AlarmNames"), p.get("AlarmNamePrefix")
        children, parents = p.get("ChildrenOfAlarmName"), p.get("ParentsOfAlarmName")
        if names and prefix:
            raise AwsError(
                "InvalidParameterCombination",
                "AlarmNames and AlarmNamePrefix cannot be specified together.",
            )
        if (children or parents) and any(
            p.get(k)
            for k in ("AlarmNames", "AlarmNamePrefix", "StateValue", "ActionPrefix", "AlarmTypes")
        ):
            raise AwsError(
                "InvalidParameterCombination",
                "ChildrenOfAlarmName and ParentsOfAlarmName cannot be combined with other "
                "filters than MaxRecords and NextToken.",
            )
        if children and parents:
            raise AwsError(
                "InvalidParameterCombination",
                "ChildrenOfAlarmName and ParentsOfAlarmName cannot be specified together.",
            )
        limit = p.get("MaxRecords", 50)
        if not 1 <= limit <= 100:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'maxRecords' failed to "
                "satisfy constraint: Member must have value between 1 and 100"
            )
        state = p.get("StateValue")
        if state is not None and state not in rules.STATES:
            raise validation(
                f"1 validation error detected: Value '{state}' at 'stateValue' failed to satisfy "
                "constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
            )
        types = p.get("AlarmTypes") or [METRIC]
        if children:
            parent = self.alarms.get(children)
            refs = rules.rule_alarms(parent.rule) if parent and parent.rule else []
            found = [self.alarms[n] for n in refs if n in self.alarms]
        elif parents:
            found = self._parents(parents)
        else:
            found = [a for a in self.alarms.values() if a.type in types]
            if names:
                wanted = set(names)
                found = [a for a in found if a.name in wanted]
            if prefix:
                found = [a for a in found if a.name.startswith(prefix)]
            if state:
                found = [a for a in found if a.state == state]
            action = p.get("ActionPrefix")
            if action:
                found = [a for a in found if any(x.startswith(action) for x in a.all_actions())]
        found.sort(key=lambda a: a.name)
        scope = _hash(["alarms", {k: v for k, v in p.items() if k != "NextToken"}])
        offset = _offset(
            p.get("NextToken"), scope, lambda: AwsError("InvalidNextToken", "Invalid token")
        )
        page = found[offset : offset + limit]
        out: dict[str, Any] = {
            "MetricAlarms": [a.describe() for a in page if a.type == METRIC],
            "CompositeAlarms": [a.describe() for a in page if a.type == COMPOSITE],
        }
        if offset + limit < len(found):
            out["NextToken"] = _token(offset + limit, scope)
        return out

    def describe_alarms_for_metric(self, p: dict[str, Any]) -> dict[str, Any]:
        """DescribeAlarmsForMetric: metric alarms on that metric (the dimensions exactly; a
        metric-math alarm when one of its MetricStat entries is that metric)."""
        for member in ("MetricName", "Namespace"):
            if not p.get(member):
                raise AwsError("MissingParameter", f"The parameter {member} is required.")
        dims = _dims_or_error(p.get("Dimensions") or [])
        out = []
        for a in sorted(self.alarms.values(), key=lambda x: x.name):
            if a.type != METRIC:
                continue
            c = a.config
            candidates = []
            if c.get("MetricName"):
                candidates.append(
                    (
                        c["Namespace"],
                        c["MetricName"],
                        c.get("Dimensions") or [],
                        c.get("Statistic"),
                        c.get("ExtendedStatistic"),
                        c["Period"],
                        c.get("Unit"),
                    )
                )
            for q in c.get("Metrics") or []:
                ms = q.get("MetricStat")
                if ms:
                    m = ms["Metric"]
                    stat = ms["Stat"]
                    candidates.append(
                        (
                            m["Namespace"],
                            m["MetricName"],
                            m.get("Dimensions") or [],
                            stat if stat in STATISTICS else None,
                            None if stat in STATISTICS else stat,
                            ms["Period"],
                            ms.get("Unit"),
                        )
                    )
            for ns, name, cdims, stat, ext, period, unit in candidates:
                if (ns, name) != (p["Namespace"], p["MetricName"]):
                    continue
                if _dims_or_error(cdims) != dims:
                    continue
                if p.get("Statistic") and p["Statistic"] != stat:
                    continue
                if p.get("ExtendedStatistic") and p["ExtendedStatistic"] != ext:
                    continue
                if p.get("Period") and p["Period"] != period:
                    continue
                if p.get("Unit") and p["Unit"] != unit:
                    continue
                out.append(a.describe())
                break
        return {"MetricAlarms": out}

    # ------------------------------------------------------------------ history
    def describe_alarm_history(self, p: dict[str, Any]) -> dict[str, Any]:
        """DescribeAlarmHistory: ``{"AlarmHistoryItems": [...], "NextToken"?}``; HistoryItemType
        ConfigurationUpdate | StateUpdate | Action | ...; StartDate inclusive, EndDate
        exclusive; ScanBy TimestampDescending (default) or TimestampAscending; MaxRecords
        1..100 (100). History is kept 30 days, also for deleted alarms."""
        kind = p.get("HistoryItemType")
        kinds = (
            "ConfigurationUpdate",
            "StateUpdate",
            "Action",
            "AlarmContributorStateUpdate",
            "AlarmContributorAction",
        )
        if kind is not None and kind not in kinds:
            raise validation(
                f"1 validation error detected: Value '{kind}' at 'historyItemType' failed to "
                f"satisfy constraint: Member must satisfy enum value set: [{', '.join(kinds)}]"
            )
        scan = p.get("ScanBy") or "TimestampDescending"
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise validation(
                f"1 validation error detected: Value '{scan}' at 'scanBy' failed to satisfy "
                "constraint: Member must satisfy enum value set: [TimestampDescending, "
                "TimestampAscending]"
            )
        limit = p.get("MaxRecords", 100)
        if not 1 <= limit <= 100:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'maxRecords' failed to "
                "satisfy constraint: Member must have value between 1 and 100"
            )
        start, end = p.get("StartDate"), p.get("EndDate")
        if start is not None and end is not None and end <= start:
            raise validation("The parameter StartDate must be less than the parameter EndDate.")
        scope = _hash(["history", {k: v for k, v in p.items() if k != "NextToken"}])
        offset = _offset(
            p.get("NextToken"), scope, lambda: AwsError("InvalidNextToken", "Invalid token")
        )
        rows = self.store.history(
            p.get("AlarmName"),
            list(p.get("AlarmTypes") or []),
            kind,
            start,
            end,
            scan == "TimestampDescending",
            offset,
            limit + 1,
        )
        items = [
            {
                "AlarmName": name,
                "AlarmType": atype,
                "Timestamp": ts,
                "HistoryItemType": itype,
                "HistorySummary": summary,
                "HistoryData": data,
            }
            for name, atype, itype, ts, summary, data in rows[:limit]
        ]
        out: dict[str, Any] = {"AlarmHistoryItems": items}
        if len(rows) > limit:
            out["NextToken"] = _token(offset + limit, scope)
        return out

    # ------------------------------------------------------------------ the rest
    def delete_alarms(self, p: dict[str, Any]) -> dict[str, Any]:
        """DeleteAlarms: all or nothing; ResourceNotFound names the alarms that do not exist."""
        names = list(dict.fromkeys(p.get("AlarmNames") or []))
        if not names:
            raise _null("AlarmNames")
        absent = [n for n in names if n not in self.alarms]
        if absent:
            raise not_found(f"{len(absent)} alarm(s) not found: [{', '.join(absent)}]")
        history = [self._config_history(self.alarms[n], "Delete", None) for n in names]
        self._commit([], history, names)
        for n in names:
            del self.alarms[n]
        return {}

    def set_alarm_state(self, p: dict[str, Any]) -> dict[str, Any]:
        """SetAlarmState: the state holds until the next evaluation; a change records a
        StateUpdate and queues the new state's actions (as AWS does)."""
        name = self._check_name(p.get("AlarmName"))
        state = p.get("StateValue")
        if state not in rules.STATES:
            raise validation(
                f"1 validation error detected: Value '{state}' at 'stateValue' failed to satisfy "
                "constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
            )
        reason = p.get("StateReason")
        if reason is None:
            raise _null("StateReason")
        data = p.get("StateReasonData")
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                raise AwsError("InvalidFormat", "Data was not syntactically valid JSON") from None
        a = self._get(name)
        now = self.clock.now()
        changes: list[Alarm] = []
        history: list[HistoryRow] = []
        self._transition(a, state, reason, data, now, changes, history)
        self._cascade(list(changes), now, changes, history)
        self._commit(changes, history)
        return {}

    def set_actions_enabled(self, p: dict[str, Any], enabled: bool) -> dict[str, Any]:
        """EnableAlarmActions / DisableAlarmActions (unknown names are ignored)."""
        names = p.get("AlarmNames")
        if not names:
            raise _null("AlarmNames")
        changed = []
        for n in names:
            a = self.alarms.get(n)
            if a is not None:
                a.config["ActionsEnabled"] = enabled
                changed.append(a)
        self._commit(changed)
        return {}

    def _by_arn(self, arn: Any) -> Alarm:
        if not arn:
            raise _null("ResourceARN")
        name = str(arn).split(":alarm:", 1)[1] if ":alarm:" in str(arn) else None
        a = self.alarms.get(name or "")
        if a is None or a.arn != arn:
            raise AwsError(
                "ResourceNotFoundException", "The specified resource does not exist.", 404
            )
        return a

    def tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        a = self._by_arn(p.get("ResourceARN"))
        tags = {t["Key"]: t["Value"] for t in a.tags}
        for t in p.get("Tags") or []:
            tags[t["Key"]] = t["Value"]
        if len(tags) > 50:
            raise validation("An alarm can have at most 50 tags.")
        a.tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        self._commit([a])
        return {}

    def untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        a = self._by_arn(p.get("ResourceARN"))
        drop = set(p.get("TagKeys") or [])
        a.tags = [t for t in a.tags if t["Key"] not in drop]
        self._commit([a])
        return {}

    def list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": list(self._by_arn(p.get("ResourceARN")).tags)}

    # ------------------------------------------------------------------ evaluation
    def _transition(
        self,
        a: Alarm,
        state: str,
        reason: str,
        reason_data: str | None,
        when: float,
        changes: list[Alarm],
        history: list[HistoryRow],
    ) -> bool:
        """Move ``a`` to ``state``; a StateUpdate history item and queued actions when the
        state changes (the reason is updated either way)."""
        old_state, old_reason = a.state, a.reason
        changed = state != old_state
        a.reason, a.reason_data = reason, reason_data
        if a not in changes:
            changes.append(a)
        if not changed:
            return False
        if self._stamp_cap is not None:  # evaluate_ahead: never record a time past the clock
            when = min(when, self._stamp_cap)
        a.state = state
        a.state_updated = a.state_transitioned = when
        new_state: dict[str, Any] = {"stateValue": state, "stateReason": reason}
        if reason_data:
            try:
                new_state["stateReasonData"] = json.loads(reason_data)
            except ValueError:
                pass
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old_state, "stateReason": old_reason},
            "newState": new_state,
        }
        history.append(
            (
                a.name,
                a.type,
                "StateUpdate",
                when,
                f"Alarm updated from {old_state} to {state}",
                json.dumps(data),
            )
        )
        if a.actions_enabled:
            message = self._notification(a, old_state, when)
            subject = f'{state}: "{a.name}" in {REGION_NAMES.get(self.region, self.region)}'
            for arn in a.actions_for(state):
                self.pending.append(
                    PendingAction(a.name, a.type, arn, subject[:100], message, when)
                )
        return True

    def _cascade(
        self,
        seeds: list[Alarm],
        when: float,
        changes: list[Alarm],
        history: list[HistoryRow],
    ) -> None:
        """Re-evaluate the composite alarms over ``seeds`` (alarms whose state changed),
        transitively; the composites evaluated join ``changes`` (what is committed)."""
        todo = [a.name for a in seeds]
        seen: set[str] = set()
        while todo:
            name = todo.pop(0)
            for parent in self._parents(name):
                if parent.name in seen:
                    continue
                seen.add(parent.name)
                if self._evaluate_composite(parent, when, changes, history):
                    todo.append(parent.name)

    def _evaluate_composite(
        self, a: Alarm, when: float, changes: list[Alarm], history: list[HistoryRow]
    ) -> bool:
        assert a.rule is not None
        children = {
            n: rules.ChildState(c.arn, c.state, c.state_transitioned)
            for n in rules.rule_alarms(a.rule)
            if (c := self.alarms.get(n)) is not None
        }
        ev = rules.evaluate_composite(a.rule, children, when, a.state)
        a.last_evaluated = when
        if not ev.changed:
            if a not in changes:
                changes.append(a)
            return False
        return self._transition(a, ev.state, ev.reason, ev.reason_data, when, changes, history)

    def _datapoints(self, a: Alarm, when: float) -> list[tuple[float, float, float | None]]:
        """Per-period values of ``a``'s metric (or metric math) over its window at ``when``."""
        spec = a.spec
        assert spec is not None
        win = rules.window(spec, when)
        c = a.config
        if c.get("MetricName"):
            stat = str(c.get("Statistic") or c.get("ExtendedStatistic"))
            return self._series(
                c["Namespace"],
                c["MetricName"],
                c.get("Dimensions") or [],
                stat,
                spec.period,
                c.get("Unit"),
                win,
            )
        series: dict[str, list[tuple[float, float]]] = {}
        counts: dict[float, float | None] = {}
        for q in c.get("Metrics") or []:
            ms = q.get("MetricStat")
            if ms:
                m = ms["Metric"]
                pts = self._series(
                    m["Namespace"],
                    m["MetricName"],
                    m.get("Dimensions") or [],
                    ms["Stat"],
                    int(ms["Period"]),
                    ms.get("Unit"),
                    win,
                )
                series[q["Id"]] = [(t, v) for t, v, _ in pts]
                if q.get("ReturnData", True) and not any(x.get("Expression") for x in c["Metrics"]):
                    counts = {t: n for t, _, n in pts}
        return [(t, v, counts.get(t)) for t, v in rules.math_datapoints(spec, series, win)]

    def _series(
        self,
        namespace: str,
        name: str,
        dims: list[dict[str, str]],
        stat: str,
        period: int,
        unit: str | None,
        win: rules.Window,
    ) -> list[tuple[float, float, float | None]]:
        model = self.model
        mid = model._metric_id(namespace, name, _dims(dims, "Dimensions"))
        start, end = int(win.start), int(win.end)
        buckets = model._buckets(mid, start, end, period, unit, stat not in STATISTICS)
        out: list[tuple[float, float, float | None]] = []
        for ts in sorted(buckets):
            v = buckets[ts].stat(stat)
            if v is not None:
                out.append((float(ts), v, buckets[ts].n))
        return out

    def _evaluate_metric(
        self, a: Alarm, when: float, changes: list[Alarm], history: list[HistoryRow]
    ) -> bool:
        spec = a.spec
        assert spec is not None
        a.last_evaluated = when
        if a not in changes:
            changes.append(a)
        try:
            points = self._datapoints(a, when)
            ev = rules.evaluate(spec, points, when, a.state)
        except (metricmath.MetricMathError, metricmath.NeedsSearch, rules.AlarmError) as exc:
            log.warning("alarm %s not evaluated at %s: %s", a.name, _iso(when), exc)
            return False
        if ev.retained:
            return False
        if not ev.changed:
            a.reason, a.reason_data = ev.reason, ev.reason_data
            return False
        return self._transition(a, ev.state, ev.reason, ev.reason_data, when, changes, history)

    def due_ticks(self, now: float, only: set[str] | None = None) -> list[tuple[float, str]]:
        """``(tick, alarm name)`` of every evaluation due by ``now`` (of the alarms named in
        ``only``, default all), in time order."""
        out: list[tuple[float, str]] = []
        for a in self.alarms.values():
            if a.type != METRIC or a.spec is None:
                continue
            if only is not None and a.name not in only:
                continue
            step = rules.evaluation_interval(a.spec.period)
            last = a.last_evaluated if a.last_evaluated is not None else now - step
            first = rules.next_evaluation(a.spec, last)
            final = math.floor(now / step) * step
            if final < first:
                continue
            count = int((final - first) // step) + 1
            if count > MAX_CATCH_UP:
                first = final - (MAX_CATCH_UP - 1) * step
                count = MAX_CATCH_UP
            out.extend((first + i * step, a.name) for i in range(count))
        out.sort()
        return out

    def next_due(self, now: float) -> float | None:
        """The emulator time of the next evaluation tick of any alarm (None: no alarms)."""
        best: float | None = None
        for a in self.alarms.values():
            if a.type == METRIC and a.spec is not None:
                t = rules.next_evaluation(a.spec, a.last_evaluated or now)
            else:
                t = float((math.floor((a.last_evaluated or now) / 60) + 1) * 60)
            best = t if best is None else min(best, t)
        return best

    def evaluate_due(self, now: float | None = None) -> int:
        """Evaluate every alarm tick due by ``now`` (default: the clock), committing states and
        history and queueing actions (:meth:`run_actions` sends them). Returns evaluations."""
        now = self.clock.now() if now is None else now
        changes: list[Alarm] = []
        history: list[HistoryRow] = []
        done = self._run_ticks(self.due_ticks(now), changes, history)
        # composite alarms: their own minute tick (a new one, or a child deleted)
        for a in list(self.alarms.values()):
            if a.type == COMPOSITE:
                final = math.floor(now / 60) * 60
                if a.last_evaluated is None or final > a.last_evaluated:
                    done += 1
                    if self._evaluate_composite(a, final, changes, history):
                        self._cascade([a], final, changes, history)
        if changes or history:
            self._commit(changes, history)
        if now - self._history_expired_at > 3600:
            self._history_expired_at = now
            self.store.expire_history(now - HISTORY_DAYS * 86_400)
        return done

    def evaluate_ahead(
        self, names: list[str], ahead_s: float, now: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """bdlab's scoped fast-forward (admin ``/_bdlab/cloudwatch/evaluate``): evaluate the
        metric alarms ``names`` at every tick of theirs due by ``now + ahead_s``, as they
        would be evaluated then if no more data arrived, without moving the shared clock.

        The data read is what is stored: everything up to ``now``, nothing after it (missing,
        as TreatMissingData says). A transition at a tick past ``now`` is recorded at ``now``
        (state timestamps, history, the notification's StateChangeTime; ties keep their
        order), so nothing is stamped ahead of the shared clock; its reason and reason data
        name the tick and datapoints evaluated. ``last_evaluated`` moves to the last tick:
        the alarm's next regular evaluation is its first tick after that, once the shared
        clock has caught up (data stamped meanwhile is seen only by the ticks whose range
        still covers it). Composite parents of a changed alarm are re-evaluated at the tick.
        ValueError: an unknown or composite alarm, or ``ahead_s`` outside 0..MAX_AHEAD_S."""
        if not 0 <= ahead_s <= MAX_AHEAD_S:
            raise ValueError(f"ahead_s must be between 0 and {MAX_AHEAD_S}, not {ahead_s}")
        unknown = [n for n in names if (a := self.alarms.get(n)) is None or a.type != METRIC]
        if unknown or not names:
            raise ValueError(
                f"no metric alarm {', '.join(map(repr, unknown))}" if unknown else "no alarms named"
            )
        now = self.clock.now() if now is None else now
        changes: list[Alarm] = []
        history: list[HistoryRow] = []
        ticks = self.due_ticks(now + ahead_s, set(names))
        self._stamp_cap = now
        try:
            self._run_ticks(ticks, changes, history)
        finally:
            self._stamp_cap = None
        if changes or history:
            self._commit(changes, history)
        return {
            n: {
                "StateValue": self.alarms[n].state,
                "LastEvaluated": self.alarms[n].last_evaluated,
                "Evaluations": sum(1 for _, name in ticks if name == n),
            }
            for n in names
        }

    def _run_ticks(
        self, ticks: list[tuple[float, str]], changes: list[Alarm], history: list[HistoryRow]
    ) -> int:
        """Evaluate ``(tick, alarm name)`` in order, composites cascading at each tick."""
        done = 0
        i = 0
        while i < len(ticks):
            tick = ticks[i][0]
            changed: list[Alarm] = []
            while i < len(ticks) and ticks[i][0] == tick:
                a = self.alarms.get(ticks[i][1])
                i += 1
                if a is None:
                    continue
                done += 1
                if self._evaluate_metric(a, tick, changes, history):
                    changed.append(a)
            if changed:
                self._cascade(changed, tick, changes, history)
        return done

    async def run_actions(self) -> int:
        """Send the queued actions (SNS publish), recording each attempt as an Action history
        item (success or failure). Returns how many were attempted."""
        async with self._actions_lock:  # one sender at a time: notifications keep their order
            return await self._run_actions()

    async def _run_actions(self) -> int:
        done = 0
        while self.pending:
            act = self.pending.pop(0)
            done += 1
            ok, error = True, ""
            if not act.arn.startswith("arn:aws:sns:") or self.publish is None:
                ok, error = False, f"bdlab runs SNS actions only, not {act.arn}"
            else:
                try:
                    await self.publish(act.arn, act.subject, act.message)
                except AwsError as exc:
                    ok, error = False, f"{exc.code}: {exc.message}"
                except Exception as exc:  # an action must never break evaluation
                    log.exception("action %s of alarm %s failed", act.arn, act.alarm)
                    ok, error = False, str(exc)
            data: dict[str, Any] = {
                "actionState": "Succeeded" if ok else "Failed",
                "stateUpdateTimestamp": int(act.when * 1000),
                "notificationResource": act.arn,
                "publishedMessage": act.message,
            }
            if not ok:
                data["error"] = error
            summary = (
                f"Successfully executed action {act.arn}"
                if ok
                else f'Failed to execute action {act.arn}. Received error: "{error}"'
            )
            row = (act.alarm, act.alarm_type, "Action", self.clock.now(), summary, json.dumps(data))
            self._commit([], [row])
        return done

    # ------------------------------------------------------------------ notifications
    def _notification(self, a: Alarm, old_state: str, when: float) -> str:
        """The JSON message CloudWatch publishes to SNS for a transition (user guide,
        "Amazon SNS notifications for alarms"); key order as AWS writes it."""
        c = a.config
        msg: dict[str, Any] = {
            "AlarmName": a.name,
            "AlarmDescription": c.get("AlarmDescription"),
            "AWSAccountId": self.account,
            "AlarmConfigurationUpdatedTimestamp": _iso(a.config_updated),
            "NewStateValue": a.state,
            "NewStateReason": a.reason,
            "StateChangeTime": _iso(when),
            "Region": REGION_NAMES.get(self.region, self.region),
            "AlarmArn": a.arn,
            "OldStateValue": old_state,
            "OKActions": list(c.get("OKActions") or []),
            "AlarmActions": list(c.get("AlarmActions") or []),
            "InsufficientDataActions": list(c.get("InsufficientDataActions") or []),
        }
        if a.type == COMPOSITE:
            msg["AlarmRule"] = c.get("AlarmRule")
            try:
                trig = json.loads(a.reason_data or "{}").get("triggeringAlarms", [])
            except ValueError:
                trig = []
            msg["TriggeringChildren"] = [
                {
                    "Arn": t["arn"],
                    "State": {"Value": t["state"]["value"], "Timestamp": t["state"]["timestamp"]},
                }
                for t in trig
            ]
            return json.dumps(msg)
        trigger: dict[str, Any] = {}
        if c.get("MetricName"):
            stat = c.get("Statistic")
            trigger.update(
                MetricName=c["MetricName"],
                Namespace=c["Namespace"],
                StatisticType="Statistic" if stat else "ExtendedStatistic",
            )
            if stat:
                trigger["Statistic"] = re.sub(r"(?<!^)(?=[A-Z])", "_", stat).upper()
            else:
                trigger["ExtendedStatistic"] = c.get("ExtendedStatistic")
            trigger["Unit"] = c.get("Unit")
            trigger["Dimensions"] = [
                {"value": d["Value"], "name": d["Name"]} for d in c.get("Dimensions") or []
            ]
        else:
            trigger["Metrics"] = c.get("Metrics")
        trigger.update(
            Period=a.spec.period if a.spec else c.get("Period"),
            EvaluationPeriods=c["EvaluationPeriods"],
            DatapointsToAlarm=c.get("DatapointsToAlarm", c["EvaluationPeriods"]),
            ComparisonOperator=c["ComparisonOperator"],
            Threshold=float(c.get("Threshold", 0.0)),
            TreatMissingData=c.get("TreatMissingData", "missing"),
            EvaluateLowSampleCountPercentile=c.get("EvaluateLowSampleCountPercentile", ""),
        )
        msg["Trigger"] = trigger
        return json.dumps(msg)


def _dims_or_error(dims: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return _dims(dims, "Dimensions")


def _camel(d: Any) -> Any:
    """AWS member names in camelCase, as alarm history's JSON writes them; timestamps ISO."""
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            key = k[0].lower() + k[1:] if k and k[0].isupper() else k
            if k.endswith("Timestamp") and isinstance(v, int | float):
                v = _iso(float(v))
            out[key] = _camel(v)
        return out
    if isinstance(d, list):
        return [_camel(v) for v in d]
    return d
