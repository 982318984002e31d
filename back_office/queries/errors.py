"""Errors of the back office's queries: each is a clear message for the operator (exit code 2).

    QueryError                  the query was refused; nothing was read
    ├── InvalidQueryError       a filter, date, limit or cursor is malformed, or a filter
    │                           the records asked for do not carry
    ├── NotFoundError           the card, merchant or terminal named does not exist
    └── PartitionReadError      a partition could not be read
"""


class QueryError(Exception):
    pass


class InvalidQueryError(QueryError):
    pass


class NotFoundError(QueryError):
    pass


class PartitionReadError(QueryError):
    pass
