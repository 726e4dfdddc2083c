"""The bookshop in ariadne (schema first; sync resolvers, which its ASGI app runs async)."""

from __future__ import annotations

from typing import Any, Optional

from ariadne import MutationType, QueryType, make_executable_schema

from tests.graphql_apps import book, fail

TYPE_DEFS = """
type Book { title: String author: String }
type Query { book(id: Int, token: String): Book broken: String }
type Mutation { addBook(title: String): Book }
"""

query = QueryType()
mutation = MutationType()


@query.field("book")
def resolve_book(_: Any, info: Any, id: int, token: Optional[str] = None) -> Any:
    return book(id)


@query.field("broken")
def resolve_broken(_: Any, info: Any) -> Any:
    return fail()


@mutation.field("addBook")
def resolve_add_book(_: Any, info: Any, title: str) -> Any:
    return {"title": title, "author": "?"}


schema = make_executable_schema(TYPE_DEFS, query, mutation)
