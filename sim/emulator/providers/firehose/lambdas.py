"""Firehose's transformation Lambda, run locally: the function a user created with the Lambda
API (its zip, handler and timeout, as bdlab's Lambda keeps them) is invoked in a separate
Python process per batch, with Firehose's event and contract.

Why a process: the handler is the user's code; a crash, a hang past the function's Timeout or
a ``sys.exit`` must fail that invocation (Firehose then retries, then writes the batch to the
``processing-failed`` error prefix), never the emulator.
https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (zip bytes, handler "module.function", timeout in s) of a function ARN, or LookupError
Resolver = Callable[[str], tuple[bytes, str, int]]

_RUNNER = r"""
import importlib, json, sys, time
module, _, func = sys.argv[1].rpartition(".")
event = json.load(sys.stdin)

class Context:
    function_name = sys.argv[2]
    invoked_function_arn = sys.argv[3]
    aws_request_id = event.get("invocationId", "")
    memory_limit_in_mb = 128
    _deadline = time.time() + float(sys.argv[4])

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

sys.path.insert(0, ".")
handler = getattr(importlib.import_module(module), func)
result = handler(event, Context())
sys.stdout.write("\n@@bdlab-result@@" + json.dumps(result))
"""


class InvocationError(RuntimeError):
    """The function failed (an exception, a timeout, a bad answer): Lambda.FunctionError and
    friends, with the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class LocalLambda:
    resolve: Resolver
    cache: Path  # where function code is unpacked, by content hash

    def _unpack(self, code: bytes) -> Path:
        digest = hashlib.sha256(code).hexdigest()[:16]
        folder = self.cache / digest
        if not folder.exists():
            tmp = self.cache / f".{digest}.{os.getpid()}"
            tmp.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(io.BytesIO(code)) as z:
                z.extractall(tmp)
            tmp.rename(folder)
        return folder

    def invoke(self, arn: str, event: dict[str, Any]) -> dict[str, Any]:
        """The handler's answer to ``event``; InvocationError when it fails."""
        try:
            code, handler, timeout = self.resolve(arn)
        except LookupError as exc:
            raise InvocationError("Lambda.FunctionNotFound", str(exc)) from None
        folder = self._unpack(code)
        name = arn.rsplit(":", 1)[-1]
        try:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER, handler, name, arn, str(timeout)],
                input=json.dumps(event).encode(),
                cwd=folder,
                capture_output=True,
                timeout=timeout,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        except subprocess.TimeoutExpired:
            raise InvocationError(
                "Lambda.FunctionError", f"Task timed out after {timeout:.2f} seconds"
            ) from None
        out = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0 or "@@bdlab-result@@" not in out:
            tail = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[
                -1
            ]
            raise InvocationError("Lambda.FunctionError", tail)
        try:
            result = json.loads(out.rsplit("@@bdlab-result@@", 1)[1])
        except ValueError as exc:
            raise InvocationError("Lambda.InvalidResponse", f"not JSON: {exc}") from None
        if not isinstance(result, dict) or not isinstance(result.get("records"), list):
            raise InvocationError("Lambda.InvalidResponse", "the response has no list of records")
        return result
