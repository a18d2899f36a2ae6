"""Rules of the AWS/S3 and AWS/ElasticMapReduce metrics without HTTP (issue 15 item 4)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from sim.emulator.protocol import AwsError
from sim.emulator.providers.emr.metrics import EmrMetrics
from sim.emulator.providers.emr.model import Cluster, Step
from sim.emulator.providers.s3 import metrics as m


def test_at_most_1000_configurations_per_bucket_and_replacing_one_is_not_new() -> None:
    docs = {f"id{i}": "<x/>" for i in range(m.MAX_CONFIGS)}
    with pytest.raises(AwsError) as exc:
        m.with_config(docs, m.MetricsConfig("new", xml="<y/>"))
    assert exc.value.code == "TooManyConfigurations"
    assert m.with_config(docs, m.MetricsConfig("id5", xml="<y/>"))["id5"] == "<y/>"


def test_filters_match_prefix_tags_and_never_an_access_point() -> None:
    doc = (
        "<MetricsConfiguration><Id>a</Id><Filter><And><Prefix>raw/</Prefix>"
        "<Tag><Key>team</Key><Value>etl</Value></Tag></And></Filter></MetricsConfiguration>"
    )
    cfg = m.parse_config(ET.fromstring(doc), "a")
    assert cfg.matches("raw/x", {"team": "etl"}) and not cfg.matches("raw/x", {"team": "bi"})
    assert not cfg.matches("other/x", {"team": "etl"}) and not cfg.whole_bucket
    assert m.from_stored({"a": cfg.xml}) == (cfg,)
    ap = m.MetricsConfig("b", access_point="arn:aws:s3:us-east-1:123456789012:accesspoint/x")
    assert not ap.matches("anything", None)
    with pytest.raises(AwsError) as exc:
        m.parse_config(
            ET.fromstring(
                "<MetricsConfiguration><Id>a</Id><Filter><And/></Filter></MetricsConfiguration>"
            ),
            "a",
        )
    assert exc.value.code == "MalformedXML"


@pytest.mark.parametrize(
    ("method", "key", "op", "kind"),
    [
        ("GET", "k", "GetObject", "GetRequests"),
        ("PUT", "k", "PutObject", "PutRequests"),
        ("DELETE", "k", "DeleteObject", "DeleteRequests"),
        ("POST", "", "DeleteObjects", "DeleteRequests"),
        ("HEAD", "k", "HeadObject", "HeadRequests"),
        ("POST", "k", "CreateMultipartUpload", "PostRequests"),
        ("POST", "k", "SelectObjectContent", None),
        ("GET", "", "ListObjectsV2", "ListRequests"),
        ("GET", "", "GetBucketTagging", None),
    ],
)
def test_request_kinds(method: str, key: str, op: str, kind: str | None) -> None:
    assert m.request_kind(method, key, op) == kind


def _cluster(state: str, ended: float | None = None) -> Cluster:
    spec = {"Instances": {"InstanceCount": 3}}
    return Cluster("j-1", "c", state, 0.0, spec, None, True, changed=0.0, ended=ended)


def _step(state: str, started: float | None = 1.0) -> Step:
    return Step("s", "j-1", 1, "n", "CONTINUE", "j", [], None, {}, state=state, started=started)


def test_emr_metrics_once_per_five_minutes_and_once_after_the_end() -> None:
    pub = EmrMetrics()
    steps = [_step("FAILED"), _step("COMPLETED"), _step("PENDING", None)]
    got = {
        d["MetricName"]: d["Value"] for d in pub.due([_cluster("WAITING")], lambda _: steps, 610)
    }
    assert got["AppsFailed"] == 1 and got["AppsCompleted"] == 1 and got["AppsPending"] == 1
    assert got["IsIdle"] == 1 and got["CoreNodesRunning"] == 2 and got["AppsSubmitted"] == 2
    assert pub.due([_cluster("WAITING")], lambda _: steps, 899) == []  # same period
    assert pub.due([_cluster("TERMINATED", ended=850)], lambda _: steps, 901)  # its final state
    assert pub.due([_cluster("TERMINATED", ended=850)], lambda _: steps, 1201) == []
    assert EmrMetrics().due([_cluster("TERMINATED", ended=10)], lambda _: steps, 1201) == []
