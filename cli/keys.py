"""`genq keys create|list|revoke`: API keys for owners, run by an administrator
against the configured database. A key is printed once, by create, to stdout
alone (so `KEY=$(genq keys create --owner alice)` works); it is never stored."""

import click

from cli.preflight import checked_settings

LIMIT = click.IntRange(min=1)


def _sessions():
    from db.session import make_session_factory

    return make_session_factory(checked_settings(database="migrated").database_url)


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--owner", required=True, help="Who the key acts for; created if new.")
@click.option("--name", default=None, help="What the key is for, e.g. 'ci' or 'alice laptop'.")
@click.option("--requests-per-minute", type=LIMIT, default=None, help="Override GENQ_REQUESTS_PER_MINUTE.")
@click.option("--max-active-jobs", type=LIMIT, default=None, help="Override GENQ_MAX_ACTIVE_JOBS.")
@click.option("--daily-image-budget", type=LIMIT, default=None, help="Override GENQ_DAILY_IMAGE_BUDGET.")
def create(
    owner: str,
    name: str | None,
    requests_per_minute: int | None,
    max_active_jobs: int | None,
    daily_image_budget: int | None,
) -> None:
    """Make a key for OWNER and print it (this is the only time it is shown)."""
    from db.accounts import KeyLimits, create_api_key

    limits = KeyLimits(requests_per_minute, max_active_jobs, daily_image_budget)
    with _sessions()() as session:
        try:
            key, raw_key = create_api_key(session, owner=owner, name=name, limits=limits)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--owner") from None
        session.commit()
    click.echo(raw_key)
    click.echo(f"key {key.prefix} for owner {owner!r}: store it now, it cannot be shown again", err=True)


@keys.command("list")
@click.option("--owner", default=None, help="Only this owner's keys.")
def list_keys(owner: str | None) -> None:
    """Prefix, owner, name, limits and dates of every key (never the key itself)."""
    from db.accounts import list_api_keys

    with _sessions()() as session:
        rows = list_api_keys(session, owner=owner)
    click.echo(
        "prefix\towner\tname\trequests_per_minute\tmax_active_jobs\tdaily_image_budget\tcreated\tlast_used\trevoked"
    )
    for key in rows:
        fields = (
            key.prefix,
            key.owner,
            key.name,
            key.requests_per_minute,
            key.max_active_jobs,
            key.daily_image_budget,
            key.created_at,
            key.last_used_at,
            key.revoked_at,
        )
        click.echo("\t".join("-" if field is None else str(field) for field in fields))


@keys.command("revoke")
@click.argument("prefix")
def revoke(prefix: str) -> None:
    """Revoke the key with PREFIX (as `list` shows it); its requests get 401 from then on."""
    from db.accounts import revoke_api_key

    with _sessions()() as session:
        revoked = revoke_api_key(session, prefix)
        session.commit()
    if not revoked:
        raise click.ClickException(f"no live key has the prefix {prefix!r}")
    click.echo(f"revoked {prefix}")
