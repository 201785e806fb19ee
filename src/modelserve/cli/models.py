"""``modelserve models …`` and ``modelserve rollback``: the store's versions and switches."""

from __future__ import annotations

from pathlib import Path

import click

from modelserve.cli.common import (
    Context,
    echo_json,
    echo_table,
    json_option,
    model_name_option,
    model_option,
    pass_context,
)


@click.group()
def models() -> None:
    """List, inspect, promote and roll back model versions."""


@models.command("list")
@json_option
@pass_context
def list_models(ctx: Context, as_json: bool) -> None:
    """Every model in the store with its versions and the current one."""
    rows = []
    for name in ctx.store.models():
        pointer = ctx.store.pointer(name)
        current = pointer.version if pointer else None
        metrics = (
            ctx.store.bundle(name, current, verify=False).metadata.evaluation.metrics
            if current
            else None
        )
        rows.append(
            {
                "model": name,
                "versions": ctx.store.versions(name),
                "current": current,
                # The trainer's figure on its holdout: claimed by the bundle, not measured here.
                "accuracy": metrics.accuracy if metrics else None,
            }
        )
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["model", "current", "versions", "accuracy (claimed)"],
        [
            [r["model"], r["current"], ",".join(map(str, r["versions"])), r["accuracy"]]
            for r in rows
        ],
    )


@models.command(short_help="One version's metadata (default: current); checks its files.")
@model_option
@json_option
@pass_context
def show(ctx: Context, model_ref, as_json: bool) -> None:
    """Metadata of one version (default: the current one); verifies its checksums."""
    name, version = model_ref.resolve(ctx.settings)
    bundle = ctx.store.bundle(name, version)
    meta = bundle.metadata
    if as_json:
        echo_json(meta.model_dump(mode="json"))
        return
    is_current = meta.version == ctx.store.current_version(name)
    click.echo(f"{meta.name} version {meta.version}{' (current)' if is_current else ''}")
    click.echo(f"created   {meta.created.isoformat()}")
    click.echo(f"path      {bundle.path}")
    click.echo(f"inputs    {', '.join(meta.feature_names)} (float32)")
    click.echo(
        f"output    {meta.output.name}: {meta.output.description}, "
        f"class 1 above {meta.output.threshold}"
    )
    network = " -> ".join(f"{layer.units} {layer.activation}" for layer in meta.layers)
    click.echo(f"network   {network}{', inputs normalised' if meta.normalisation else ''}")
    t = meta.training
    click.echo(
        f"training  {t.source}, epochs {t.epochs}, batch size {t.batch_size}, seed {t.seed}"
        f", data sha256 {t.data_sha256 or 'unknown'}"
    )
    if meta.dataset is not None:
        d = meta.dataset
        copy = f"copy {bundle.dataset_path()}" if d.file else "no copy in the bundle"
        click.echo(
            f"data      {d.name}, {d.rows} rows, sha256 {d.sha256[:12]}, "
            f"{len(d.holdout)} measured; {copy}"
        )
    m = meta.evaluation.metrics
    click.echo(
        f"claimed   {meta.evaluation.split}: accuracy {m.accuracy:.4f}, "
        f"f1 {m.f1:.4f}, roc_auc {m.roc_auc if m.roc_auc is None else round(m.roc_auc, 4)}"
        f", n {m.n}"
    )
    record = ctx.store.records(name).get(meta.version)
    if record is not None:
        origin = ", ".join(f"{key} {value}" for key, value in record.origin.items())
        click.echo(f"stored    {record.time.isoformat(timespec='seconds')} from {origin}")
        click.echo(f"digest    {bundle.digest}, as recorded when it was stored")
    click.echo("files     all checksums match")


@models.command()
@click.argument("path", type=click.Path(file_okay=False, exists=True, path_type=Path))
@model_name_option
@click.option("--promote", is_flag=True, help="Make it current, if it passes the gates.")
@pass_context
def add(ctx: Context, path: Path, model_name: str | None, promote: bool) -> None:
    """Store the bundle folder PATH as the model's next version."""
    from modelserve.bundles import ModelStore
    from modelserve.delivery.promotion import GatedSwitch

    name = model_name or ctx.settings.model
    # No demo bundle here: a store that receives its first model should start with it.
    store = ModelStore(ctx.settings.store)
    bundle = store.add(path, name)
    click.echo(f"stored {name} version {bundle.version}")
    if promote:
        switch = GatedSwitch(store, name, ctx.settings, click.echo)
        entry = switch.promote(bundle.version, f"added from {path}")
        click.echo(f"{name}: current version {entry.from_version} -> {entry.to_version}")


@models.command(short_help="Make VERSION current, if it passes the same gates as a push.")
@click.argument("version", type=click.IntRange(min=1))
@model_name_option
@click.option("--reason", default="promoted from the command line", show_default=True)
@click.option(
    "--force", is_flag=True, help="Skip the gates (recorded in the history); for emergencies."
)
@pass_context
def promote(ctx: Context, version: int, model_name: str | None, reason: str, force: bool) -> None:
    """Make VERSION the current version, if it passes the same gates as a push."""
    from modelserve.delivery.promotion import GatedSwitch

    name = model_name or ctx.settings.model
    entry = GatedSwitch(ctx.store, name, ctx.settings, click.echo, force).promote(version, reason)
    click.echo(f"{name}: current version {entry.from_version} -> {entry.to_version}")


@click.command(short_help="Return to the previous current version, through the gates.")
@click.option(
    "--to",
    "to",
    type=click.IntRange(min=1),
    default=None,
    help="Version to return to; default: the previous current version.",
)
@model_name_option
@click.option("--reason", default="rolled back from the command line", show_default=True)
@click.option(
    "--force", is_flag=True, help="Skip the gates (recorded in the history); for emergencies."
)
@pass_context
def rollback(
    ctx: Context, to: int | None, model_name: str | None, reason: str, force: bool
) -> None:
    """Return to the previous current version (or to --to VERSION), if it passes the gates."""
    from modelserve.delivery.promotion import GatedSwitch

    name = model_name or ctx.settings.model
    ctx.store.check_known(name)
    entry = GatedSwitch(ctx.store, name, ctx.settings, click.echo, force).rollback(to, reason)
    click.echo(f"{name}: current version {entry.from_version} -> {entry.to_version}")


models.add_command(rollback)


@models.command(short_help="Every switch of the current version, newest first.")
@model_name_option
@click.option("--reverse", is_flag=True, help="Oldest first.")
@json_option
@pass_context
def history(ctx: Context, model_name: str | None, reverse: bool, as_json: bool) -> None:
    """Every switch of the current version, newest first (as on the /models page).

    Each row: when, what (promote, rollback, canary, abort), from and to which version, the
    version's commit, the accuracy the gates measured and the reason. --json prints one JSON
    object per line, in the same order."""
    name = model_name or ctx.settings.model
    ctx.store.check_known(name)
    entries = ctx.store.history(name)
    if not reverse:
        entries.reverse()
    if as_json:
        for entry in entries:
            echo_json(entry.model_dump(mode="json", by_alias=True))
        return
    echo_table(
        ["time", "action", "from", "to", "commit", "accuracy (gates)", "reason"],
        [
            [
                e.time.isoformat(timespec="seconds"),
                e.action,
                e.from_version,
                e.to_version,
                e.details.get("commit", "")[:12],
                e.details.get("accuracy"),
                e.reason,
            ]
            for e in entries
        ],
    )
