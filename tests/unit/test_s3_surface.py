"""The one table of what bdlab's S3 implements (s3/surface.py) names real S3 operations and
drives the guard."""

from __future__ import annotations

import botocore.session
import pytest

from sim.emulator.protocol import AwsError
from sim.emulator.providers.s3 import surface


def test_every_operation_of_the_table_is_an_s3_api_operation() -> None:
    model = botocore.session.get_session().get_service_model("s3")
    names = {op for s in surface.SUBRESOURCES for op, _ in s.ops.values()}
    assert names - set(model.operation_names) == set()


def test_the_guard_follows_the_table() -> None:
    assert surface.guard("bucket", "GET", {"lifecycle": ""}, {}).operation == (
        "GetBucketLifecycleConfiguration"
    )
    assert surface.guard("object", "GET", {}, {}).sub is None
    for level, sub, method, op in surface.unimplemented():
        with pytest.raises(AwsError) as e:
            surface.guard(level, method, {sub: ""}, {})
        assert (e.value.code, e.value.status) == ("NotImplemented", 501)
        assert op in e.value.message
    with pytest.raises(AwsError) as e:
        surface.guard("object", "PUT", {}, {"x-amz-server-side-encryption-customer-key": "k"})
    assert e.value.extra["Header"] == "x-amz-server-side-encryption-customer-key"
    with pytest.raises(AwsError) as e:
        surface.guard("bucket", "POST", {"cors": ""}, {})
    assert (e.value.code, e.value.status) == ("MethodNotAllowed", 405)
