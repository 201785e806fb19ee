"""``modelserve canary …``: a version answering a share of requests before it goes live."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from modelserve.cli.common import Context, echo_json, json_option, model_name_option, pass_context


@click.group()
def canary() -> None:
    """Start, watch, promote or abort a canary release."""


@canary.command(short_help="Let VERSION answer a share of requests, through the gates.")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "--fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Share of requests it answers; default: MODELSERVE_CANARY.",
)
@model_name_option
@pass_context
def start(ctx: Context, version: int, fraction: float | None, model_name: str | None) -> None:
    """Let VERSION answer a share of requests, if it passes the gates; it is promoted or
    aborted by the plan in MODELSERVE_CANARY_* (see `canary status`)."""
    from modelserve.delivery.promotion import GatedSwitch

    name = model_name or ctx.settings.model
    settings = ctx.settings.model_copy(update={"canary": fraction} if fraction else {})
    if not settings.canary:
        raise click.UsageError(
            "a canary needs a share of requests: --fraction, or MODELSERVE_CANARY (e.g. 0.1)"
        )
    entry = GatedSwitch(ctx.store, name, settings, click.echo).start_canary(
        version, "canary started from the command line"
    )
    click.echo(
        f"{name}: version {entry.to_version} answers {settings.canary:.0%} of requests; "
        f"version {entry.from_version} the rest"
    )


@canary.command(short_help="The running canary: its share, its plan, what it answered.")
@model_name_option
@json_option
@pass_context
def status(ctx: Context, model_name: str | None, as_json: bool) -> None:
    """The running canary: its share, its plan, and what each version answered so far."""
    from modelserve.canary import judge, tallies

    name = model_name or ctx.settings.model
    ctx.store.check_known(name)
    pointer = ctx.store.pointer(name)
    running = pointer.canary if pointer else None
    if running is not None:
        decided = judge(ctx.store, name, running)  # a verdict that is due, even with no traffic
        if decided is not None:
            if not as_json:
                outcome = "promoted" if decided.promote else "aborted"
                click.echo(
                    f"{name}: canary version {running.version} {outcome} now: {decided.reason}"
                )
            pointer, running = ctx.store.pointer(name), None
    if running is None:
        if as_json:
            echo_json({"model": name, "canary": None})
        else:
            click.echo(f"{name}: no canary runs; current version {ctx.store.current_version(name)}")
        return
    current, candidate = tallies(ctx.store, name, running)
    elapsed = (datetime.now(timezone.utc) - running.started).total_seconds()
    document = {
        "model": name,
        "current": pointer.version,
        "canary": running.model_dump(mode="json"),
        "elapsed_seconds": round(elapsed, 1),
        "answered": {"current": current.summary(), "canary": candidate.summary()},
    }
    if as_json:
        echo_json(document)
        return
    click.echo(
        f"{name}: version {running.version} answers {running.fraction:.0%} of requests "
        f"since {running.started.isoformat(timespec='seconds')} ({elapsed:.0f} s); "
        f"version {pointer.version} the rest"
    )
    for label, tally in (("canary", candidate), ("current", current)):
        p99 = "n/a" if tally.p99 is None else f"{tally.p99 * 1000:.1f} ms"
        click.echo(f"  {label:<8} {tally.requests} requests, {tally.errors} errors, p99 {p99}")
    click.echo(
        f"judged after {running.requests} canary requests or {running.seconds:g} s: promoted "
        f"if its error rate is at most the current's + {running.error_margin:g} and its p99 "
        f"at most {running.latency_factor:g}x the current's; aborted otherwise"
    )


@canary.command(short_help="Make the canary current now.")
@model_name_option
@pass_context
def promote(ctx: Context, model_name: str | None) -> None:
    """Make the canary current now (it passed the gates when it started)."""
    _end(ctx, model_name, promote=True)


@canary.command()
@model_name_option
@pass_context
def abort(ctx: Context, model_name: str | None) -> None:
    """Send every request to the current version again."""
    _end(ctx, model_name, promote=False)


def _end(ctx: Context, model_name: str | None, promote: bool) -> None:
    name = model_name or ctx.settings.model
    outcome = "promoted" if promote else "aborted"
    entry = ctx.store.end_canary(
        name, promote=promote, reason=f"canary {outcome} from the command line"
    )
    canary_version = entry.to_version if promote else entry.from_version
    click.echo(
        f"{name}: canary version {canary_version} {outcome}; "
        f"version {entry.to_version} answers every request"
    )
