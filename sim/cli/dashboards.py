"""Verbs that start the Streamlit dashboards: dashboard (the BI app, a QuickSight stand-in)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from sim import profiles, runtime
from sim.cli import common
from sim.cli.common import app, console, fail, guard, note


@app.command()
@guard
def dashboard(
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="port on 127.0.0.1 (default: a free one)"
    ),
    bucket: str | None = typer.Option(
        None, "--bucket", help="bucket of the datasets (default: the demo's lake bucket)"
    ),
    datasets: Path | None = typer.Option(
        None,
        "--datasets",
        help="a TOML file of datasets (docs/dashboards.md; default: the built-in ones)",
    ),
    browser: bool = typer.Option(True, "--browser/--no-browser", help="open a browser tab"),
    monitoring: bool = typer.Option(
        False,
        "--monitoring",
        help="the pipeline monitoring console (CloudWatch console stand-in) instead",
    ),
) -> None:
    """Start the BI dashboard (Streamlit) on 127.0.0.1 over the profile's S3 and Delta data,
    or with --monitoring the pipeline monitoring console over its CloudWatch, Kinesis,
    Firehose, EMR and notifications."""
    from dashboards.bi import registry
    from dashboards.common import launch

    try:
        launch.check_streamlit()
        if port is not None:
            launch.check_port(port)
        if datasets is not None:
            registry.load(datasets)  # a broken file is one line here, not on the page
    except (launch.LaunchError, registry.RegistryError) as exc:
        fail(str(exc))
    prof = common.prof()
    runtime.ensure_up(prof, common.cfg(), say=note)
    if bucket is None:
        from sim import demo

        bucket = demo.demo_bucket(prof)
    if not monitoring:
        _say_if_missing(prof, bucket)
    port = port or launch.free_port()
    app_dir = "monitoring" if monitoring else "bi"
    script = Path(launch.__file__).resolve().parent.parent / app_dir / "app.py"
    # SPICE is kept in the state folder: a dashboard started again shows its datasets at once
    spice_dir = common.cfg().state_path / "spice"
    args = launch.AppArgs(
        prof, bucket, datasets.resolve() if datasets else None, spice_dir=spice_dir
    )
    if monitoring:
        console.print(
            f"Monitoring console: http://127.0.0.1:{port}/  (profile {prof.name}; Ctrl-C stops it)"
        )
    else:
        console.print(
            f"BI dashboard: http://127.0.0.1:{port}/  (profile {prof.name}, bucket {bucket}; "
            "Ctrl-C stops it)"
        )
    sys.stdout.flush()
    cmd = launch.command(script, port, args)
    if browser:
        launch.open_when_up(f"http://127.0.0.1:{port}/")
    # Become Streamlit (no child left behind when this process is stopped); the checkout
    # root on the path lets `streamlit run` import the dashboards package from a checkout.
    env = dict(os.environ)
    root = str(script.parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    os.execve(sys.executable, cmd, env)


def _say_if_missing(prof: profiles.Profile, bucket: str) -> None:
    """A note (not a refusal: the pipeline may create it later) when ``bucket`` is not there."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sim import clients

    try:
        clients.client("s3", prof, retries=False).head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            note(
                f"bucket {bucket} does not exist yet on profile {prof.name}: "
                "the datasets stay empty until something writes it (`bdlab demo` writes the "
                "default one)"
            )
    except BotoCoreError:
        pass  # the page says what is wrong with the connection
