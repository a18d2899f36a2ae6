"""The ``iam`` service: moto's IAM backend for its breadth, with SimulatePrincipalPolicy and
SimulateCustomPolicy answered by bdlab's policy evaluation (sim/emulator/authz), which moto
lacks. Labs use it to
test what a policy allows without calling (and possibly deleting) the real resource."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from sim.emulator.authz.enforcer import IamEnforcer
from sim.emulator.protocol import AwsError, Request, Response
from sim.emulator.providers.base import Provider
from sim.emulator.providers.moto_backend import MotoProvider, action_of

_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


def _members(params: dict[str, str], name: str) -> list[str]:
    """Query-protocol lists: ``ActionNames.member.1``, ``ActionNames.member.2``, ..."""
    found = sorted(
        (int(k.rsplit(".", 1)[1]), v)
        for k, v in params.items()
        if k.startswith(f"{name}.member.") and k.rsplit(".", 1)[1].isdigit()
    )
    return [v for _, v in found]


class IamProvider(Provider):
    service = "iam"

    def __init__(self, moto: MotoProvider, enforcer: IamEnforcer) -> None:
        self.moto = moto
        self.enforcer = enforcer

    async def handle(self, req: Request) -> Response:
        body = await req.read()
        op = action_of(req, body)
        if op not in ("SimulatePrincipalPolicy", "SimulateCustomPolicy"):
            return await self.moto.handle(req)
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        actions = _members(params, "ActionNames")
        resources = _members(params, "ResourceArns")
        context = _context_entries(params)
        loop = asyncio.get_running_loop()
        if op == "SimulatePrincipalPolicy":
            source = params.get("PolicySourceArn", "")
            _required(("policySourceArn", source), ("actionNames", actions))
            results = await loop.run_in_executor(
                self.moto.executor, self.enforcer.simulate, source, actions, resources, context
            )
        else:
            policies = _members(params, "PolicyInputList")
            _required(("policyInputList", policies), ("actionNames", actions))
            docs = []
            for text in policies:
                try:
                    found = json.loads(text)
                except ValueError:
                    raise AwsError(
                        "MalformedPolicyDocument", "Syntax errors in policy.", 400
                    ) from None
                if not isinstance(found, dict):
                    raise AwsError("MalformedPolicyDocument", "Syntax errors in policy.", 400)
                docs.append(found)
            results = self.enforcer.simulate_custom(docs, actions, resources, context)
        members = "".join(
            f"<member><EvalActionName>{escape(a)}</EvalActionName>"
            f"<EvalResourceName>{escape(r)}</EvalResourceName>"
            f"<EvalDecision>{d}</EvalDecision><MatchedStatements/><MissingContextValues/>"
            "</member>"
            for a, r, d in results
        )
        xml = (
            f'<{op}Response xmlns="{_NS}"><{op}Result>'
            f"<IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults>"
            f"</{op}Result>"
            f"<ResponseMetadata><RequestId>{req.request_id}</RequestId></ResponseMetadata>"
            f"</{op}Response>"
        )
        return Response(200, [("content-type", "text/xml")], xml.encode())


def _required(*fields: tuple[str, object]) -> None:
    for name, value in fields:
        if not value:
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value null at '{name}' failed to satisfy "
                "constraint: Member must not be null",
            )


def _context_entries(params: dict[str, str]) -> dict[str, list[str]]:
    """``ContextEntries.member.N.ContextKeyName`` / ``.ContextKeyValues.member.M``: the
    condition keys a simulation runs with."""
    out: dict[str, list[str]] = {}
    n = 1
    while f"ContextEntries.member.{n}.ContextKeyName" in params:
        name = params[f"ContextEntries.member.{n}.ContextKeyName"]
        out[name] = _members(params, f"ContextEntries.member.{n}.ContextKeyValues")
        n += 1
    return out
