"""The ``iam`` service: moto's IAM backend for its breadth, with SimulatePrincipalPolicy
answered by bdlab's policy evaluation (sim/emulator/authz), which moto lacks. Labs use it to
test what a policy allows without calling (and possibly deleting) the real resource."""

from __future__ import annotations

import asyncio
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
        if action_of(req, body) != "SimulatePrincipalPolicy":
            return await self.moto.handle(req)
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        source = params.get("PolicySourceArn", "")
        actions = _members(params, "ActionNames")
        if not source or not actions:
            missing = "policySourceArn" if not source else "actionNames"
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value null at '{missing}' failed to satisfy "
                "constraint: Member must not be null",
            )
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(
            self.moto.executor,
            self.enforcer.simulate,
            source,
            actions,
            _members(params, "ResourceArns"),
        )
        members = "".join(
            f"<member><EvalActionName>{escape(a)}</EvalActionName>"
            f"<EvalResourceName>{escape(r)}</EvalResourceName>"
            f"<EvalDecision>{d}</EvalDecision><MatchedStatements/><MissingContextValues/>"
            "</member>"
            for a, r, d in results
        )
        xml = (
            f'<SimulatePrincipalPolicyResponse xmlns="{_NS}"><SimulatePrincipalPolicyResult>'
            f"<IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults>"
            "</SimulatePrincipalPolicyResult>"
            f"<ResponseMetadata><RequestId>{req.request_id}</RequestId></ResponseMetadata>"
            "</SimulatePrincipalPolicyResponse>"
        )
        return Response(200, [("content-type", "text/xml")], xml.encode())
