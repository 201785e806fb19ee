"""``modelserve serve`` and ``modelserve worker``: the production processes."""

from __future__ import annotations

import click

from modelserve.cli.common import Context, pass_context


@click.command()
@click.option("--host", default=None, help="Listen address; default: MODELSERVE_HOST (127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Listen port; default: MODELSERVE_PORT (5100).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Server processes; default: MODELSERVE_WEB_WORKERS (2).",
)
@click.option(
    "--bind-fd",
    type=click.IntRange(min=0),
    default=None,
    help="Serve on an inherited listening socket (socket activation) instead.",
)
@pass_context
def serve(ctx: Context, host, port, workers, bind_fd) -> None:
    """Run the web front end (pages and JSON APIs) under granian."""
    from modelserve.web.server import check_address_free, run

    updates = {
        k: v
        for k, v in {"host": host, "port": port, "web_workers": workers}.items()
        if v is not None
    }
    settings = ctx.settings.model_copy(update=updates)
    ctx.store  # noqa: B018 - installs the demo bundle once, before workers start
    if bind_fd is None:
        check_address_free(settings.host, settings.port)
    run(settings, bind_fd)


@click.command(short_help="Run Celery workers that answer prediction requests.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes; default: MODELSERVE_WORKER_CONCURRENCY (2).",
)
@pass_context
def worker(ctx: Context, concurrency) -> None:
    """Run Celery workers that answer prediction requests from RabbitMQ."""
    import os
    import socket

    from modelserve.logs import configure_logging
    from modelserve.worker import app as worker_app

    settings = ctx.settings
    if settings.broker_url is None:
        raise click.UsageError("set MODELSERVE_BROKER_URL (e.g. amqp://user:pass@host:5672//)")
    ctx.store  # noqa: B018 - installs the demo bundle once, before the pool forks
    configure_logging(settings.log_level)
    worker_app.serve_with(settings)
    celery = worker_app.create_celery(settings)
    process = celery.Worker(
        concurrency=concurrency or settings.worker_concurrency,
        loglevel=settings.log_level,
        hostname=f"modelserve-{os.getpid()}@{socket.gethostname()}",
        without_gossip=True,
        without_mingle=True,
        optimization="fair",
        quiet=True,
    )
    process.start()
    raise SystemExit(process.exitcode)


@click.command(short_help="Exit 0 if this node's web server (or worker) answers.")
@click.option(
    "--url",
    default=None,
    help="Address to probe; default: this node's /healthz on MODELSERVE_PORT.",
)
@click.option("--worker", is_flag=True, help="Probe this host's Celery workers instead.")
@pass_context
def health(ctx: Context, url: str | None, worker: bool) -> None:
    """Exit 0 if this node's web server (or worker) answers: for container health checks."""
    import socket
    import urllib.error
    import urllib.request

    from modelserve.errors import BackendUnavailable

    settings = ctx.settings
    if worker:
        from modelserve.worker.app import create_celery

        if settings.broker_url is None:
            raise click.UsageError("set MODELSERVE_BROKER_URL")
        suffix = f"@{socket.gethostname()}"
        replies = create_celery(settings).control.ping(timeout=2.0)
        if not any(node.endswith(suffix) for reply in replies for node in reply):
            raise BackendUnavailable(f"no worker on {socket.gethostname()} answered")
        click.echo("worker answering")
        return
    url = url or f"http://127.0.0.1:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            click.echo(f"{url}: {response.status}")
    except (urllib.error.URLError, OSError) as exc:
        raise BackendUnavailable(f"{url}: {exc}") from exc
