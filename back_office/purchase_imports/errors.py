"""Errors of an import, each a clear message for the operator (the CLI exits 2); a bad line
is no error (it is rejected in the report).

    PurchaseImportError         nothing was imported
    ├── ImportFileError         the file does not read as a purchase file (encoding, header,
    │                           size)
    └── ImportMerchantError     the merchant is unknown, not active, or not the operator's
"""


class PurchaseImportError(Exception):
    pass


class ImportFileError(PurchaseImportError):
    pass


class ImportMerchantError(PurchaseImportError):
    pass
