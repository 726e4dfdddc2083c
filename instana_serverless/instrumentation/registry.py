"""Every library we trace, one row each: the one table that ``instrument()``, the README's
exit-span table, the doctor and the shared contract tests read (docs/INSTRUMENTATION.md).

Data only. A row's ``name`` is the same word everywhere: its patch module
``instrumentation/<name>.py``, its tests ``tests/test_instr_<name>.py`` and the name
``INSTANA_TRACING_DISABLE`` / ``Options(disabled_instrumentations=...)`` accept, next to its
aliases and its category.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

HTTP = "http"
DATABASES = "databases"
MESSAGING = "messaging"
AWS = "aws"
LOGGING = "logging"
FRAMEWORKS = "frameworks"
CATEGORIES = (HTTP, DATABASES, MESSAGING, AWS, LOGGING, FRAMEWORKS)


class Entry:
    """One instrumented library; each field is explained where it is set below and in
    docs/INSTRUMENTATION.md."""

    __slots__ = (
        "aliases",
        "category",
        "context",
        "covers",
        "data",
        "distribution",
        "enriches",
        "inside_exits",
        "keys",
        "label",
        "min_version",
        "modules",
        "name",
        "span",
        "version_module",
        "versions",
    )

    def __init__(
        self,
        name: str,
        *,
        modules: Tuple[str, ...],
        category: str,
        label: str,
        distribution: str,
        versions: str,
        span: str,
        data: str,
        aliases: Tuple[str, ...] = (),
        min_version: Optional[Tuple[int, ...]] = None,
        version_module: Optional[str] = None,
        covers: Tuple[str, ...] = (),
        inside_exits: bool = True,
        context: str = "—",
        enriches: bool = False,
    ) -> None:
        #: the one word: patch module, test file, disable name
        self.name = name
        #: modules whose import triggers the patch; ``PATCHES`` of the patch module has one
        #: key per module here. Never imported by us.
        self.modules = modules
        #: one of CATEGORIES; disabling the category disables the entry
        self.category = category
        #: more names that disable it (``requests`` for urllib3, ``boto3`` for botocore)
        self.aliases = aliases
        #: oldest version traced, compared with ``<version_module>.__version__``; an older
        #: library is left unpatched (one INFO line, and the doctor says so)
        self.min_version = min_version
        #: module whose ``__version__`` is read (default: the first module's top package)
        self.version_module = version_module or modules[0].partition(".")[0]
        #: PyPI distribution(s) (comma-separated: the first installed counts) and the version
        #: range, for the README and the doctor
        self.distribution = distribution
        self.versions = versions
        #: how the README names the library
        self.label = label
        #: span name(s) and data keys, for the README (the patch module is the truth)
        self.span = span
        self.data = data
        #: trace context carried onward, for the README
        self.context = context
        #: entries whose calls pass through untraced while a span of this entry is active
        #: (an entry always covers itself: retries and re-entrant calls stay one span)
        self.covers = covers
        #: False: calls made while any exit is active pass through (low-level clients)
        self.inside_exits = inside_exits
        #: True: a web framework; its module opens no exit but enriches the entry span serving
        #: the request (route template, the request's error; instrumentation/_framework.py)
        self.enriches = enriches
        #: every word that disables this entry (checked on each call: computed once)
        self.keys = frozenset((name, *aliases, category))

    def __repr__(self) -> str:
        return f"<Entry {self.name}>"


_HTTP_DATA = "`http.{url, method, status, host, path, params, header, error}`"
_HEADERS = "Instana and W3C headers"
_PG_DATA = "`pg.{stmt, host, port, db, user, error}`"
_MYSQL_DATA = "`mysql.{stmt, host, port, db, user, error}`"
# the drivers SQLAlchemy calls: no driver span inside a sqlalchemy span
_SQL_DRIVERS = ("psycopg2", "psycopg", "asyncpg", "pg8000", "pymysql", "mysqlclient")
_KAFKA_SPAN = "`kafka` (exit for producing, entry per record consumed)"
_KAFKA_DATA = "`kafka.{service, access, error}` (`access`: `send` / `consume`)"
_KAFKA_CONTEXT = (
    "record headers, `INSTANA_KAFKA_HEADER_FORMAT`: `x_instana_t/s/l_s` or the legacy "
    "`X_INSTANA_C/L` (consumers read both)"
)

ENTRIES: Tuple[Entry, ...] = (
    Entry(
        "urllib3",
        modules=("urllib3.connectionpool",),
        category=HTTP,
        aliases=("requests",),
        label="`requests` / `urllib3`",
        distribution="urllib3",
        versions=">= 1.26",
        min_version=(1, 26),
        span="`urllib3`",
        data=_HTTP_DATA,
        context=_HEADERS,
    ),
    Entry(
        "httpx",
        modules=("httpx._client",),
        category=HTTP,
        label="`httpx` (sync and async)",
        distribution="httpx",
        versions=">= 0.23",
        min_version=(0, 23),
        span="`http`",
        data=_HTTP_DATA,
        context=_HEADERS,
    ),
    Entry(
        "botocore",
        modules=("botocore.client", "s3transfer.futures"),
        category=AWS,
        aliases=("boto3",),
        label="boto3 / botocore (managed S3 transfers too)",
        distribution="botocore",
        versions=">= 1.28",
        min_version=(1, 28),
        span="`s3`, `sqs`, `sns`, `dynamodb`, `aws.lambda.invoke`, `boto3`",
        data="`s3.{op, bucket, key}`, `sqs.{sort, type, queue, size}`, "
        "`sns.{topic, target, subject}`, `dynamodb.{op, table, region}`, "
        "`lambda.{function, type}`, `boto3.{op, ep, reg, payload, http_status}`; `error`",
        context="SQS/SNS `X_INSTANA_T/S/L` message attributes, Lambda `ClientContext.custom`",
        covers=("urllib3",),
    ),
    Entry(
        "http_client",
        modules=("http.client",),
        category=HTTP,
        aliases=("urllib", "http.client"),
        label="`urllib.request` / `http.client` (outside other exits)",
        distribution="python",
        versions=">= 3.9",
        span="`http`",
        data=_HTTP_DATA,
        context=_HEADERS,
        # the transport under requests, urllib3 and boto3: their calls already have a span
        inside_exits=False,
    ),
    Entry(
        "aiohttp",
        modules=("aiohttp.client",),
        category=HTTP,
        label="`aiohttp` client",
        distribution="aiohttp",
        versions=">= 3.9",
        min_version=(3, 9),
        span="`aiohttp-client`",
        data="`http.{url, method, status, params, header, error}`",
        context=_HEADERS,
    ),
    Entry(
        "log",
        modules=("logging",),
        category=LOGGING,
        label="`logging` (WARNING and above, inside a trace)",
        distribution="python",
        versions=">= 3.9",
        span="`log`",
        data="`log.{message, parameters}`; ERROR and above count as errors",
    ),
    Entry(
        "redis",
        modules=("redis.client", "redis.asyncio.client", "redis.cluster", "redis.asyncio.cluster"),
        category=DATABASES,
        aliases=("redis-py",),
        label="redis-py (sync, asyncio, pipelines, Redis Cluster)",
        distribution="redis",
        versions=">= 4.2",
        min_version=(4, 2),
        span="`redis`",
        data="`redis.{connection, driver, command, subCommands, error}`",
    ),
    Entry(
        "pymongo",
        modules=("pymongo.monitoring",),
        category=DATABASES,
        aliases=("mongo",),
        label="pymongo (`MongoClient`, `AsyncMongoClient`; clients created after `instrument()`)",
        distribution="pymongo",
        versions=">= 4.0",
        min_version=(4, 0),
        span="`mongo`",
        data="`mongo.{service, namespace, command, filter, json, error}`",
    ),
    Entry(
        "pubsub",
        modules=("google.cloud.pubsub_v1.publisher.client",),
        category=MESSAGING,
        aliases=("google-cloud-pubsub",),
        label="google-cloud-pubsub `PublisherClient.publish`",
        distribution="google-cloud-pubsub",
        versions=">= 2.0",
        min_version=(2, 0),
        # google.cloud.pubsub_v1 has no __version__; the generated package beside it has
        version_module="google.pubsub_v1.gapic_version",
        span="`gcps`",
        data="`gcps.{op, projid, top, error}`",
        context="`x-instana-t/s/l` message attributes (read by the Cloud Run `gcps` entry)",
    ),
    Entry(
        "aiobotocore",
        modules=("aiobotocore.client",),
        category=AWS,
        aliases=("aioboto3",),
        label="aiobotocore / aioboto3",
        distribution="aiobotocore",
        versions=">= 2.5",
        min_version=(2, 5),
        span="as boto3 / botocore",
        data="as boto3 / botocore",
        context="as boto3 / botocore",
        # aiobotocore sends with aiohttp: its requests are part of the AWS span
        covers=("aiohttp",),
    ),
    Entry(
        "psycopg2",
        modules=("psycopg2",),
        category=DATABASES,
        label="psycopg2",
        distribution="psycopg2, psycopg2-binary",
        versions=">= 2.8",
        min_version=(2, 8),
        span="`postgres`",
        data=_PG_DATA,
    ),
    Entry(
        "psycopg",
        modules=("psycopg.cursor", "psycopg.cursor_async"),
        category=DATABASES,
        label="psycopg 3 (sync and async)",
        distribution="psycopg",
        versions=">= 3.1",
        min_version=(3, 1),
        span="`postgres`",
        data=_PG_DATA,
    ),
    Entry(
        "asyncpg",
        modules=("asyncpg.connection",),
        category=DATABASES,
        label="asyncpg (connections and pools)",
        distribution="asyncpg",
        versions=">= 0.27",
        min_version=(0, 27),
        span="`postgres`",
        data=_PG_DATA,
    ),
    Entry(
        "pg8000",
        modules=("pg8000.core", "pg8000.legacy", "pg8000.dbapi", "pg8000.native"),
        category=DATABASES,
        label="pg8000 (legacy, DB-API and native)",
        distribution="pg8000",
        versions=">= 1.29",
        min_version=(1, 29),
        span="`postgres`",
        data=_PG_DATA,
    ),
    Entry(
        "pymysql",
        modules=("pymysql.cursors",),
        category=DATABASES,
        label="PyMySQL",
        distribution="PyMySQL",
        versions=">= 1.0",
        min_version=(1, 0),
        span="`mysql`",
        data=_MYSQL_DATA,
    ),
    Entry(
        "mysqlclient",
        modules=("MySQLdb.connections", "MySQLdb.cursors"),
        category=DATABASES,
        label="mysqlclient (`MySQLdb`)",
        distribution="mysqlclient",
        versions=">= 2.0",
        min_version=(2, 0),
        version_module="MySQLdb.release",
        span="`mysql`",
        data=_MYSQL_DATA,
    ),
    Entry(
        "sqlalchemy",
        modules=("sqlalchemy.engine",),
        category=DATABASES,
        label="SQLAlchemy (engines, any driver)",
        distribution="SQLAlchemy",
        versions=">= 1.4",
        min_version=(1, 4),
        version_module="sqlalchemy",
        span="`sqlalchemy`",
        data="`sqlalchemy.{sql, eng, url, err}` (URL without credentials)",
        covers=_SQL_DRIVERS,
    ),
    Entry(
        "confluent_kafka",
        modules=(
            "confluent_kafka",
            "confluent_kafka.serializing_producer",
            "confluent_kafka.deserializing_consumer",
        ),
        category=MESSAGING,
        aliases=("confluent-kafka",),
        label="confluent-kafka (`Producer.produce`, `SerializingProducer.produce`; "
        "`Consumer.poll` / `consume`, `DeserializingConsumer.poll`)",
        distribution="confluent-kafka",
        versions=">= 1.9",
        min_version=(1, 9),
        span=_KAFKA_SPAN,
        data=_KAFKA_DATA,
        context=_KAFKA_CONTEXT,
    ),
    Entry(
        "kafka_python",
        modules=("kafka.producer.kafka", "kafka.consumer.group"),
        category=MESSAGING,
        aliases=("kafka-python",),
        label="kafka-python (`KafkaProducer.send`; `KafkaConsumer` iteration and `poll`)",
        distribution="kafka-python",
        versions=">= 2.0",
        min_version=(2, 0),
        version_module="kafka.version",
        span=_KAFKA_SPAN,
        data=_KAFKA_DATA,
        context=_KAFKA_CONTEXT,
    ),
    Entry(
        "aiokafka",
        modules=("aiokafka.producer.producer", "aiokafka.consumer.consumer"),
        category=MESSAGING,
        label="aiokafka (`send`, `send_and_wait`; `getone`, `getmany`, async iteration)",
        distribution="aiokafka",
        versions=">= 0.10",
        min_version=(0, 10),
        span=_KAFKA_SPAN,
        data=_KAFKA_DATA,
        context=_KAFKA_CONTEXT,
    ),
    Entry(
        "graphql",
        # the executor under graphene, strawberry and ariadne: one patch covers the three
        modules=("graphql.execution.execute",),
        category=FRAMEWORKS,
        aliases=("graphene", "strawberry", "ariadne", "graphql-core"),
        label="GraphQL: graphene, strawberry, ariadne (graphql-core 3, sync and async)",
        distribution="graphql-core",
        versions=">= 3.1",
        min_version=(3, 1),
        span="`graphql.server` (the entry carrying the operation)",
        data="`graphql.{operationType, operationName, fields, args, errors}` (argument names, "
        "never values)",
    ),
)

ENTRIES += (
    Entry(
        "flask",
        modules=("flask.ctx", "flask.app"),
        category=FRAMEWORKS,
        label="Flask (route template, errors)",
        distribution="Flask",
        versions=">= 2.0",
        # flask.__version__ is deprecated (a warning on access): methods are looked up instead
        min_version=None,
        span="enriches the entry",
        data="`http.path_tpl` (`/users/{int:user_id}`), `http.error` (exception, `abort` text)",
        enriches=True,
    ),
    Entry(
        "django",
        modules=("django.core.handlers.base", "django.core.handlers.exception"),
        category=FRAMEWORKS,
        label="Django (route template, errors)",
        distribution="Django",
        versions=">= 4.2",
        min_version=(4, 2),
        span="enriches the entry",
        data="`http.path_tpl` (`users/<int:user_id>`), `http.error` (exception of a 5xx)",
        enriches=True,
    ),
    Entry(
        "starlette",
        modules=("starlette.routing", "starlette.middleware.exceptions", "fastapi.routing"),
        category=FRAMEWORKS,
        aliases=("fastapi",),
        label="FastAPI / Starlette (route template, errors)",
        distribution="starlette",
        versions=">= 0.35",
        min_version=(0, 35),
        span="enriches the entry",
        data="`http.path_tpl` (`/users/{user_id}`), `http.error` (exception, 5xx `detail`)",
        enriches=True,
    ),
    Entry(
        "aiohttp_server",
        modules=("aiohttp.web_app", "aiohttp.web_urldispatcher"),
        category=FRAMEWORKS,
        aliases=("aiohttp-server",),
        label="aiohttp server (the entry, route template, errors)",
        distribution="aiohttp",
        versions=">= 3.9",
        min_version=(3, 9),
        span="`aiohttp-server` (or enriches the active entry)",
        data="`http.{method, url, path, host, params, header, status, path_tpl, error}`",
        context=_HEADERS + " (continued)",
        enriches=True,
    ),
)

BY_NAME = {entry.name: entry for entry in ENTRIES}


def known_names() -> frozenset[str]:
    """Every word ``INSTANA_TRACING_DISABLE`` understands besides true/false."""
    return frozenset(key for entry in ENTRIES for key in entry.keys)
