"""Merchants' period-end purchase files (期末商户文件导入; docs/back-office.md, "Importing
purchases"): a shop without POS integration hands in its purchases; each line becomes a
command the account host posts as an advice of the merchant's (proto.purchase_imports)."""

from back_office.purchase_imports.errors import (
    ImportFileError,
    ImportMerchantError,
    PurchaseImportError,
)
from back_office.purchase_imports.file_format import Alliance, Line, Rejected, read_file
from back_office.purchase_imports.report import ImportReport, LineResult, report_csv
from back_office.purchase_imports.runs import import_purchases

__all__ = [
    "Alliance", "ImportFileError", "ImportMerchantError", "ImportReport", "Line", "LineResult",
    "PurchaseImportError", "Rejected", "import_purchases", "read_file", "report_csv",
]
