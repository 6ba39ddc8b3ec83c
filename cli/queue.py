"""`genq queue status|pause|resume`: the queue administration of /api/v1/admin,
run by an administrator against the configured database."""

import click

from cli.keys import database_sessions


@click.group()
def queue() -> None:
    """See the queues; pause or resume a kind's queue."""


@queue.command("status")
def status() -> None:
    """Per kind: queued, running, the oldest queued job's age, paused, workers seen in the last minute."""
    from db.queue_admin import queue_states

    with database_sessions()() as session:
        states = queue_states(session)
    click.echo("kind\tqueue\tqueued\trunning\toldest_queued_seconds\tpaused\tworkers")
    for state in states:
        oldest = "-" if state.oldest_queued_seconds is None else state.oldest_queued_seconds
        paused = "yes" if state.paused else "no"
        click.echo(f"{state.kind}\t{state.queue}\t{state.queued}\t{state.running}\t{oldest}\t{paused}\t{state.workers}")


def _kind_argument(kind: str) -> str:
    from db.kinds import find_kind

    if find_kind(kind) is None:
        raise click.BadParameter(f"no job kind {kind!r}", param_hint="KIND")
    return kind


@queue.command("pause")
@click.argument("kind")
def pause(kind: str) -> None:
    """Stop workers claiming KIND's jobs (submits are still accepted and queued)."""
    from db.queue_admin import pause_queue

    with database_sessions()() as session:
        pause_queue(session, _kind_argument(kind), by="cli")
        session.commit()
    click.echo(f"{kind}: paused")


@queue.command("resume")
@click.argument("kind")
def resume(kind: str) -> None:
    """Let workers claim KIND's jobs again; their wake-ups leave with the workers' next upkeep round."""
    from db.queue_admin import resume_queue

    with database_sessions()() as session:
        resume_queue(session, _kind_argument(kind))
        session.commit()
    click.echo(f"{kind}: resumed")
