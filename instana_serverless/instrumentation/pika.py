"""pika: ``rabbitmq`` exits for published messages, ``rabbitmq`` entries for consumed ones.

- ``basic_publish`` (``BlockingChannel`` and the ``Channel`` of the asynchronous adapters such
  as ``SelectConnection``): an exit ``rabbitmq.{sort: publish, exchange, key, address}``; the
  message goes out with a copy of its properties whose headers carry the context (_amqp.py).
  The blocking call goes through ``Channel.basic_publish``: the row covers itself, one span.
- ``basic_consume`` callbacks (both channel kinds) run inside an entry
  ``rabbitmq.{sort: consume, queue, exchange, key, address}`` that continues the message's
  context (_entry.py); an exception of the callback marks it and goes on to pika unchanged.
- ``Channel.basic_get`` callbacks likewise; ``BlockingChannel.basic_get`` hands the message
  back with nothing to wrap around its handling: its entry marks the receipt.
- ``BlockingChannel.consume`` (the generator): each message's entry is active from the moment
  it is handed over until the loop asks for the next one (or the generator is closed).

The blocking adapter runs on top of ``Channel``: the callbacks it passes down itself (defined
in pika's own ``blocking_connection`` module) are left alone, so a message is one entry.
Address: ``host:port`` of the connection parameters, as the Instana Python sensor sends it.
"""

from __future__ import annotations

import sys

from . import _amqp
from ._common import tracer_bug
from ._entry import begin_entry, end_entry, run_in_entry
from ._patches import Custom, Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, Optional, Tuple

    from ..invocation import Invocation
    from ._wrap import Call, StartResult
    from .registry import Entry

_BLOCKING = "pika.adapters.blocking_connection"


def address(channel: Any) -> Optional[str]:
    """``host:port`` of a ``BlockingChannel`` (through its ``Channel``) or ``Channel``."""
    try:
        params = getattr(channel, "_impl", channel).connection.params
        return f"{params.host}:{params.port}"
    except Exception:
        return None


def start(call: Call) -> StartResult:
    if not call.recording:
        return _amqp.SPAN, None, _amqp.ERROR_PATH
    args, kwargs = call.args, call.kwargs
    exchange = args[1] if len(args) > 1 else kwargs.get("exchange")
    key = args[2] if len(args) > 2 else kwargs.get("routing_key")
    data = _amqp.data("publish", address(args[0]), exchange=exchange, key=key)
    return _amqp.SPAN, data, _amqp.ERROR_PATH


def inject(call: Call) -> None:
    args = call.args
    positional = len(args) > 4
    properties = args[4] if positional else call.kwargs.get("properties")
    if properties is None:
        spec = sys.modules["pika.spec"]  # loaded with pika.channel: we import nothing
        copy = spec.BasicProperties()
    else:
        copy = object.__new__(type(properties))
        copy.__dict__.update(properties.__dict__)
    copy.headers = _amqp.with_context(getattr(properties, "headers", None), call.span)
    if positional:
        call.args = (*args[:4], copy, *args[5:])
    else:
        call.kwargs = {**call.kwargs, "properties": copy}


def _consumed(
    method: Any, properties: Any, queue: Any, addr: Optional[str]
) -> Tuple[Optional[Dict[str, str]], Dict[str, Any]]:
    """The carrier and span data of one delivered message."""
    return _amqp.carrier(getattr(properties, "headers", None)), _amqp.data(
        "consume",
        addr,
        exchange=getattr(method, "exchange", None),
        key=getattr(method, "routing_key", None),
        queue=queue,
    )


def _traced_callback(
    entry: Entry, callback: Callable[..., Any], queue: Any, addr: Optional[str]
) -> Callable[..., Any]:
    """``callback(channel, method, properties, body)`` run inside the message's entry."""

    def traced(channel: Any, method: Any, properties: Any, body: Any) -> Any:
        try:
            carrier, data = _consumed(method, properties, queue, addr)
        except Exception:
            tracer_bug("reading a pika delivery")
            return callback(channel, method, properties, body)
        return run_in_entry(
            entry,
            _amqp.SPAN,
            carrier,
            data,
            _amqp.ERROR_PATH,
            callback,
            channel,
            method,
            properties,
            body,
        )

    traced.__wrapped__ = callback  # type: ignore[attr-defined]
    return traced


