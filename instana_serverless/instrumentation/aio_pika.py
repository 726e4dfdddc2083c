"""aio-pika: ``rabbitmq`` exits for published messages, ``rabbitmq`` entries for consumed ones.

- ``Exchange.publish``: an exit ``rabbitmq.{sort: publish, exchange, key, address}`` covering
  the await (with publisher confirms: until the broker confirms); a copy of the message goes
  out with the context in its headers (_amqp.py), the caller's message is left as it was.
- ``Queue.consume`` callbacks run inside an entry
  ``rabbitmq.{sort: consume, queue, exchange, key, address}`` continuing the message's context
  (_entry.py); an exception of the callback marks it and goes on to aio-pika unchanged.
- ``Queue.iterator()`` (``async for message in queue.iterator()``, robust queues too): each
  message's entry is active from the ``__anext__`` that hands it over until the next one, or
  until the iterator closes (``async with`` does that on leaving the block; an exception
  leaving the block marks the entry of the message being handled).
- ``Queue.get``: nothing to wrap around the message's handling; its entry marks the receipt.

The iterator consumes through ``Queue.consume`` with its own callback (defined in aio-pika's
``queue`` module): that one is left alone, so a message is one entry.
Address: ``host:port`` of the connection URL (never its credentials), as for pika.
"""

from __future__ import annotations

from . import _amqp
from ._common import tracer_bug
from ._entry import begin_entry, end_entry, run_in_entry, run_in_entry_async
from ._patches import Custom, Method
from ._wrap import is_coroutine_function

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    from ..invocation import Invocation
    from ._wrap import Call, StartResult
    from .registry import Entry

_QUEUE_MODULE = "aio_pika.queue"
_ADDRESS = "_instana_address"
_SLOTS: Dict[type, Tuple[str, ...]] = {}
_MISSING = object()
# where an iterator keeps the entry of the message it handed over last
_OPEN = "_instana_entry"


def address(channel: Any) -> Optional[str]:
    """``host:port`` of the connection of an aio-pika channel (worked out once per
    connection: its URL is fixed, and reading it costs more than the rest of a span's data)."""
    try:
        connection = channel._connection
        found: Optional[str] = connection.__dict__.get(_ADDRESS)
        if found is None:
            url = connection.url
            found = connection.__dict__[_ADDRESS] = f"{url.host}:{url.port}"
        return found
    except Exception:
        return None


def _slot_names(cls: type) -> Tuple[str, ...]:
    """Every slot of a message class and its bases, private ones under their mangled names."""
    names = _SLOTS.get(cls)
    if names is None:
        found = []
        for klass in cls.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name in ("__dict__", "__weakref__"):
                    continue
                if name.startswith("__") and not name.endswith("__"):
                    name = f"_{klass.__name__.lstrip('_')}{name}"
                found.append(name)
        names = _SLOTS[cls] = tuple(found)
    return names


def copy_message(message: Any, headers: Dict[Any, Any]) -> Any:
    """The same message with other headers. aio-pika's own ``__copy__`` re-runs the
    constructor through a checking ``__setattr__`` (9 µs); the fields are copied as they are
    instead, the lock (a delivered message's) too, which ``publish`` does not look at."""
    copy = object.__new__(type(message))
    setter = object.__setattr__
    missing = _MISSING
    for name in _slot_names(type(message)):
        value = getattr(message, name, missing)
        if value is not missing:  # else a slot never set
            setter(copy, name, value)
    own = getattr(message, "__dict__", None)
    if own:
        copy.__dict__.update(own)
    setter(copy, "headers", headers)
    return copy


def start(call: Call) -> StartResult:
    if not call.recording:
        return _amqp.SPAN, None, _amqp.ERROR_PATH
    args, kwargs = call.args, call.kwargs
    exchange = args[0]
    key = args[2] if len(args) > 2 else kwargs.get("routing_key")
    data = _amqp.data(
        "publish", address(exchange.channel), exchange=getattr(exchange, "name", None), key=key
    )
    return _amqp.SPAN, data, _amqp.ERROR_PATH


def inject(call: Call) -> None:
    args = call.args
    positional = len(args) > 1
    message = args[1] if positional else call.kwargs["message"]
    copy = copy_message(message, _amqp.with_context(message.headers, call.span))
    if positional:
        call.args = (args[0], copy, *args[2:])
    else:
        call.kwargs = {**call.kwargs, "message": copy}


