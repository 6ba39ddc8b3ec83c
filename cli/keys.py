"""`genq keys create|list|revoke|retention`: API keys for owners and how long an
owner's things are kept, run by an administrator against the configured database.
A key is printed once, by create, to stdout alone (so `KEY=$(genq keys create
--owner alice)` works); it is never stored."""

import click

from cli.preflight import checked_settings

LIMIT = click.IntRange(min=1)
KEEP, DEFAULT = "keep", "default"


class RetentionPeriod(click.ParamType):
    """A number (0 or more), `keep` (for ever) or `default` (the settings')."""

    name = "number|keep|default"

    def convert(self, value, param, ctx):
        if isinstance(value, float) or value in (KEEP, DEFAULT):
            return value
        try:
            period = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number, {KEEP!r} or {DEFAULT!r}", param, ctx)
        if period < 0:
            self.fail("must be 0 or more", param, ctx)
        return period


def database_sessions():
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
@click.option("--admin", is_flag=True, help="The key also administers the queues (/api/v1/admin, /admin).")
def create(
    owner: str,
    name: str | None,
    requests_per_minute: int | None,
    max_active_jobs: int | None,
    daily_image_budget: int | None,
    admin: bool,
) -> None:
    """Make a key for OWNER and print it (this is the only time it is shown)."""
    from db.accounts import KeyLimits, create_api_key

    limits = KeyLimits(requests_per_minute, max_active_jobs, daily_image_budget)
    with database_sessions()() as session:
        try:
            key, raw_key = create_api_key(session, owner=owner, name=name, limits=limits, admin=admin)
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

    with database_sessions()() as session:
        rows = list_api_keys(session, owner=owner)
    click.echo(
        "prefix\towner\tname\trequests_per_minute\tmax_active_jobs\tdaily_image_budget\tcreated\tlast_used\trevoked\tadmin"
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
            "yes" if key.admin else "no",
        )
        click.echo("\t".join("-" if field is None else str(field) for field in fields))


@keys.command("revoke")
@click.argument("prefix")
def revoke(prefix: str) -> None:
    """Revoke the key with PREFIX (as `list` shows it); its requests get 401 from then on."""
    from db.accounts import revoke_api_key

    with database_sessions()() as session:
        revoked = revoke_api_key(session, prefix)
        session.commit()
    if not revoked:
        raise click.ClickException(f"no live key has the prefix {prefix!r}")
    click.echo(f"revoked {prefix}")


@keys.command("retention")
@click.argument("owner")
@click.option("--result-days", type=RetentionPeriod(), help="Override GENQ_RESULT_RETENTION_DAYS.")
@click.option("--checkpoint-hours", type=RetentionPeriod(), help="Override GENQ_CHECKPOINT_RETENTION_HOURS.")
@click.option("--upload-days", type=RetentionPeriod(), help="Override GENQ_UPLOAD_RETENTION_DAYS.")
@click.option("--job-days", type=RetentionPeriod(), help="Override GENQ_JOB_RETENTION_DAYS.")
def retention(owner: str, **periods: float | str | None) -> None:
    """Show, or override, how long OWNER's results, checkpoints, uploads and jobs are
    kept (for all of the owner's keys): a number, `keep` for ever, or `default`."""
    from db.retention import RETENTION_FIELDS, override_owner_retention, owner_retention

    # The options are named as the fields of db.retention.Retention.
    kept = {
        name: None if value == KEEP else float(value) for name, value in periods.items() if value not in (None, DEFAULT)
    }
    defaults = [name for name, value in periods.items() if value == DEFAULT]
    settings = checked_settings()
    with database_sessions()() as session:
        try:
            overrides = override_owner_retention(session, owner, kept=kept, defaults=defaults)
        except LookupError as error:
            raise click.BadParameter(str(error), param_hint="OWNER") from None
        session.commit()
        effective = owner_retention(session, owner, settings)
    for name in RETENTION_FIELDS:
        value = getattr(effective, name)
        shown = KEEP if value is None else f"{value:g}"
        click.echo(f"{name}\t{shown}\t{'override' if name in overrides else 'default'}")
