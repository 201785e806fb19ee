"""The ``modelserve`` command: a few lines per verb over the packages that do the work."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from pydantic import ValidationError

from modelserve import __version__
from modelserve.cli.canary import canary
from modelserve.cli.cloud import cloud
from modelserve.cli.common import Context
from modelserve.cli.deploy import deploy
from modelserve.cli.models import models, rollback
from modelserve.cli.monitoring import feedback, monitor
from modelserve.cli.offline import evaluate, predict
from modelserve.cli.serving import health, serve, worker
from modelserve.cli.training import import_legacy, train
from modelserve.errors import ModelserveError
from modelserve.settings import get_settings

FAILURE = 1
USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="modelserve")
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Model store folder; default: MODELSERVE_STORE.",
)
@click.pass_context
def cli(ctx: click.Context, store: Path | None) -> None:
    """Train, store and serve Keras models."""
    ctx.obj = Context(get_settings(store=store))


for command in (
    train,
    import_legacy,
    evaluate,
    predict,
    models,
    rollback,
    canary,
    feedback,
    monitor,
    serve,
    worker,
    health,
    deploy,
    cloud,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error becomes one line on stderr and its exit code: 2 for usage
    (what the command line says cannot be run), 1 for a command that ran and failed."""
    try:
        cli.main(args=argv, prog_name="modelserve", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"{exc.format_message()}{hint}", USAGE)
    except click.ClickException as exc:  # e.g. a file click could not open
        _fail(exc.format_message(), FAILURE)
    except ModelserveError as exc:
        _fail(exc.local_message(), exc.exit_code)
    except ValidationError as exc:
        # Settings read from the environment failed validation: options given another way.
        first = exc.errors()[0]
        field = "MODELSERVE_" + "_".join(str(p) for p in first["loc"]).upper()
        _fail(f"{field}: {first['msg']}", USAGE)


def _fail(message: str, code: int) -> None:
    click.echo(f"modelserve: error: {message}", err=True)
    sys.exit(code)