def _consumed(
    message: Any, queue: Any, addr: Optional[str]
) -> Tuple[Optional[Dict[str, str]], Dict[str, Any]]:
    """The carrier and span data of one delivered message."""
    return _amqp.carrier(getattr(message, "headers", None)), _amqp.data(
        "consume",
        addr,
        exchange=getattr(message, "exchange", None),
        key=getattr(message, "routing_key", None),
        queue=queue,
    )


async def _settled(callback: Callable[..., Any], message: Any) -> Any:
    """The callback's result, awaited when it is awaitable (aio-pika still takes plain
    functions, and so must their stand-in)."""
    result = callback(message)
    if hasattr(result, "__await__"):
        result = await result
    return result


def _traced_callback(
    entry: Entry, callback: Callable[..., Any], queue: Any, addr: Optional[str]
) -> Callable[..., Any]:
    if hasattr(callback, "__code__") and not is_coroutine_function(callback):
        # a plain function stays one (aio-pika warns that it is deprecated, as without us)
        def traced_plain(message: Any) -> Any:
            try:
                carrier, data = _consumed(message, queue, addr)
            except Exception:
                tracer_bug("reading an aio-pika delivery")
                return callback(message)
            return run_in_entry(
                entry, _amqp.SPAN, carrier, data, _amqp.ERROR_PATH, callback, message
            )

        traced_plain.__wrapped__ = callback  # type: ignore[attr-defined]
        return traced_plain

    async def traced(message: Any) -> Any:
        try:
            carrier, data = _consumed(message, queue, addr)
        except Exception:
            tracer_bug("reading an aio-pika delivery")
            return await _settled(callback, message)
        return await run_in_entry_async(
            entry, _amqp.SPAN, carrier, data, _amqp.ERROR_PATH, _settled, callback, message
        )

    traced.__wrapped__ = callback  # type: ignore[attr-defined]
    return traced


def make_consume(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    async def consume(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            positional = bool(args)
            callback = args[0] if positional else kwargs.get("callback")
            if callable(callback) and getattr(callback, "__module__", None) != _QUEUE_MODULE:
                traced = _traced_callback(entry, callback, self.name, address(self.channel))
                if positional:
                    args = (traced, *args[1:])
                else:
                    kwargs = {**kwargs, "callback": traced}
        except Exception:
            tracer_bug("wrapping an aio-pika callback")
        return await original(self, *args, **kwargs)

    return consume


def _close_open_entry(iterator: Any, exc: Optional[BaseException] = None) -> None:
    try:
        scope: Optional[Invocation] = iterator.__dict__.pop(_OPEN, None)
    except Exception:
        tracer_bug("ending an aio-pika iterator entry")
        return
    if scope is not None:
        end_entry(scope, exc)


def make_anext(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    async def __anext__(self: Any) -> Any:
        _close_open_entry(self)
        message = await original(self)
        try:
            queue = self._amqp_queue
            carrier, data = _consumed(message, queue.name, address(queue.channel))
            scope = begin_entry(entry, _amqp.SPAN, carrier, data, _amqp.ERROR_PATH)
            if scope is not None:
                self.__dict__[_OPEN] = scope
        except Exception:
            tracer_bug("opening an aio-pika iterator entry")
        return message

    return __anext__


def make_close(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    async def close(self: Any) -> Any:
        _close_open_entry(self)
        return await original(self)

    return close


def make_aexit(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    async def __aexit__(self: Any, exc_type: Any, exc: Any, traceback: Any) -> Any:
        # an exception leaving the ``async with`` block was raised handling the message
        # whose entry is open: it marks that entry
        _close_open_entry(self, exc if isinstance(exc, BaseException) else None)
        return await original(self, exc_type, exc, traceback)

    return __aexit__


def make_get(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    async def get(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = await original(self, *args, **kwargs)
        if message is None:
            return message  # empty queue, fail=False
        try:
            carrier, data = _consumed(message, self.name, address(self.channel))
        except Exception:
            tracer_bug("reading an aio-pika get result")
            return message
        scope = begin_entry(entry, _amqp.SPAN, carrier, data, _amqp.ERROR_PATH)
        if scope is not None:
            end_entry(scope)
        return message

    return get


PATCHES = {
    "aio_pika.exchange": (Method("Exchange", "publish", start, inject=inject),),
    _QUEUE_MODULE: (
        Custom("Queue", "consume", make_consume),
        Custom("Queue", "get", make_get),
        Custom("QueueIterator", "__anext__", make_anext),
        Custom("QueueIterator", "close", make_close),
        Custom("QueueIterator", "__aexit__", make_aexit),
    ),
    # connect_robust's iterator has its own __anext__ (it waits out reconnections)
    "aio_pika.robust_queue": (Custom("RobustQueueIterator", "__anext__", make_anext),),
}
