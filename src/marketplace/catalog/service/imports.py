"""Bulk CSV import and export of a vendor's products (the format is `domain.csv_rows`).

Import, in three steps:

1. `start_import` (the request) streams the upload into `catalog_product_import_chunk` rows
   of 1 MiB, checks the header, and enqueues `catalog.run_product_import`; nothing else.
2. `run_import` (the job) copies the chunks to a local temporary file, counts the rows, then
   works through them in batches of `BATCH_ROWS`, each batch in its own transaction
   together with the import's progress. A row's SKU decides: a live variant of the vendor
   with that SKU is updated (with its product), otherwise a single-variant product is
   created. Rows are parsed and checked first (no database), then the batch is planned with
   one query per kind of lookup (SKU owners, categories, products, variants, stock), then
   written with bulk statements inside a savepoint. If anything in that savepoint fails, it
   is rolled back and the batch is written again row by row, a savepoint each, so a bad row
   is reported and only that row is left out: a row lands whole or not at all.
3. Each landed row with image URLs enqueues `catalog.fetch_import_images`, which fetches
   them through `platform.fetch` (SSRF rules) and hands the bytes to the images service;
   failures are added to the import's errors (the row itself has landed).

Why batches commit on their own: progress must be visible while a long import runs, and a
crash must not lose finished work. The job's own unit of work is left untouched (the runner
marks the delivery done in it); each batch uses a fresh `UnitOfWork` on the same database,
and its commit carries the rows, their stock, their image jobs and the new `processed_rows`,
which is also the checkpoint a retried job resumes from. The import row is locked for each
batch and the checkpoint compared, so two runs of the same import never both write a batch.
A run stops after `SLICE_SECONDS` and enqueues its continuation in its last batch's
transaction, so no single delivery outlives its lease.

Export streams the vendor's live variants as CSV (one row per SKU, the import's columns,
cells escaped against formula injection), reading a page of products at a time.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Final, Literal, Protocol, cast

from sqlalchemy import (
    Column,
    MetaData,
    Text,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.exc import IntegrityError

from marketplace.catalog.domain.csv_rows import (
    HEADER_ROW,
    Header,
    HeaderInvalid,
    RowContext,
    RowError,
    RowSpec,
    export_header,
    export_row,
    format_price,
    is_blank,
    parse_header,
    parse_row,
    unescape_cell,
)
from marketplace.catalog.domain.images import MAX_BYTES as MAX_IMAGE_BYTES
from marketplace.catalog.domain.product import is_visible, price_range, search_document
from marketplace.catalog.models import (
    Category,
    ImportedImage,
    Product,
    ProductImage,
    ProductImport,
    ProductImportChunk,
    Variant,
)
from marketplace.catalog.schemas.product import ImageRead
from marketplace.catalog.service import images as images_service
from marketplace.catalog.service.product import vendor_listing
from marketplace.compliance.public import record_audit
from marketplace.identity.public import Principal, VendorAccess
from marketplace.inventory import public as inventory
from marketplace.platform import fetch as remote
from marketplace.platform.clock import utcnow
from marketplace.platform.db import (
    Database,
    is_unique_violation,
    one_of,
    refresh_statistics,
)
from marketplace.platform.errors import AppError, FieldError, NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.money import currency_exponent
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

__all__ = [
    "BATCH_ROWS",
    "ERRORS_KEPT",
    "FETCH_IMAGES_JOB",
    "MAX_FILE_BYTES",
    "RUN_IMPORT_JOB",
    "FileTooLarge",
    "ImportNotFound",
    "UploadedFile",
    "export_csv",
    "fetch_import_images",
    "get_import",
    "register_imports",
    "run_import",
    "start_import",
]

logger = logging.getLogger(__name__)

RUN_IMPORT_JOB: Final = "catalog.run_product_import"
FETCH_IMAGES_JOB: Final = "catalog.fetch_import_images"
CHUNK_BYTES: Final = 1024 * 1024
MAX_FILE_BYTES: Final = 100 * 1024 * 1024
MAX_ROWS: Final = 1_000_000
BATCH_ROWS: Final = 500
# The planner's statistics are refreshed after this many rows of a run, then every time the
# run has written STATISTICS_GROWTH times as many: a handful of ANALYZEs however long the file.
STATISTICS_FIRST: Final = 2000
STATISTICS_GROWTH: Final = 4
ERRORS_KEPT: Final = 1000
# Below the delivery lease (5 minutes) with room for the batch that is running at the end.
SLICE_SECONDS: Final = 120.0
# A job that keeps crashing marks its import failed instead of waiting to become a dead
# delivery while the import shows "running" forever.
GIVE_UP_AFTER_ATTEMPTS: Final = 3
EXPORT_PAGE: Final = 500
FINISHED: Final = ("succeeded", "failed")
ImportStatus = Literal["queued", "running", "succeeded", "failed"]


class ImportNotFound(NotFound):
    code = "product_import_not_found"
    title = "Product import not found"


class FileTooLarge(AppError):
    status = 413
    code = "file_too_large"
    title = "File too large"


class _ImportTaken(Exception):
    """Another run of this import moved its checkpoint: that run owns it now."""


class _RowFailed(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(error.message)
        self.error = error


class UploadedFile(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


def _error_dict(error: RowError) -> dict[str, Any]:
    return {"row": error.row, "column": error.column, "message": error.message}


# --- start ---------------------------------------------------------------------------------


def _file_error(message: str, code: str, column: str | None = None) -> ValidationFailed:
    loc: list[str | int] = ["body", "file"]
    if column is not None:
        loc.append(column)
    return ValidationFailed(message, errors=[FieldError(loc=loc, msg=message, code=code)])


def _check_header(first_chunk: bytes, complete: bool) -> None:
    """Refuse at once a file whose first row is not a valid header (nothing is queued)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        head = decoder.decode(first_chunk, final=complete)
    except UnicodeDecodeError:
        raise _file_error("the file is not UTF-8 text", "invalid_encoding") from None
    if not complete and "\n" not in head and "\r" not in head:
        raise _file_error("the header row is longer than 1 MiB", "invalid_header")
    try:
        cells = next(csv.reader(io.StringIO(head)), [])
    except csv.Error as error:
        raise _file_error(f"the header row is not valid CSV: {error}", "invalid_header") from None
    try:
        parse_header(cells)
    except HeaderInvalid as invalid:
        raise ValidationFailed(
            "the header row is not valid",
            errors=[
                FieldError(
                    loc=["body", "file", "header", e.column or ""], msg=e.message, code="invalid"
                )
                for e in invalid.errors
            ],
        ) from None


