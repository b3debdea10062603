"""JSON request bodies are decoded strictly: a JSON string is not a boolean or a number.

Litestar turns a handler's `data` from the decoded JSON with msgspec's lax rules (`strict=False`, hard-coded
in its signature model, not configurable in 2.x). Those suit path, query, header and form values, which are
always strings, but they let a JSON body say `"FALSE"` for false or `"1"` for 1. So before the handler's
arguments are parsed (the app's `before_request`, after the guards) the JSON body is converted once more into
the handler's own `data` type with `strict=True`. A body that only fits after lax coercion is a 400 validation
problem naming the field (`errors[].key`), in the shape of every other validation error; a body that fails
both ways is left to Litestar's own message; a body that passes strictly converts to the same value under the
lax rules, so what the handler receives is unchanged. Path and query parameters, multipart and url-encoded
forms keep Litestar's string conversion. A route that reads its body itself decodes it itself, strictly.
"""

from __future__ import annotations

import weakref
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, SerializationException, ValidationException
from litestar.params import BodyKwarg

from lumen.core.http.content_type import require_declared_content_type

__all__ = ["check_request_body", "require_strict_json_body", "strict_error"]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Per route handler: the type is fixed once the app is built, and finding it walks the signature model's
# annotations (forward references and all), which is far dearer than the check itself.
# Weak keys: a handler (and its app) that is gone takes its entry with it.
_DATA_TYPES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _data_type(request: Request[Any, Any, Any]) -> Any:
    """The type Litestar converts this route's JSON body into; None when the route reads no JSON body."""
    handler = request.route_handler
    try:
        return _DATA_TYPES[handler]
    except KeyError:
        found = _DATA_TYPES[handler] = _find_data_type(handler)
        return found


def _find_data_type(handler: Any) -> Any:
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    kwarg = field.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type != RequestEncodingType.JSON:
        return None  # forms carry strings; msgpack has its own types
    for info in msgspec.structs.fields(handler.signature_model):
        if info.name == "data":
            return info.type  # as Litestar built it (Optional, constraints...); a DTO's is Any
    return None


def _is_json(request: Request[Any, Any, Any]) -> bool:
    media_type = request.headers.get("content-type", "application/json").partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _dec_hook(request: Request[Any, Any, Any]) -> Any:
    default = request.route_handler.default_deserializer

    def hook(target_type: Any, value: Any) -> Any:
        if decoder := getattr(target_type, "_decoder", None):  # Litestar's type_decoders
            return decoder(target_type, value)
        return default(target_type, value)

    return hook


def _integral_numbers(value: Any) -> Any:
    """`value` (decoded JSON, changed in place) with every float that is a whole number as an int. Iterative:
    a deeply nested body must not exhaust the stack."""
    root = [value]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    while pending:
        container, key = pending.pop()
        item = container[key]
        if isinstance(item, float) and item.is_integer():
            container[key] = int(item)
        elif isinstance(item, list):
            pending.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            pending.extend((item, k) for k in item)
    return root[0]


def strict_error(exc: msgspec.ValidationError) -> dict[str, str]:
    """msgspec's "Expected `bool`, got `str` - at `$.flags.enabled`" as a field error (key, message)."""
    message, _, path = str(exc).partition(" - at `$")
    key = path.rstrip("`").lstrip(".")
    return {"key": key or "body", "message": message, "source": "body"}


async def require_strict_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a JSON body whose values fit the route's types only after lax coercion (400, the field)."""
    if request.method not in _WITH_BODY:
        return
    target = _data_type(request)
    if target is None or not _is_json(request) or not await request.body():
        return
    try:
        value = await request.json()  # cached on the request: Litestar's own extraction reuses it
    except SerializationException:
        return  # not JSON at all: Litestar's extraction answers 400 as before
    except RecursionError:  # msgspec's decoder gives up past ~1000 levels; so would Litestar's, with a 500
        raise ClientException("The JSON body is nested too deeply.") from None
    hook = _dec_hook(request)
    try:
        msgspec.convert(value, target, strict=True, str_keys=True, dec_hook=hook)
    except TypeError:
        return  # a type msgspec cannot convert: Litestar reports on it as before
    except msgspec.ValidationError:
        try:
            msgspec.convert(value, target, strict=False, str_keys=True, dec_hook=hook)
        except (msgspec.ValidationError, TypeError, ValueError):
            return  # invalid however it is read: Litestar's own message names the problem
        # JSON (and JSON Schema's "integer") has numbers, not ints and floats: 4.0 is the integer 4. Only
        # what is still refused once integral numbers are integers came in as a string.
        try:
            integral = _integral_numbers(msgspec.json.decode(await request.body()))  # a copy to change
            msgspec.convert(integral, target, strict=True, str_keys=True, dec_hook=hook)
        except msgspec.ValidationError as still:
            raise ValidationException(detail="Validation failed", extra=[strict_error(still)]) from None


async def check_request_body(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request`: the body is the media type the route declares; JSON is read strictly."""
    await require_declared_content_type(request)
    await require_strict_json_body(request)
