"""One small bookshop schema, written with each GraphQL library we trace.

The same operations run against each: a named query with arguments (one of them a secret), a
mutation, and a query whose resolver fails. Imported only by tests and the test servers, so the
libraries load where a test asks for them.
"""

from __future__ import annotations

from typing import Any, Dict

NAMED_QUERY = 'query GetBook { book(id: 42, token: "s3cr3t") { title author } }'
MUTATION = 'mutation AddBook { addBook(title: "Dune") { title } }'
FAILING_QUERY = "query Broken { broken }"
FAILURE = "catalogue unavailable"

BOOKS: Dict[int, Dict[str, Any]] = {42: {"title": "Ubik", "author": "Philip K. Dick"}}


def book(book_id: int) -> Dict[str, Any]:
    return BOOKS.get(book_id, {"title": "?", "author": "?"})


def fail() -> Any:
    raise LookupError(FAILURE)