def _with_traced_callback(
    entry: Entry,
    channel: Any,
    args: Tuple[Any, ...],
    kwargs: Dict[str, Any],
    name: str,
) -> Tuple[Tuple[Any, ...], Dict[str, Any]]:
    """``(queue, callback, ...)`` arguments with the callback (positional or ``name=``)
    replaced by its traced stand-in; unchanged for pika's own blocking-adapter callbacks."""
    try:
        positional = len(args) > 1
        callback = args[1] if positional else kwargs.get(name)
        if not callable(callback) or getattr(callback, "__module__", None) == _BLOCKING:
            return args, kwargs
        queue = args[0] if args else kwargs.get("queue")
        traced = _traced_callback(entry, callback, queue, address(channel))
        if positional:
            return (args[0], traced, *args[2:]), kwargs
        return args, {**kwargs, name: traced}
    except Exception:
        tracer_bug("wrapping a pika callback")
        return args, kwargs


def _consume_maker(name: str) -> Callable[[Entry, Callable[..., Any]], Callable[..., Any]]:
    def make(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
        def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = _with_traced_callback(entry, self, args, kwargs, name)
            return original(self, *args, **kwargs)

        return traced

    return make


def _receipt(entry: Entry, queue: Any, addr: Optional[str], result: Any) -> None:
    """The entry of a message ``BlockingChannel.basic_get`` returned: opened and ended."""
    try:
        method, properties, _body = result
        if method is None:
            return  # the queue was empty
        carrier, data = _consumed(method, properties, queue, addr)
    except Exception:
        tracer_bug("reading a pika basic_get result")
        return
    scope = begin_entry(entry, _amqp.SPAN, carrier, data, _amqp.ERROR_PATH)
    if scope is not None:
        end_entry(scope)


def make_blocking_get(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def basic_get(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        _receipt(entry, args[0] if args else kwargs.get("queue"), address(self), result)
        return result

    return basic_get


def _deliveries(
    entry: Entry, generator: Iterator[Any], queue: Any, addr: Optional[str]
) -> Iterator[Any]:
    """The generator's items, each message's entry active until the next item is asked for."""
    scope: Optional[Invocation] = None
    try:
        for item in generator:
            if scope is not None:
                end_entry(scope)
                scope = None
            try:
                method, properties, _body = item
                if method is not None:  # (None, None, None): the inactivity timeout
                    carrier, data = _consumed(method, properties, queue, addr)
                    scope = begin_entry(entry, _amqp.SPAN, carrier, data, _amqp.ERROR_PATH)
            except Exception:
                tracer_bug("reading a pika consume delivery")
            yield item
    finally:
        if scope is not None:
            end_entry(scope)
        close = getattr(generator, "close", None)
        if close is not None:
            close()


def make_consume(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def consume(self: Any, *args: Any, **kwargs: Any) -> Any:
        generator = original(self, *args, **kwargs)
        try:
            queue = args[0] if args else kwargs.get("queue")
            return _deliveries(entry, generator, queue, address(self))
        except Exception:
            tracer_bug("wrapping a pika consume generator")
            return generator

    return consume


PATCHES = {
    "pika.channel": (
        Method("Channel", "basic_publish", start, inject=inject),
        Custom("Channel", "basic_consume", _consume_maker("on_message_callback")),
        Custom("Channel", "basic_get", _consume_maker("callback")),
    ),
    _BLOCKING: (
        Method("BlockingChannel", "basic_publish", start, inject=inject),
        Custom("BlockingChannel", "basic_consume", _consume_maker("on_message_callback")),
        Custom("BlockingChannel", "basic_get", make_blocking_get),
        Custom("BlockingChannel", "consume", make_consume),
    ),
}
