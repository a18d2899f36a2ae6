"""compose.yaml's monitoring profile and the files it mounts: pinned images, a Prometheus
config promtool accepts (when installed) scraping the emulator and every component, Grafana's
data source and a dashboard querying series bdlab really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sim.cli.monitoring import host_config

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "monitoring"


def test_compose_monitoring_profile_is_pinned_and_mounts_the_config() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name in ("prometheus", "grafana"):
        svc = services[name]
        assert svc["profiles"] == ["monitoring"]
        assert re.search(r":v?\d+\.\d+\.\d+$", svc["image"]), svc["image"]  # pinned, no latest
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"])
        for volume in svc["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert "host.docker.internal:host-gateway" in services["prometheus"]["extra_hosts"]


def test_prometheus_config_scrapes_the_emulator_and_components() -> None:
    conf = yaml.safe_load((MON / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert set(jobs) == {
        "bdlab-emulator",
        "bdlab-producer",
        "bdlab-consumer",
        "bdlab-agent",
        "bdlab-spark",
    }
    assert jobs["bdlab-emulator"]["static_configs"][0]["targets"] == ["host.docker.internal:4566"]
    host = yaml.safe_load(host_config((MON / "prometheus.yml").read_text(), 4599))
    targets = [t for j in host["scrape_configs"] for s in j["static_configs"] for t in s["targets"]]
    assert "127.0.0.1:4599" in targets and all(t.startswith("127.0.0.1:") for t in targets)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    for text in (
        (MON / "prometheus.yml").read_text(),
        host_config((MON / "prometheus.yml").read_text(), 4566),
    ):
        f = tmp_path / "prometheus.yml"
        f.write_text(text)
        done = subprocess.run(
            ["promtool", "check", "config", str(f)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_datasource_and_dashboard_use_bdlab_series() -> None:
    ds = yaml.safe_load((MON / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    dash = json.loads((MON / "grafana/dashboards/bdlab-pipeline.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert all(
        t["datasource"]["uid"] == source["uid"] for p in dash["panels"] for t in p["targets"]
    )
    used = set(re.findall(r"bdlab_[a-z0-9_]+", " ".join(exprs)))
    exported = set(re.findall(r"``(bdlab_[a-z0-9_]+)", _docs()))
    base = {re.sub(r"_(bucket|sum|count)$", "", u) for u in used}
    assert base <= exported, base - exported


def _docs() -> str:
    """The series the exporters document (their module docstrings)."""
    from sim.emulator import prommetrics
    from sim.monitoring import promexport

    return (prommetrics.__doc__ or "") + (promexport.__doc__ or "")


def test_take_metrics_port_leaves_positional_arguments_alone() -> None:
    from sim.monitoring.promexport import take_metrics_port

    assert take_metrics_port(["a", "--metrics-port", "9104", "b"]) == (["a", "b"], 9104)
    assert take_metrics_port(["a", "--metrics-port=0"]) == (["a"], 0)
    assert take_metrics_port(["a", "b"]) == (["a", "b"], None)
    with pytest.raises(ValueError, match="port number"):
        take_metrics_port(["--metrics-port"])
