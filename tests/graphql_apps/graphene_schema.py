"""The bookshop in graphene (sync resolvers)."""

from __future__ import annotations

from typing import Any, Optional

import graphene

from tests.graphql_apps import book, fail


class Book(graphene.ObjectType):
    title = graphene.String()
    author = graphene.String()


class Query(graphene.ObjectType):
    book = graphene.Field(Book, id=graphene.Int(), token=graphene.String())
    broken = graphene.String()

    def resolve_book(root: Any, info: Any, id: int, token: Optional[str] = None) -> Any:
        return book(id)

    def resolve_broken(root: Any, info: Any) -> Any:
        return fail()


class AddBook(graphene.Mutation):
    class Arguments:
        title = graphene.String()

    Output = Book

    def mutate(root: Any, info: Any, title: str) -> Any:
        return {"title": title, "author": "?"}


class Mutation(graphene.ObjectType):
    add_book = AddBook.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)
