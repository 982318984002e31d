"""Errors of approvals: each a clear message for the operator (exit code 2).

    ProvisioningError (back_office.provisioning.errors)
    └── ApprovalError            the request cannot be decided as asked
        ├── OwnRequestError      the maker tried to approve or reject their own request
        └── RequestDecidedError  approved, rejected or expired already
"""

from back_office.provisioning.errors import ProvisioningError


class ApprovalError(ProvisioningError):
    pass


class OwnRequestError(ApprovalError):
    pass


class RequestDecidedError(ApprovalError):
    pass