async def start_import(
    uow: UnitOfWork,
    *,
    access: VendorAccess,
    file: UploadedFile,
    filename: str | None,
    dry_run: bool,
) -> ProductImport:
    """Store the upload (in chunks, never whole in memory) and queue the import job."""
    first = await file.read(CHUNK_BYTES)
    if not first:
        raise _file_error("the file is empty", "empty_file")
    following = await file.read(CHUNK_BYTES)
    _check_header(first, complete=not following)
    now = utcnow()
    record = ProductImport(
        id=new_id("imp"),
        vendor_id=access.vendor_id,
        status="queued",
        dry_run=dry_run,
        filename=(filename or "")[:200] or None,
        file_bytes=0,
        file_chunks=0,
        total_rows=None,
        processed_rows=0,
        created_rows=0,
        updated_rows=0,
        failed_rows=0,
        errors=[],
        error_count=0,
        created_by=access.principal.id,
        created_by_kind=access.principal.kind,
        created_by_role=access.role,
        created_at=now,
        started_at=None,
        finished_at=None,
    )
    uow.session.add(record)
    await uow.session.flush()
    size = 0
    seq = 0
    chunk = first
    while chunk:
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise FileTooLarge(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        # Core INSERTs: the session keeps no reference to the bytes once they are sent.
        await uow.session.execute(
            insert(ProductImportChunk).values(import_id=record.id, seq=seq, data=chunk)
        )
        seq += 1
        chunk, following = following, (await file.read(CHUNK_BYTES) if following else b"")
    record.file_bytes = size
    record.file_chunks = seq
    uow.enqueue(RUN_IMPORT_JOB, {"import_id": record.id})
    record_audit(
        uow,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="product_import.created",
        resource_type="product_import",
        resource_id=record.id,
        after={"dry_run": dry_run, "filename": record.filename, "bytes": size},
    )
    return record


async def get_import(uow: UnitOfWork, *, vendor_id: str, import_id: str) -> ProductImport:
    record = await uow.session.scalar(
        select(ProductImport).where(
            ProductImport.id == import_id, ProductImport.vendor_id == vendor_id
        )
    )
    if record is None:
        raise ImportNotFound()
    return record


# --- the job: reading the file -------------------------------------------------------------


@dataclass
class _Job:
    """What a run knows about its import, fixed for the run, plus caches across batches."""

    import_id: str
    vendor_id: str
    dry_run: bool
    access: VendorAccess
    context: RowContext
    approved: bool
    request_id: str | None
    checkpoint: int
    categories: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    first_row_of_sku: dict[str, int] = field(default_factory=dict)


def _access_of(record: ProductImport) -> VendorAccess:
    kind = cast(Literal["user", "api_key"], record.created_by_kind)
    permissions = frozenset({"products.write"})
    principal = Principal(
        kind=kind,
        id=record.created_by,
        vendor_id=record.vendor_id if kind == "api_key" else None,
        permissions=permissions if kind == "api_key" else frozenset(),
    )
    return VendorAccess(principal, record.vendor_id, record.created_by_role, permissions)


async def _spool(db: Database, import_id: str, chunks: int, into: IO[bytes]) -> None:
    """Copy the stored file to a local file, one chunk in memory at a time."""
    async with db.session() as session:
        for seq in range(chunks):
            data = await session.scalar(
                select(ProductImportChunk.data).where(
                    ProductImportChunk.import_id == import_id, ProductImportChunk.seq == seq
                )
            )
            if data is None:
                raise RuntimeError(f"import {import_id} is missing chunk {seq}")
            into.write(data)
    into.seek(0)


class _Records:
    """The file's records with their row numbers (the header is row 1); blank rows keep
    their number and are skipped."""

    def __init__(self, stream: io.TextIOWrapper) -> None:
        self._reader = csv.reader(stream)
        self.last_row = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return self

    def __next__(self) -> tuple[int, list[str]]:
        while True:
            cells = next(self._reader)
            self.last_row += 1
            if self.last_row == HEADER_ROW or not is_blank(cells):
                return self.last_row, cells

    def take(self, count: int) -> list[tuple[int, list[str]]]:
        batch: list[tuple[int, list[str]]] = []
        for record in self:
            batch.append(record)
            if len(batch) == count:
                break
        return batch


def _open_text(spool: IO[bytes]) -> io.TextIOWrapper:
    spool.seek(0)
    # newline="": the csv module sees line ends as they are, inside quoted cells too.
    return io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")


def _count_rows(spool: IO[bytes]) -> int:
    """Data rows of the whole file; raises _RowFailed for a file that cannot be read."""
    stream = _open_text(spool)
    records = _Records(stream)
    try:
        try:
            _, header = next(records)
        except StopIteration:
            raise _RowFailed(RowError(HEADER_ROW, None, "the file has no header row")) from None
        try:
            parse_header(header)
        except HeaderInvalid as invalid:
            raise _RowFailed(invalid.errors[0]) from None
        total = 0
        for _ in records:
            total += 1
            if total > MAX_ROWS:
                raise _RowFailed(
                    RowError(records.last_row, None, f"the file has more than {MAX_ROWS} rows")
                )
        return total
    except UnicodeDecodeError:
        raise _RowFailed(
            RowError(records.last_row + 1, None, "the file is not UTF-8 text")
        ) from None
    except csv.Error as error:
        raise _RowFailed(RowError(records.last_row + 1, None, f"not valid CSV: {error}")) from None
    finally:
        stream.detach()


async def run_import(uow: UnitOfWork, message: Message) -> None:
    """The `catalog.run_product_import` job (see the module docstring)."""
    import_id = str(message.payload["import_id"])
    try:
        await _run(uow.db, import_id, request_id=message.request_id)
    except _ImportTaken:
        logger.info("import %s is being run elsewhere", import_id)
    except Exception:
        if message.attempt < GIVE_UP_AFTER_ATTEMPTS:
            raise
        logger.exception("import %s failed for good", import_id)
        await _fail(
            uow.db,
            import_id,
            RowError(HEADER_ROW, None, "the import stopped on an internal error"),
        )


async def _fail(db: Database, import_id: str, error: RowError) -> None:
    async with UnitOfWork(db) as work:
        record = await _locked(work, import_id)
        if record is None or record.status in FINISHED:
            return
        _add_errors(record, [error])
        record.status = "failed"
        record.finished_at = utcnow()
        await work.session.execute(
            delete(ProductImportChunk).where(ProductImportChunk.import_id == import_id)
        )
        _audit_finished(work, record)
        await work.commit()


async def _locked(work: UnitOfWork, import_id: str) -> ProductImport | None:
    return await work.session.scalar(
        select(ProductImport).where(ProductImport.id == import_id).with_for_update()
    )


def _add_errors(record: ProductImport, errors: Sequence[RowError]) -> None:
    record.error_count += len(errors)
    room = ERRORS_KEPT - len(record.errors)
    if room > 0 and errors:
        record.errors = [*record.errors, *(_error_dict(e) for e in errors[:room])]


def _audit_finished(work: UnitOfWork, record: ProductImport) -> None:
    access = _access_of(record)
    record_audit(
        work,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
        action="product_import.finished",
        resource_type="product_import",
        resource_id=record.id,
        after={
            "status": record.status,
            "dry_run": record.dry_run,
            "total_rows": record.total_rows,
            "created": record.created_rows,
            "updated": record.updated_rows,
            "failed": record.failed_rows,
        },
    )


async def _start(
    db: Database, import_id: str, request_id: str | None
) -> tuple[_Job, int, bool] | None:
    """The run's job state, the number of chunks, and whether rows are still to be counted."""
    async with UnitOfWork(db, request_id=request_id) as work:
        record = await work.session.get(ProductImport, import_id)
        if record is None or record.status in FINISHED:
            return None
        info = await vendors.vendor_info(work, record.vendor_id)
        if info is None:
            return None
        job = _Job(
            import_id=record.id,
            vendor_id=record.vendor_id,
            dry_run=record.dry_run,
            access=_access_of(record),
            context=RowContext(
                currency=info.default_currency,
                exponent=currency_exponent(info.default_currency),
            ),
            approved=info.status == "approved",
            request_id=request_id,
            checkpoint=record.processed_rows,
        )
        return job, record.file_chunks, record.total_rows is None


async def _run(db: Database, import_id: str, *, request_id: str | None) -> None:
    started = await _start(db, import_id, request_id)
    if started is None:
        return
    job, chunks, first_run = started
    deadline = time.monotonic() + SLICE_SECONDS
    with tempfile.TemporaryFile() as spool:
        await _spool(db, import_id, chunks, spool)
        if first_run:
            try:
                total = _count_rows(spool)
            except _RowFailed as failed:
                await _fail(db, import_id, failed.error)
                return
            await _mark_running(db, job, total)
        stream = _open_text(spool)
        try:
            await _process(db, job, _Records(stream), deadline)
        finally:
            stream.detach()


async def _mark_running(db: Database, job: _Job, total: int) -> None:
    async with UnitOfWork(db, request_id=job.request_id) as work:
        record = await _locked(work, job.import_id)
        if record is None or record.status != "queued":
            raise _ImportTaken()
        record.status = "running"
        record.total_rows = total
        record.started_at = utcnow()
        await work.commit()


async def _process(db: Database, job: _Job, records: _Records, deadline: float) -> None:
    _, header_cells = next(records)
    header = parse_header(header_cells)
    sku_at = header.positions["sku"]
    # Resuming: the rows before the checkpoint are done; only their SKUs matter (repeats).
    for _ in range(job.checkpoint):
        number, cells = next(records)
        _remember_sku(job, number, cells, sku_at)
    batch = records.take(BATCH_ROWS)
    if not batch:
        await _apply(db, job, header, [], finish=True, pause=False)
        return
    written, refresh_at = 0, STATISTICS_FIRST
    while batch:
        following = records.take(BATCH_ROWS)
        last = not following
        pause = not last and time.monotonic() > deadline
        await _apply(db, job, header, batch, finish=last, pause=pause)
        if pause:
            return
        written += len(batch)
        if written >= refresh_at and not last and not job.dry_run:
            await _refresh_statistics(db)
            refresh_at *= STATISTICS_GROWTH
        batch = following


async def _refresh_statistics(db: Database) -> None:
    """The tables this import grows, so its later batches are planned for their real size."""
    async with UnitOfWork(db) as work:
        await refresh_statistics(work.session, [Product.__tablename__, Variant.__tablename__])
        await inventory.refresh_statistics(work)
        await work.commit()


def _sku_cell(cells: Sequence[str], sku_at: int) -> str:
    return unescape_cell(cells[sku_at]).strip() if sku_at < len(cells) else ""


def _remember_sku(job: _Job, number: int, cells: Sequence[str], sku_at: int) -> int | None:
    """Note the row's SKU; the row where it first appeared if this is a repeat."""
    sku = _sku_cell(cells, sku_at)
    if not sku:
        return None
    first = job.first_row_of_sku.setdefault(sku, number)
    return first if first != number else None


# --- the job: one batch --------------------------------------------------------------------


@dataclass
class _Plan:
    spec: RowSpec
    create: bool
    product_id: str
    variant_id: str
    category_id: str
    category_path: str
    image_urls: tuple[str, ...]


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    failed_rows: set[int] = field(default_factory=set)
    errors: list[RowError] = field(default_factory=list)
    created_skus: list[str] = field(default_factory=list)
    updated_skus: list[str] = field(default_factory=list)

    def fail(self, errors: Sequence[RowError]) -> None:
        self.errors.extend(errors)
        self.failed_rows.update(e.row for e in errors)


async def _apply(
    db: Database,
    job: _Job,
    header: Header,
    batch: Sequence[tuple[int, list[str]]],
    *,
    finish: bool,
    pause: bool,
) -> None:
    """Write one batch and its progress in one transaction."""
    async with UnitOfWork(db, request_id=job.request_id) as work:
        # Locked for the batch: a second run of this import waits here, then sees the
        # checkpoint moved and stops.
        record = await _locked(work, job.import_id)
        if record is None or record.status != "running" or record.processed_rows != job.checkpoint:
            raise _ImportTaken()
        outcome = _Outcome()
        specs: list[RowSpec] = []
        sku_at = header.positions["sku"]
        for number, cells in batch:
            errors: list[RowError] = []
            repeat_of = _remember_sku(job, number, cells, sku_at)
            if repeat_of is not None:
                errors.append(
                    RowError(number, "sku", f"this SKU already appears in row {repeat_of}")
                )
            parsed = parse_row(number, cells, header, job.context)
            if isinstance(parsed, RowSpec) and not errors:
                specs.append(parsed)
            else:
                outcome.fail([*(parsed if isinstance(parsed, list) else []), *errors])
        plans = await _plan(work, job, specs, outcome)
        if job.dry_run:
            for plan in plans:
                _count(outcome, plan)
        elif plans:
            await _write_batch(work, job, plans, outcome)
        outcome.errors.sort(key=lambda e: e.row)
        record.processed_rows += len(batch)
        record.created_rows += outcome.created
        record.updated_rows += outcome.updated
        record.failed_rows += len(outcome.failed_rows)
        _add_errors(record, outcome.errors)
        if batch and not job.dry_run and (outcome.created_skus or outcome.updated_skus):
            record_audit(
                work,
                actor_id=job.access.principal.id,
                actor_role=job.access.actor_role,
                action="product_import.rows_applied",
                resource_type="product_import",
                resource_id=job.import_id,
                after={
                    "rows": f"{batch[0][0]}-{batch[-1][0]}",
                    "created": outcome.created_skus,
                    "updated": outcome.updated_skus,
                },
            )
        if finish:
            record.status = "succeeded"
            record.finished_at = utcnow()
            await work.session.execute(
                delete(ProductImportChunk).where(ProductImportChunk.import_id == job.import_id)
            )
            _audit_finished(work, record)
        elif pause:
            work.enqueue(RUN_IMPORT_JOB, {"import_id": job.import_id})
        await work.commit()
    job.checkpoint += len(batch)


def _count(outcome: _Outcome, plan: _Plan) -> None:
    if plan.create:
        outcome.created += 1
        outcome.created_skus.append(plan.spec.sku)
    else:
        outcome.updated += 1
        outcome.updated_skus.append(plan.spec.sku)


async def _resolve_categories(work: UnitOfWork, job: _Job, refs: set[str]) -> None:
    """Categories by id or slug, cached for the run (a file names few categories)."""
    missing = refs - job.categories.keys()
    if not missing:
        return
    rows = await work.session.execute(
        select(Category.id, Category.slug, Category.path).where(
            or_(Category.id.in_(missing), Category.slug.in_(missing))
        )
    )
    by_key: dict[str, tuple[str, str]] = {}
    for category_id, slug, path in rows:
        by_key[category_id] = (category_id, path)
        by_key.setdefault(slug, (category_id, path))
    for ref in missing:
        job.categories[ref] = by_key.get(ref)


async def _plan(
    work: UnitOfWork, job: _Job, specs: Sequence[RowSpec], outcome: _Outcome
) -> list[_Plan]:
    """Create or update, per row, with every lookup done once for all rows; rows that fail
    a check needing the database are reported here."""
    if not specs:
        return []
    owners = {
        sku: (variant_id, product_id)
        for sku, variant_id, product_id in await work.session.execute(
            select(Variant.sku, Variant.id, Variant.product_id).where(
                Variant.vendor_id == job.vendor_id,
                one_of(Variant.sku, [s.sku for s in specs], work.dialect),
                Variant.deleted_at.is_(None),
            )
        )
    }
    await _resolve_categories(work, job, {s.category for s in specs})
    # Image URLs the product already shows (an exported file names them) are not fetched.
    with_images = [owners[s.sku][1] for s in specs if s.image_urls and s.sku in owners]
    shown: set[tuple[str, str]] = set()
    if with_images:
        shown = {
            (product_id, url)
            for product_id, url in await work.session.execute(
                select(ProductImage.product_id, ProductImage.url).where(
                    ProductImage.product_id.in_(with_images)
                )
            )
        }
    # As in update_product: a product that is active may stay so while the vendor is not
    # approved (listing follows the vendor's status); only publishing is refused.
    active: set[str] = set()
    if not job.approved:
        publishing = [owners[s.sku][1] for s in specs if s.status == "active" and s.sku in owners]
        if publishing:
            active = set(
                await work.session.scalars(
                    select(Product.id).where(Product.id.in_(publishing), Product.status == "active")
                )
            )
    plans: list[_Plan] = []
    for spec in specs:
        errors: list[RowError] = []
        owner = owners.get(spec.sku)
        category = job.categories.get(spec.category)
        if category is None:
            errors.append(RowError(spec.row, "category", "no such category"))
        if (
            spec.status == "active"
            and not job.approved
            and (owner is None or owner[1] not in active)
        ):
            errors.append(
                RowError(spec.row, "status", "only an approved vendor can publish products")
            )
        urls: list[str] = []
        for url in spec.image_urls:
            if owner is not None and (owner[1], url) in shown:
                continue
            try:
                remote.check_url(url)
            except remote.FetchError as refused:
                errors.append(RowError(spec.row, "image_urls", f"{url}: {refused.reason}"))
            else:
                urls.append(url)
        if errors or category is None:
            outcome.fail(errors)
            continue
        plans.append(
            _Plan(
                spec=spec,
                create=owner is None,
                product_id=owner[1] if owner else new_id("prd"),
                variant_id=owner[0] if owner else new_id("var"),
                category_id=category[0],
                category_path=category[1],
                image_urls=tuple(urls),
            )
        )
    return plans


@asynccontextmanager
async def _savepoint(work: UnitOfWork) -> AsyncIterator[None]:
    """A savepoint whose rollback also forgets the outbox messages recorded inside it: the
    unit of work keeps them in memory, outside the transaction, and a stock change that was
    rolled back must not announce itself (low stock, out of stock) at commit."""
    kept = len(work.pending_messages)
    try:
        async with work.session.begin_nested():
            yield
    except BaseException:
        del work._messages[kept:]
        raise


async def _write_batch(
    work: UnitOfWork, job: _Job, plans: Sequence[_Plan], outcome: _Outcome
) -> None:
    """All rows in one savepoint; if that fails, row by row so only bad rows stay out."""
    try:
        async with _savepoint(work):
            await _write(work, job, plans)
    except (_RowFailed, IntegrityError):
        pass
    else:
        for plan in plans:
            _landed(work, job, plan, outcome)
        return
    for plan in plans:
        try:
            async with _savepoint(work):
                # Planned again: an earlier row of this batch may have changed its product.
                fresh = await _plan(work, job, [plan.spec], _Outcome())
                if fresh:
                    await _write(work, job, fresh)
        except _RowFailed as failed:
            outcome.fail([failed.error])
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            outcome.fail([RowError(plan.spec.row, "sku", "this SKU is used by another variant")])
        else:
            if fresh:
                _landed(work, job, fresh[0], outcome)


def _landed(work: UnitOfWork, job: _Job, plan: _Plan, outcome: _Outcome) -> None:
    _count(outcome, plan)
    if plan.image_urls:
        work.enqueue(
            FETCH_IMAGES_JOB,
            {
                "import_id": job.import_id,
                "row": plan.spec.row,
                "product_id": plan.product_id,
                "urls": list(plan.image_urls),
            },
        )


def _stock_error(row: int, error: AppError) -> RowError:
    column = "sku" if error.instance_code == "sku_taken" else "quantity"
    return RowError(row, column, error.detail or error.instance_title)


async def _write(work: UnitOfWork, job: _Job, plans: Sequence[_Plan]) -> None:
    """Stock through the inventory facade, then products and variants in bulk statements."""
    session = work.session
    updates = [p for p in plans if not p.create]
    product_ids = list(dict.fromkeys(p.product_id for p in updates))
    products: dict[str, dict[str, Any]] = {}
    variants: dict[str, dict[str, dict[str, Any]]] = {}
    levels: Mapping[str, inventory.StockLevel] = {}
    if updates:
        columns = (
            Product.id,
            Product.status,
            Product.title,
            Product.description,
            Product.translations,
            Product.category_id,
            Product.category_path,
            Product.deleted_at,
        )
        for found in await session.execute(
            select(*columns).where(one_of(Product.id, product_ids, work.dialect))
        ):
            products[found.id] = dict(found._mapping)
        for live in await session.execute(
            select(Variant.id, Variant.product_id, Variant.sku, Variant.price_amount).where(
                one_of(Variant.product_id, product_ids, work.dialect),
                Variant.deleted_at.is_(None),
            )
        ):
            variants.setdefault(live.product_id, {})[live.id] = dict(live._mapping)
        levels = await inventory.availability(work, [p.variant_id for p in updates])
    listing = await vendor_listing(work, job.vendor_id)

    settings = []
    for plan in plans:
        spec = plan.spec
        threshold = spec.low_stock_threshold
        if threshold is None:
            level = levels.get(plan.variant_id)
            threshold = level.low_stock_threshold if level is not None else 0
        settings.append(
            inventory.StockSetting(
                variant_id=plan.variant_id,
                product_id=plan.product_id,
                sku=spec.sku,
                quantity=spec.quantity,
                low_stock_threshold=threshold,
            )
        )
    try:
        stock = await inventory.set_stock_many(
            work,
            vendor_id=job.vendor_id,
            settings=settings,
            actor_id=job.access.principal.id,
            reason=f"import {job.import_id}",
        )
    except AppError as error:
        failed = error.extra.get("variant_id")
        row = next((p.spec.row for p in plans if p.variant_id == failed), plans[0].spec.row)
        raise _RowFailed(_stock_error(row, error)) from None
    in_stock = {variant_id: level.in_stock for variant_id, level in stock.items()}

    now = utcnow()
    new_products: list[dict[str, Any]] = []
    new_variants: list[dict[str, Any]] = []
    for plan in plans:
        if not plan.create:
            continue
        spec = plan.spec
        status = spec.status or "draft"
        description = spec.description or ""
        translations = {lang: dict(t) for lang, t in spec.translations.items()}
        new_products.append(
            {
                "id": plan.product_id,
                "vendor_id": job.vendor_id,
                "category_id": plan.category_id,
                "category_path": plan.category_path,
                "status": status,
                "language": "en",
                "title": spec.title,
                "description": description,
                "translations": translations,
                "currency": spec.currency,
                "min_price_amount": spec.price_amount,
                "max_price_amount": spec.price_amount,
                "in_stock": in_stock[plan.variant_id],
                "visible": is_visible(status, False, listing.listable),
                "rating_count": 0,
                "rating_score": 0,
                "search_document": search_document(
                    spec.title, description, translations, [spec.sku]
                ),
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
            }
        )
        new_variants.append(
            {
                "id": plan.variant_id,
                "product_id": plan.product_id,
                "vendor_id": job.vendor_id,
                "sku": spec.sku,
                "attributes": {},
                "price_amount": spec.price_amount,
                "price_currency": spec.currency,
                "regional_prices": {},
                "in_stock": in_stock[plan.variant_id],
                "position": 0,
                "created_at": now,
                "deleted_at": None,
            }
        )

    # Several rows may change one product (a multi-variant product exported and re-imported):
    # fold them in row order, then compute its price range and stock once.
    for plan in updates:
        spec = plan.spec
        product = products[plan.product_id]
        product["title"] = spec.title
        if spec.description is not None:
            product["description"] = spec.description
        if spec.status is not None:
            product["status"] = spec.status
        product["category_id"] = plan.category_id
        product["category_path"] = plan.category_path
        merged = {lang: dict(t) for lang, t in product["translations"].items()}
        for lang, translation in spec.translations.items():
            merged.setdefault(lang, {}).update(translation)
        product["translations"] = merged
        variant = variants[plan.product_id][plan.variant_id]
        variant["price_amount"] = spec.price_amount
        variant["changed"] = True
    variant_updates: list[dict[str, Any]] = []
    product_updates: list[dict[str, Any]] = []
    for product_id in product_ids:
        product = products[product_id]
        own = variants[product_id]
        stock_levels = _variant_stock(own, in_stock, levels)
        for variant_id, variant in own.items():
            if variant.get("changed"):
                variant_updates.append(
                    {
                        "id": variant_id,
                        "price_amount": variant["price_amount"],
                        "price_currency": job.context.currency,
                        "in_stock": in_stock[variant_id],
                    }
                )
        low, high = price_range(v["price_amount"] for v in own.values())
        product_updates.append(
            {
                "id": product_id,
                "title": product["title"],
                "description": product["description"],
                "status": product["status"],
                "category_id": product["category_id"],
                "category_path": product["category_path"],
                "translations": product["translations"],
                "min_price_amount": low,
                "max_price_amount": high,
                "in_stock": any(stock_levels.values()),
                "visible": is_visible(
                    product["status"], product["deleted_at"] is not None, listing.listable
                ),
                "search_document": search_document(
                    product["title"],
                    product["description"],
                    product["translations"],
                    [v["sku"] for v in own.values()],
                ),
                "updated_at": now,
            }
        )

    if new_products:
        await _insert_products(work, new_products)
        await session.execute(insert(Variant), new_variants)
    if product_updates:
        await _update_products(work, product_updates)
    if variant_updates:
        await session.execute(update(Variant), variant_updates)


# PostgreSQL keeps the search vector in the product row, outside the ORM model (see the 0007
# migration). Writing it in the same INSERT or UPDATE as the product, rather than in a second
# UPDATE, halves the row versions (and index entries) an import leaves behind.
_product_table = Product.__table__.to_metadata(MetaData())  # type: ignore[attr-defined]
_product_table.append_column(Column("search_vector", TSVECTOR))
_SEARCH_VECTOR = func.to_tsvector(literal_column("'simple'"), bindparam("doc", type_=Text))


async def _insert_products(work: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    if work.dialect == "postgresql":
        await work.session.execute(
            insert(_product_table).values(search_vector=_SEARCH_VECTOR),
            [{**row, "doc": row["search_document"]} for row in rows],
        )
        return
    await work.session.execute(insert(Product), rows)
    # The FTS5 table has no index on product_id: new products need no DELETE first.
    await work.session.execute(
        text("INSERT INTO catalog_product_fts (product_id, document) VALUES (:id, :doc)"),
        [{"id": row["id"], "doc": row["search_document"]} for row in rows],
    )


async def _update_products(work: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    if work.dialect == "postgresql":
        await work.session.execute(
            update(_product_table)
            .where(_product_table.c.id == bindparam("pid"))
            .values(search_vector=_SEARCH_VECTOR),
            [
                {
                    **{k: v for k, v in row.items() if k != "id"},
                    "pid": row["id"],
                    "doc": row["search_document"],
                }
                for row in rows
            ],
        )
        return
    await work.session.execute(update(Product), rows)
    # As the product repository's `reindex`, for many products at once.
    await work.session.execute(
        text("DELETE FROM catalog_product_fts WHERE product_id = :id"),
        [{"id": row["id"]} for row in rows],
    )
    await work.session.execute(
        text("INSERT INTO catalog_product_fts (product_id, document) VALUES (:id, :doc)"),
        [{"id": row["id"], "doc": row["search_document"]} for row in rows],
    )


def _variant_stock(
    own: Mapping[str, Mapping[str, Any]],
    in_stock: Mapping[str, bool],
    levels: Mapping[str, inventory.StockLevel],
) -> dict[str, bool]:
    """Whether each live variant of a product is in stock: just set, or as it was."""
    result: dict[str, bool] = {}
    for variant_id in own:
        if variant_id in in_stock:
            result[variant_id] = in_stock[variant_id]
        else:
            level = levels.get(variant_id)
            result[variant_id] = level.in_stock if level is not None else False
    return result


# --- the image job -------------------------------------------------------------------------


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


async def fetch_import_images(
    db: Database, registry: Registry, payload: Mapping[str, Any], *, request_id: str | None
) -> None:
    """Fetch a landed row's image URLs into its product, one committed image at a time.

    No transaction is open while a URL is fetched (a slow server must not hold a database
    connection). Each image commits with its `ImportedImage` record, so a retried job skips
    what it already added, and so does a later import of the same URL for the product.
    """
    import_id = str(payload["import_id"])
    row = int(payload["row"])
    product_id = str(payload["product_id"])
    urls = [str(u) for u in payload["urls"]]
    async with UnitOfWork(db, request_id=request_id) as work:
        record = await work.session.get(ProductImport, import_id)
        if record is None:
            return
        access = _access_of(record)
        done = {
            url_hash
            for (url_hash,) in await work.session.execute(
                select(ImportedImage.url_hash)
                .join(ProductImage, ProductImage.id == ImportedImage.image_id)
                .where(ImportedImage.product_id == product_id)
            )
        }
    storage = images_service._bound(registry)
    for url in urls:
        url_hash = _url_hash(url)
        if url_hash in done:
            continue
        try:
            fetched = await remote.fetch(url, max_bytes=MAX_IMAGE_BYTES)
        except remote.FetchError as error:
            await _report(db, import_id, RowError(row, "image_urls", f"{url}: {error.reason}"))
            continue
        failure: str | None = None
        async with UnitOfWork(db, request_id=request_id) as work:
            try:
                image = await images_service.upload(
                    work, storage, access=access, product_id=product_id, data=fetched.content
                )
            except AppError as error:
                # Not an image, too big, the product full or gone: this image is left out.
                failure = error.detail or error.instance_title
            else:
                await work.session.merge(
                    ImportedImage(
                        product_id=product_id,
                        url_hash=url_hash,
                        image_id=image.id,
                        created_at=utcnow(),
                    )
                )
                await work.commit()
        if failure is not None:
            await _report(db, import_id, RowError(row, "image_urls", f"{url}: {failure}"))


async def _report(db: Database, import_id: str, error: RowError) -> None:
    async with UnitOfWork(db) as work:
        record = await _locked(work, import_id)
        # A retried image job reports the same failure again: once is enough.
        if record is None or _error_dict(error) in record.errors:
            return
        _add_errors(record, [error])
        await work.commit()


def register_imports(registry: Registry) -> None:
    """The import job and the image-fetching job."""

    async def images_job(uow: UnitOfWork, message: Message) -> None:
        await fetch_import_images(uow.db, registry, message.payload, request_id=message.request_id)

    registry.job(RUN_IMPORT_JOB)(run_import)
    registry.job(FETCH_IMAGES_JOB)(images_job)


# --- export --------------------------------------------------------------------------------


def _csv_line(cells: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(export_row(cells))
    return buffer.getvalue()


async def export_csv(uow: UnitOfWork, *, vendor_id: str) -> AsyncIterator[bytes]:
    """The vendor's live variants as CSV, a page of products at a time.

    Runs while the response streams, after the request's transaction committed: each page
    reads in its own short unit of work, so no connection is held between pages.
    """
    db = uow.db
    languages: set[str] = set()
    after = ""
    while True:
        # The header needs every translation language first: one pass over translations.
        async with UnitOfWork(db) as work:
            page = (
                await work.session.execute(
                    select(Product.id, Product.translations)
                    .where(
                        Product.vendor_id == vendor_id,
                        Product.deleted_at.is_(None),
                        Product.id > after,
                    )
                    .order_by(Product.id)
                    .limit(EXPORT_PAGE * 4)
                )
            ).all()
        for _, translations in page:
            languages.update(translations)
        if len(page) < EXPORT_PAGE * 4:
            break
        after = page[-1][0]
    async with UnitOfWork(db) as work:
        categories = await work.session.execute(select(Category.id, Category.slug))
        slugs: dict[str, str] = dict(categories.all())
    ordered = sorted(languages)
    yield ("\ufeff" + _csv_line(export_header(ordered))).encode()
    exponents: dict[str, int] = {}
    after = ""
    while True:
        async with UnitOfWork(db) as work:
            products = list(
                await work.session.scalars(
                    select(Product)
                    .where(
                        Product.vendor_id == vendor_id,
                        Product.deleted_at.is_(None),
                        Product.id > after,
                    )
                    .order_by(Product.id)
                    .limit(EXPORT_PAGE)
                )
            )
            if not products:
                return
            ids = [p.id for p in products]
            variants = list(
                await work.session.scalars(
                    select(Variant)
                    .where(Variant.product_id.in_(ids), Variant.deleted_at.is_(None))
                    .order_by(Variant.product_id, Variant.position, Variant.id)
                )
            )
            levels = await inventory.availability(work, [v.id for v in variants])
            images = await images_service.images_for(work.session, ids)
            # Built before the unit of work ends: leaving it expires the loaded rows.
            lines = _export_lines(products, variants, levels, images, slugs, ordered, exponents)
            after = products[-1].id
        yield "".join(lines).encode()


def _export_lines(
    products: Sequence[Product],
    variants: Sequence[Variant],
    levels: Mapping[str, inventory.StockLevel],
    images: Mapping[str, Sequence[ImageRead]],
    slugs: Mapping[str, str],
    languages: Sequence[str],
    exponents: dict[str, int],
) -> list[str]:
    by_product: dict[str, list[Variant]] = {}
    for variant in variants:
        by_product.setdefault(variant.product_id, []).append(variant)
    lines: list[str] = []
    for product in products:
        # Only absolute URLs: a relative media path cannot be fetched back by an import.
        urls = " ".join(
            i.url for i in images.get(product.id, []) if i.url.startswith(("http://", "https://"))
        )
        for variant in by_product.get(product.id, []):
            currency = variant.price_currency
            if currency not in exponents:
                exponents[currency] = currency_exponent(currency)
            level = levels.get(variant.id)
            cells = [
                variant.sku,
                product.title,
                product.description,
                slugs.get(product.category_id, product.category_id),
                format_price(variant.price_amount, exponents[currency]),
                currency,
                str(level.on_hand if level else 0),
                str(level.low_stock_threshold if level else 0),
                product.status,
                urls,
            ]
            for language in languages:
                translation = product.translations.get(language, {})
                cells.extend([translation.get("title", ""), translation.get("description", "")])
            lines.append(_csv_line(cells))
    return lines
