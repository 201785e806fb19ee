"""``modelserve deploy …``: the production repository that ``git push production`` reaches."""

from __future__ import annotations

import getpass
import socket
import sys
from pathlib import Path

import click

from modelserve.cli.common import Context, empty_folder, pass_context


@click.group(short_help="Receive models by `git push production`, behind gates.")
def deploy() -> None:
    """Receive models by `git push production`, behind validation gates."""


@deploy.command(short_help="A bare repository whose hooks gate and promote pushes.")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), callback=empty_folder)
@click.option(
    "--branch", default=None, help="Branch that deploys; default: MODELSERVE_DEPLOY_BRANCH."
)
@pass_context
def init(ctx: Context, path: Path, branch: str | None) -> None:
    """Create a bare repository at PATH whose hooks gate and promote pushed models."""
    from modelserve.delivery.repository import init_repository

    settings = ctx.settings.model_copy(update={"deploy_branch": branch} if branch else {})
    ctx.store  # noqa: B018 - the store exists (with the demo model) before the first push
    repo = init_repository(path, settings)
    user, host = getpass.getuser(), socket.getfqdn()
    click.echo(
        f"Created {repo}: pushes to {settings.deploy_branch} deploy the bundle in "
        f"{settings.deploy_path}/ to {settings.model} in {settings.store.resolve()}."
    )
    click.echo("On the development side, add it as a remote:")
    click.echo(f"  git remote add production {repo}                  # on this machine")
    click.echo(f"  git remote add production ssh://{user}@{host}{repo}   # over SSH")
    click.echo(
        f"then: modelserve train --out {settings.deploy_path} && git add "
        f"{settings.deploy_path} && git commit -m 'New model' && "
        f"git push production {settings.deploy_branch}"
    )


@deploy.command(short_help="Run the gates on a bundle folder, changing nothing.")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@pass_context
def check(ctx: Context, bundle: Path) -> None:
    """Run the gates on a bundle folder against the current version, changing nothing."""
    from modelserve.delivery.gates import check_bundle
    from modelserve.errors import GateFailed

    report = check_bundle(bundle, ctx.store, ctx.settings.model, ctx.settings)
    for result in report.results:
        click.echo(result.line())
    if not report.passed:
        raise GateFailed(
            f"{bundle} would be refused: {', '.join(r.gate for r in report.failures)} failed"
        )
    click.echo(f"{bundle} passes every gate")


@deploy.command("pre-receive", short_help="Git hook: gate pushed bundles before any ref moves.")
@pass_context
def pre_receive(ctx: Context) -> None:
    """Git hook: gate pushed bundles before any ref moves (reads git's stdin)."""
    from modelserve.delivery.receive import pre_receive as run
    from modelserve.delivery.repository import read_updates

    updates = read_updates(sys.stdin.read())
    if not run(updates, ctx.settings, Path.cwd(), click.echo):
        raise SystemExit(1)


@deploy.command("post-receive", short_help="Git hook: promote the bundle pre-receive passed.")
@pass_context
def post_receive(ctx: Context) -> None:
    """Git hook: promote the bundle that pre-receive passed (reads git's stdin)."""
    from modelserve.delivery.receive import post_receive as run
    from modelserve.delivery.repository import read_updates

    updates = read_updates(sys.stdin.read())
    if not run(updates, ctx.settings, Path.cwd(), click.echo):
        raise SystemExit(1)
