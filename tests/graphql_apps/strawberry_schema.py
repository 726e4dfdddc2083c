"""The bookshop in strawberry (async resolvers)."""

from __future__ import annotations

from typing import Optional

import strawberry

from tests.graphql_apps import book, fail


@strawberry.type
class Book:
    title: str
    author: str


@strawberry.type
class Query:
    @strawberry.field
    async def book(self, id: int, token: Optional[str] = None) -> Book:
        return Book(**book(id))

    @strawberry.field
    async def broken(self) -> Optional[str]:
        return fail()  # type: ignore[no-any-return]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def add_book(self, title: str) -> Book:
        return Book(title=title, author="?")


schema = strawberry.Schema(query=Query, mutation=Mutation)
