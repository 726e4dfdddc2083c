"""GraphQL: one named query through each library's own execute call (graphene sync,
strawberry async, ariadne sync). The row turns the active entry into ``graphql.server``
rather than adding an exit, and a failing resolver is reported in the result, not raised."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ariadne import graphql_sync

from tests.graphql_apps import FAILING_QUERY, NAMED_QUERY
from tests.graphql_apps.ariadne_schema import schema as ariadne_schema
from tests.graphql_apps.graphene_schema import schema as graphene_schema
from tests.graphql_apps.strawberry_schema import schema as strawberry_schema
from tests.scenarios import Scenario


class _GraphQL(Scenario):
    fixture = "tmp_path"  # the schemas are in-process: nothing to start
    span_name = "graphql.server"
    entry = True
    error_path = ("graphql",)
    error_key = "errors"
    error = None


class Graphene(_GraphQL):
    label = "graphql-graphene"
    imports = ("graphene",)

    def _execute(self, query: str) -> Any:
        result = graphene_schema.execute(query)
        return result.data, [e.message for e in result.errors or ()]

    def call(self, target: Any) -> Any:
        return self._execute(NAMED_QUERY)

    def failing_call(self, target: Any) -> Any:
        return self._execute(FAILING_QUERY)


class Strawberry(_GraphQL):
    label = "graphql-strawberry"
    imports = ("strawberry",)

    def _execute(self, query: str) -> Any:
        result = asyncio.run(strawberry_schema.execute(query))
        return result.data, [e.message for e in result.errors or ()]

    def call(self, target: Any) -> Any:
        return self._execute(NAMED_QUERY)

    def failing_call(self, target: Any) -> Any:
        return self._execute(FAILING_QUERY)


class Ariadne(_GraphQL):
    label = "graphql-ariadne"
    imports = ("ariadne",)

    def _execute(self, query: str) -> Any:
        # ariadne logs a resolver's error: silenced, so the call leaves no ``log`` exit
        quiet = logging.getLogger("graphql.contract.quiet")
        quiet.setLevel(logging.CRITICAL + 1)
        return graphql_sync(ariadne_schema, {"query": query}, logger=quiet)

    def call(self, target: Any) -> Any:
        return self._execute(NAMED_QUERY)

    def failing_call(self, target: Any) -> Any:
        return self._execute(FAILING_QUERY)


SCENARIOS = [Graphene(), Strawberry(), Ariadne()]
