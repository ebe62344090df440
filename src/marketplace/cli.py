"""The `marketplace` command: serve, worker, migrate, seed-demo.

Each command is a boundary: it builds the process's parts through `bootstrap` and owns the
units of work it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Annotated

import typer

from marketplace.migrations import upgrade
from marketplace.settings import Settings

cli = typer.Typer(
    name="marketplace",
    help="Multi-vendor marketplace backend.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings() -> Settings:
    return Settings()


@cli.command()
def migrate(
    revision: Annotated[str, typer.Option(help="target revision")] = "head",
) -> None:
    """Apply database migrations."""
    settings = _settings()
    asyncio.run(upgrade(settings.resolved_database_url, revision))
    typer.echo(f"database at {revision}")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes")] = 1,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", help="serve only these contexts (services deployment)"),
    ] = None,
) -> None:
    """Run the HTTP API (and, on the embedded default, the job worker in the same process)."""
    import uvicorn

    settings = _settings()
    if settings.is_sqlite:
        # The embedded default must start with one command: bring its schema up to date.
        asyncio.run(upgrade(settings.resolved_database_url))
        if workers > 1:
            typer.echo("SQLite allows one writer: use PostgreSQL for several workers", err=True)
    if context:
        os.environ["MARKETPLACE_SERVE_CONTEXTS"] = ",".join(context)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = settings.data_dir / "metrics"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    uvicorn.run(
        "marketplace.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        loop="uvloop",
        http="httptools",
    )


@cli.command()
def worker() -> None:
    """Run a job worker: outbox relay, scheduler and deliveries from the broker."""
    from marketplace.bootstrap import build_container
    from marketplace.orders.service.receipts import close_documents
    from marketplace.platform.heap import freeze_startup_heap
    from marketplace.platform.observability import configure_logging

    settings = _settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    if settings.document_render_processes is None:
        # The API's core is idle when a sale's documents are issued: render on it.
        processes = 1 if (os.cpu_count() or 1) >= 2 else 0
        settings = settings.model_copy(update={"document_render_processes": processes})

    async def run() -> None:
        container = build_container(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await container.jobs.start(loops=True, consume=True)
        freeze_startup_heap()
        typer.echo(f"worker started (broker: {settings.broker_url or 'in-process'})")
        try:
            await stop.wait()
        finally:
            await container.jobs.stop()
            close_documents(container.db)
            await container.db.dispose()

    asyncio.run(run())


@cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="the admin's email")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="the admin's password")
    ],
    name: Annotated[str, typer.Option(help="display name")] = "Administrator",
) -> None:
    """Create a platform admin (or promote an existing account)."""
    from marketplace.bootstrap import build_container
    from marketplace.identity.service import create_admin as create
    from marketplace.platform.errors import AppError

    settings = _settings()

    async def run() -> None:
        await upgrade(settings.resolved_database_url)
        container = build_container(settings)
        try:
            async with container.uow_factory() as uow:
                user, created = await create(
                    uow, container.identity, email=email, password=password, name=name
                )
                await uow.commit()
        except AppError as error:
            typer.echo(f"error: {error.detail or error.instance_title}", err=True)
            raise typer.Exit(1) from None
        finally:
            await container.db.dispose()
        verb = "created" if created else "promoted to admin"
        typer.echo(f"{user.email} {verb} ({user.id})")

    asyncio.run(run())


@cli.command("rotate-encryption-keys")
def rotate_encryption_keys() -> None:
    """Re-wrap every encrypted field under the current encryption key (after adding a key)."""
    from marketplace.bootstrap import ENCRYPTED_COLUMNS, build_container
    from marketplace.platform.crypto import reencrypt_column

    settings = _settings()

    async def run() -> None:
        container = build_container(settings)
        try:
            for column in ENCRYPTED_COLUMNS:
                count = await reencrypt_column(
                    container.db,
                    table=column.table,
                    id_column=column.id_column,
                    column=column.column,
                    context_prefix=column.context_prefix,
                    cipher=container.cipher,
                )
                typer.echo(f"{column.table.name}.{column.column}: {count} re-wrapped")
        finally:
            await container.db.dispose()

    asyncio.run(run())


@cli.command("seed-demo")
def seed_demo() -> None:
    """Fill the database with a demo marketplace (idempotent: skips what exists)."""
    from marketplace.bootstrap import build_container

    settings = _settings()

    async def run() -> None:
        await upgrade(settings.resolved_database_url)
        container = build_container(settings)
        try:
            seeded = []
            for context in container.contexts:
                if context.seed_demo is not None:
                    await context.seed_demo(container)
                    seeded.append(context.name)
            await container.jobs.startup()
            await container.jobs.drain()
        finally:
            await container.jobs.stop()
            await container.db.dispose()
        typer.echo(f"demo data: {', '.join(seeded) if seeded else 'no context has demo data yet'}")

    asyncio.run(run())


def main() -> None:
    cli()
