"""`lumen train ...`: datasets and runs through the HTTP API, with a progress bar that follows the run's job.

The CLI talks to a running Lumen (`--url`, default http://127.0.0.1:8000, or LUMEN_URL) with a tenant API key
(`--key` or LUMEN_API_KEY), so it works the same against `lumen serve` on this machine and a remote cluster.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import httpx

__all__ = ["train"]


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=120)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise click.ClickException(f"{response.status_code}: {detail}")
    return response.json()


connection = [
    click.option("--url", envvar="LUMEN_URL", default="http://127.0.0.1:8000", show_default=True),
    click.option("--key", envvar="LUMEN_API_KEY", required=True, help="A tenant API key (or LUMEN_API_KEY)."),
]


def _with_connection(f: Any) -> Any:
    for option in reversed(connection):
        f = option(f)
    return f


@click.group()
def train() -> None:
    """Training datasets and LoRA runs."""


@train.group()
def datasets() -> None:
    """Upload and list training datasets."""


@datasets.command("upload")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The dataset's name (a new version each upload).")
@click.option("--phi", type=click.Choice(["redact", "reject"]), default="redact", show_default=True)
@_with_connection
def datasets_upload(path: Path, name: str, phi: str, url: str, key: str) -> None:
    """Upload a JSONL file of chat examples or instruction/response pairs."""
    with _client(url, key) as http:
        body = _check(
            http.post(
                "/v1/training/datasets",
                params={"name": name, "phi": phi},
                content=path.read_bytes(),
                headers={"content-type": "application/jsonl"},
            )
        )
    report = body["report"]
    click.echo(
        f"{body['id']}  {body['name']} v{body['version']}: {report['accepted']} accepted "
        f"({body['train_examples']} train, {body['eval_examples']} eval), "
        f"{report['rejected_count']} rejected, "
        f"{report['redacted_count']} redacted"
    )
    for item in report["rejected"][:20]:
        click.echo(f"  rejected #{item['index']}: {item['reason']}")


@datasets.command("list")
@_with_connection
def datasets_list(url: str, key: str) -> None:
    with _client(url, key) as http:
        body = _check(http.get("/v1/training/datasets"))
    for d in body["items"]:
        click.echo(
            f"{d['id']}  {d['name']} v{d['version']}  train={d['train_examples']} eval={d['eval_examples']}"
        )


@train.command("run")
@click.option("--dataset", "dataset_id", required=True, help="The dataset id.")
@click.option("--name", default=None, help="The adapter's name (default: the dataset's).")
@click.option("--method", type=click.Choice(["lora", "qlora"]), default="lora", show_default=True)
@click.option("--max-steps", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--learning-rate", type=float, default=None)
@click.option("--rank", type=click.IntRange(1, 64), default=None)
@click.option("--watch/--no-watch", default=False, help="Follow the run with a progress bar.")
@_with_connection
def run(
    dataset_id: str,
    name: str | None,
    method: str,
    max_steps: int,
    learning_rate: float | None,
    rank: int | None,
    watch: bool,
    url: str,
    key: str,
) -> None:
    """Start a training run."""
    hyper: dict[str, Any] = {"max_steps": max_steps}
    if learning_rate is not None:
        hyper["learning_rate"] = learning_rate
    if rank is not None:
        hyper["rank"] = rank
    body: dict[str, Any] = {"dataset": dataset_id, "method": method, "hyperparameters": hyper}
    if name:
        body["name"] = name
    with _client(url, key) as http:
        started = _check(http.post("/v1/training/runs", json=body))
        click.echo(f"run {started['id']} queued (job {started['job_id']})")
        if watch:
            _watch(http, started["id"], started["job_id"], max_steps)


@train.command("status")
@click.argument("run_id")
@click.option("--watch/--no-watch", default=False)
@_with_connection
def status(run_id: str, watch: bool, url: str, key: str) -> None:
    """A run's status (and, with --watch, follow it)."""
    with _client(url, key) as http:
        body = _check(http.get(f"/v1/training/runs/{run_id}"))
        if watch and body["status"] not in ("published", "gate_failed", "failed", "cancelled"):
            _watch(http, run_id, body["job_id"], body["max_steps"])
        else:
            click.echo(json.dumps(body, indent=2))


@train.command("cancel")
@click.argument("run_id")
@_with_connection
def cancel(run_id: str, url: str, key: str) -> None:
    """Cancel a queued or running run (seen at its next step)."""
    with _client(url, key) as http:
        body = _check(http.post(f"/v1/training/runs/{run_id}/cancel"))
    click.echo(f"run {run_id}: {body['status']} (cancel requested)")


@train.command("rollback")
@click.argument("name")
@click.option(
    "--version", type=click.IntRange(1), default=None, help="Default: the version before the current."
)
@_with_connection
def rollback(name: str, version: int | None, url: str, key: str) -> None:
    """Point a trained adapter's name at an earlier published version."""
    with _client(url, key) as http:
        body = _check(
            http.post(
                f"/v1/training/adapters/{name}/rollback", json={} if version is None else {"version": version}
            )
        )
    click.echo(f"{name} now serves {name}-v{body['version']} (was v{body['previous_version']})")


def _watch(http: httpx.Client, run_id: str, job_id: str, total: int) -> None:
    """A progress bar from the job's progress (steps, loss, eta in its message) until the run finishes."""
    shown = 0
    with click.progressbar(length=total, label="training", show_eta=False) as bar:
        while True:
            run_body = _check(http.get(f"/v1/training/runs/{run_id}"))
            job = _check(http.get(f"/v1/jobs/{job_id}"))
            step = int(run_body["step"])
            if step > shown:
                bar.update(step - shown)
                shown = step
            if job.get("message"):
                bar.label = f"training: {job['message']}"
            if run_body["status"] in ("published", "gate_failed", "failed", "cancelled"):
                break
            time.sleep(1)
    click.echo(f"run {run_id}: {run_body['status']}")
    if run_body.get("adapter"):
        adapter = run_body["adapter"]
        click.echo(f"adapter {adapter['name']} ({adapter['id']}); chat with model={adapter['alias']!r}")
    for reason in (run_body.get("gate") or {}).get("reasons", []):
        click.echo(f"  gate: {reason}")
    if run_body.get("error"):
        click.echo(f"  error: {run_body['error']}")
