"""Bulk product CSV routes: start an import, follow its progress and row errors, export the
vendor's catalog as CSV. The work happens in the catalog's import service and jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from marketplace.catalog.domain.csv_rows import COLUMNS
from marketplace.catalog.models import ProductImport
from marketplace.catalog.service import imports as service
from marketplace.identity.public import VendorAccess, vendor_permission
from marketplace.platform.http import UoW

router = APIRouter(tags=["product imports"])

ProductReader = Annotated[VendorAccess, Depends(vendor_permission("products.read"))]
ProductWriter = Annotated[VendorAccess, Depends(vendor_permission("products.write"))]

_FORMAT = f"""
CSV, UTF-8 (a byte order mark is fine), comma-separated, first row a header with the columns
`{",".join(COLUMNS)}` in any order, plus optional `title:<lang>` / `description:<lang>`
translation columns (`title:de`). Required: `sku, title, category, price, currency,
quantity`. One row is one SKU: a live variant of the vendor with that SKU is updated with
its product (title, description, category, status, translations), its price and its stock;
otherwise a new single-variant product is created. `category` is a category id or slug;
`price` is in major units (`19.99`) in the store's currency; `status` is draft, active or
archived; `image_urls` lists http(s) URLs separated by spaces or `|`, fetched in the
background (private, loopback and link-local addresses are refused). An empty optional cell
keeps the current value of an existing product. A SKU may appear once per file.

**Rows are numbered as a spreadsheet shows them: the header is row 1, so the first product
is row 2** (blank rows keep their number and are skipped). A row is written whole or not at
all; good rows land even when others fail.
"""


class ImportStarted(BaseModel):
    id: str
    status: str


class RowErrorRead(BaseModel):
    row: int = Field(description="1-based, the header is row 1")
    column: str | None = Field(description="the column at fault; null for the row as a whole")
    message: str


class ProductImportRead(BaseModel):
    id: str
    status: str = Field(
        description="queued, running, succeeded (possibly with failed rows) or failed"
    )
    dry_run: bool
    filename: str | None
    total_rows: int | None = Field(description="data rows in the file; null until counted")
    processed_rows: int
    created: int = Field(description="products created (or that would be, in a dry run)")
    updated: int = Field(description="SKUs updated (or that would be, in a dry run)")
    failed: int = Field(description="rows that were left out")
    errors: list[RowErrorRead] = Field(
        description=f"the first {service.ERRORS_KEPT} errors, by row; also images that could "
        "not be fetched for rows that landed"
    )
    error_count: int = Field(description="all errors, including those not listed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _read(record: ProductImport) -> ProductImportRead:
    return ProductImportRead(
        id=record.id,
        status=record.status,
        dry_run=record.dry_run,
        filename=record.filename,
        total_rows=record.total_rows,
        processed_rows=record.processed_rows,
        created=record.created_rows,
        updated=record.updated_rows,
        failed=record.failed_rows,
        errors=[RowErrorRead.model_validate(e) for e in record.errors],
        error_count=record.error_count,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


@router.post(
    "/vendors/{vid}/product-imports",
    status_code=202,
    summary="Import products from a CSV file (in the background)",
    description=_FORMAT
    + "\nAnswers 202 with the import's id and a `Location` to follow its progress. With "
    "`dry_run=true` every row is checked and counted as it would be created or updated, and "
    "nothing is written. A header that is not valid is refused at once (422).",
    responses={
        202: {
            "description": "queued",
            "headers": {
                "Location": {
                    "description": "the import, to follow its progress",
                    "schema": {"type": "string"},
                }
            },
        },
        413: {"description": "the file is larger than 100 MiB"},
    },
)
async def start_product_import(
    request: Request,
    response: Response,
    uow: UoW,
    access: ProductWriter,
    file: Annotated[UploadFile, File(description="the CSV file")],
    dry_run: Annotated[bool, Query(description="check and count every row, write nothing")] = False,
) -> ImportStarted:
    record = await service.start_import(
        uow, access=access, file=file, filename=file.filename, dry_run=dry_run
    )
    response.headers["Location"] = request.url_for(
        "get_product_import", vid=access.vendor_id, import_id=record.id
    ).path
    return ImportStarted(id=record.id, status=record.status)


@router.get(
    "/vendors/{vid}/product-imports/{import_id}",
    summary="An import's progress, counts and row errors",
    description="Row numbers count the header as row 1, so the first product is row 2.",
    responses={404: {"description": "no such import for this vendor"}},
)
async def get_product_import(
    uow: UoW,
    access: ProductWriter,
    import_id: Annotated[str, Path(max_length=40)],
) -> ProductImportRead:
    record = await service.get_import(uow, vendor_id=access.vendor_id, import_id=import_id)
    return _read(record)


@router.get(
    "/vendors/{vid}/products/export.csv",
    summary="The vendor's catalog as CSV (one row per SKU)",
    description="Every live variant of the vendor's products, any status, in the import's "
    "columns (plus a `title:<lang>` / `description:<lang>` pair per language used), so the "
    "file can be edited and imported back. Cells starting with `=`, `+`, `-`, `@`, a tab or "
    "a carriage return are prefixed with `'` so spreadsheets never run them as formulas; "
    "import removes the prefix again.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "the CSV file"}},
)
async def export_products(uow: UoW, access: ProductReader) -> StreamingResponse:
    return StreamingResponse(
        service.export_csv(uow, vendor_id=access.vendor_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="products-{access.vendor_id}.csv"'},
    )
