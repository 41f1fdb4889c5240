"""Frozen, validated records in plain Python: pydantic's rules and messages, without pydantic.

The queue entry, `factory.yaml` and the pin file are read by commands that must start in a few
times a bare interpreter (`release add`, `release status`, `promote --dry-run`), and importing
pydantic and building one model costs more than that. These records validate as pydantic's lax
mode does for the few types they use, with its error types, locations and messages (users read
them: `factory.yaml: environments.dev.pins: Input should be 'pin-files' or 'overlays', got
'overlay'`), and keep the pydantic methods the engine calls: `model_validate`, `model_copy`
(which, as pydantic's, does not validate), `model_dump` and `model_fields`.
tests/test_plain_model.py holds every check here to pydantic's, input for input.

    class QueueLayout(PlainModel, extra="forbid"):
        path: str = field(text(max_length=200), default="release/queue.yaml")
        format: str = field(literal("releases", "four-lists"), default="releases")

A check is a function from an input value to the validated value; a problem raises `Problems`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from decimal import Decimal

Check = Callable[[Any], Any]
Loc = tuple[str | int, ...]

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


class Problems(Exception):
    """What one check found wrong: (location inside the value, error type, message, input)."""

    def __init__(self, found: list[tuple[Loc, str, str, Any]]) -> None:
        super().__init__(found)
        self.found = found

    def under(self, *outer: str | int) -> list[tuple[Loc, str, str, Any]]:
        return [((*outer, *loc), kind, message, value) for loc, kind, message, value in self.found]


def fail(kind: str, message: str, value: Any) -> Problems:
    """One problem with the value itself (raise it)."""
    return Problems([((), kind, message, value)])


class ValidationError(ValueError):
    """Every problem found in one input, listed as pydantic's `ValidationError.errors()` does."""

    def __init__(self, title: str, found: list[tuple[Loc, str, str, Any]]) -> None:
        self.title = title
        self._errors = [
            {"type": kind, "loc": loc, "msg": message, "input": value}
            for loc, kind, message, value in found
        ]
        count = len(found)
        lines = [f"{count} validation error{'s' if count != 1 else ''} for {title}"]
        for error in self._errors:
            lines.append(".".join(str(part) for part in error["loc"]) or "-")
            lines.append(f"  {error['msg']} [type={error['type']}]")
        super().__init__("\n".join(lines))

    def errors(self, *, include_url: bool = False) -> list[dict]:
        """Each problem: `type`, `loc`, `msg`, `input` (there are no documentation URLs)."""
        return [dict(error) for error in self._errors]

    def error_count(self) -> int:
        return len(self._errors)


# ----------------------------------------------------------------------------------------------
# Checks of one value
# ----------------------------------------------------------------------------------------------


def _decimal() -> tuple[type, ...]:
    """Decimal, once anything imported it: before that, no value can be one (and importing
    `decimal` here would cost every command that reads a record)."""
    module = sys.modules.get("decimal")
    return (module.Decimal,) if module is not None else ()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _as_str(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (ruamel's quoted scalars) as a plain str
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise fail(
                "string_unicode",
                "Input should be a valid string, unable to parse raw data as a unicode string",
                value,
            ) from None
    raise fail("string_type", "Input should be a valid string", value)


def _rust_pattern(pattern: str) -> str:
    """pydantic matches with Rust's regex, whose `$` is only the end of the text (Python's
    also matches before a final newline) and which finds a match anywhere (re.search)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern


def text(
    *, min_length: int | None = None, max_length: int | None = None, pattern: str | None = None
) -> Check:
    """A string (pydantic `str` with StringConstraints)."""
    # Compiled on first use (re caches it): a record declares patterns no command may need.
    searched = _rust_pattern(pattern) if pattern is not None else None

    def check(value: Any) -> str:
        value = _as_str(value)
        if min_length is not None and len(value) < min_length:
            raise fail(
                "string_too_short",
                f"String should have at least {_plural(min_length, 'character')}",
                value,
            )
        if max_length is not None and len(value) > max_length:
            raise fail(
                "string_too_long",
                f"String should have at most {_plural(max_length, 'character')}",
                value,
            )
        if searched is not None and re.search(searched, value) is None:
            raise fail("string_pattern_mismatch", f"String should match pattern '{pattern}'", value)
        return value

    return check


_INT_TEXT = r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?"
_MAX_INT_DIGITS = 4300  # Python's own bound on int(str)


def _as_int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, (bool, int)):
        return int(value)
    if isinstance(value, (float, *_decimal())):
        if value != value or value in (float("inf"), float("-inf")):
            raise fail("finite_number", "Input should be a finite number", value)
        if value != int(value):
            raise fail(
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
                value,
            )
        return int(value)
    if isinstance(value, (str, bytes, bytearray)):
        digits = value.decode("utf-8", "replace") if not isinstance(value, str) else value
        digits = digits.strip()
        if not re.fullmatch(_INT_TEXT, digits):
            raise fail(
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
                value,
            )
        whole = digits.partition(".")[0]
        if len(whole) > _MAX_INT_DIGITS:
            raise fail(
                "int_parsing_size",
                "Unable to parse input string as an integer, exceeded maximum size",
                value,
            )
        return int(whole)
    raise fail("int_type", "Input should be a valid integer", value)


def integer(*, ge: int | None = None, le: int | None = None) -> Check:
    """A whole number (pydantic `int` with ge/le)."""

    def check(value: Any) -> int:
        number = _as_int(value)
        if ge is not None and number < ge:
            raise fail(
                "greater_than_equal", f"Input should be greater than or equal to {ge}", value
            )
        if le is not None and number > le:
            raise fail("less_than_equal", f"Input should be less than or equal to {le}", value)
        return number

    return check


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _whole(value: float | Decimal) -> bool:
    try:
        return value == int(value)
    except (ValueError, OverflowError):  # nan, inf
        return False


def boolean(*, strict: bool = False) -> Check:
    """A bool (pydantic `bool`; `strict`: `StrictBool`, a YAML `true`/`false` only)."""

    def check(value: Any) -> bool:
        if value is True or value is False:
            return value
        if strict:
            raise fail("bool_type", "Input should be a valid boolean", value)
        if isinstance(value, (str, bytes, bytearray)):
            word = value.decode("utf-8", "replace") if not isinstance(value, str) else value
            word = word.lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
        elif isinstance(value, (int, float, *_decimal())) and _whole(value):
            if value in (0, 1):  # a whole number: 0 or 1 only
                return value == 1
        else:  # not a number a boolean could be read from (a fraction, nan, a list, ...)
            raise fail("bool_type", "Input should be a valid boolean", value)
        raise fail(
            "bool_parsing", "Input should be a valid boolean, unable to interpret input", value
        )

    return check


def literal(*choices: str) -> Check:
    """One of `choices` (pydantic `Literal[...]`): the choice itself comes back."""
    named = [repr(choice) for choice in choices]
    expected = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    by_value = {choice: choice for choice in choices}

    def check(value: Any) -> str:
        try:
            found = by_value.get(value) if isinstance(value, str) else None
        except TypeError:
            found = None
        if found is None:
            raise fail("literal_error", f"Input should be {expected}", value)
        return found

    return check


# `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]`: read here. Any other form pydantic reads (a space
# or `_` for the `T`, no seconds, a comma, unix seconds, ...), and every refusal with its exact
# message, comes from pydantic's own parser, imported only for such a rare value.
_RFC3339 = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,6}))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)


@cache
def _pydantic_datetime() -> Any:
    from pydantic_core import SchemaValidator, core_schema

    return SchemaValidator(core_schema.datetime_schema())


def _parsed_elsewhere(value: Any) -> datetime:
    from pydantic_core import ValidationError as CoreValidationError

    try:
        return _pydantic_datetime().validate_python(value)
    except CoreValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise fail(error["type"], error["msg"], value) from None


def _rfc3339(value: str) -> datetime | None:
    """The moment `value` names, or None when it is not that one form (or not a real moment)."""
    match = re.fullmatch(_RFC3339, value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, tz_hour, tz_minute = (
        match.groups()
    )
    zone = None
    if zulu:
        zone = UTC
    elif sign:
        if int(tz_hour) > 23 or int(tz_minute) > 59:
            return None
        offset = timedelta(hours=int(tz_hour), minutes=int(tz_minute))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=zone,
        )
    except ValueError:  # out of range: pydantic's parser says which part
        return None


def moment() -> Check:
    """A datetime (pydantic `datetime`): a datetime as it is, an RFC 3339 text as the moment."""

    def check(value: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        if isinstance(value, str) and (found := _rfc3339(value)) is not None:
            return found
        return _parsed_elsewhere(value)

    return check


def number(*, gt: float | None = None, le: float | None = None) -> Check:
    """A float (pydantic `float` with gt/le): ints and numeric text are read as numbers."""

    def check(value: Any) -> float:
        if not isinstance(value, (int, float, *_decimal(), str, bytes)):
            raise fail("float_type", "Input should be a valid number", value)
        if isinstance(value, (str, bytes)):
            text_value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            try:
                found = float(text_value)
            except ValueError:
                raise fail(
                    "float_parsing",
                    "Input should be a valid number, unable to parse string as a number",
                    value,
                ) from None
        else:
            found = float(value)
        if le is not None and not found <= le:  # pydantic's order: nan fails `le` first
            raise fail("less_than_equal", f"Input should be less than or equal to {le}", value)
        if gt is not None and not found > gt:
            raise fail("greater_than", f"Input should be greater than {gt}", value)
        return found

    return check


# ----------------------------------------------------------------------------------------------
# Checks that combine checks
# ----------------------------------------------------------------------------------------------


def then(check: Check, *after: Callable[[Any], Any]) -> Check:
    """`check`, then each function on its result (pydantic's AfterValidator): a ValueError it
    raises is the field's `Value error, ...`."""

    def checked(value: Any) -> Any:
        value = check(value)
        for function in after:
            try:
                value = function(value)
            except ValueError as exc:
                raise fail("value_error", f"Value error, {exc}", value) from None
        return value

    return checked


def optional(check: Check) -> Check:
    """None, or what `check` accepts (pydantic `X | None`)."""

    def checked(value: Any) -> Any:
        return None if value is None else check(value)

    return checked


def _each(items: Iterable[Any], check: Check) -> list[Any]:
    found: list = []
    out = []
    for index, item in enumerate(items):
        try:
            out.append(check(item))
        except Problems as problems:
            found += problems.under(index)
    if found:
        raise Problems(found)
    return out


def tuple_of(check: Check) -> Check:
    """A tuple of what `check` accepts (pydantic `tuple[X, ...]`: a list, set or tuple)."""

    def checked(value: Any) -> tuple:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise fail("tuple_type", "Input should be a valid tuple", value)
        return tuple(_each(value, check))

    return checked


def list_of(check: Check) -> Check:
    """A list of what `check` accepts (pydantic `list[X]`: a list, tuple or set)."""

    def checked(value: Any) -> list:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise fail("list_type", "Input should be a valid list", value)
        return _each(value, check)

    return checked


def mapping_of(key: Check, value: Check, *, min_length: int | None = None) -> Check:
    """A dict (pydantic `dict[K, V]`, with Field(min_length=...))."""

    def checked(data: Any) -> dict:
        if not isinstance(data, dict):
            raise fail("dict_type", "Input should be a valid dictionary", data)
        found: list = []
        out = {}
        for raw_key, raw_value in data.items():
            try:
                good_key = key(raw_key)
            except Problems as problems:
                found += problems.under(raw_key, "[key]")
                good_key = None
            try:
                good_value = value(raw_value)
            except Problems as problems:
                found += problems.under(raw_key)
                continue
            if good_key is not None:
                out[good_key] = good_value
        if found:
            raise Problems(found)
        if min_length is not None and len(out) < min_length:
            raise fail(
                "too_short",
                f"Dictionary should have at least {_plural(min_length, 'item')} after "
                f"validation, not {len(out)}",
                data,
            )
        return out

    return checked


def model(cls: type[PlainModel]) -> Check:
    """A nested record: a mapping is validated into one, a record is kept as it is."""

    def checked(value: Any) -> PlainModel:
        if isinstance(value, cls):
            return value
        return cls._from_mapping(value)

    return checked


# ----------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------


class Field:
    """One field of a record: its check and its default (REQUIRED: none)."""

    __slots__ = ("check", "default", "alias")

    def __init__(self, check: Check, default: Any, alias: str | None) -> None:
        self.check = check
        self.default = default
        self.alias = alias

    def is_required(self) -> bool:
        return self.default is REQUIRED

    def __repr__(self) -> str:
        return f"Field(default={self.default!r})"


def field(check: Check, *, default: Any = REQUIRED, alias: str | None = None) -> Any:
    """Declare a field in a record's class body: `name: type = field(check, default=...)`.

    `alias` is the key the input uses for it (the field's own name is accepted too).
    """
    return Field(check, default, alias)


class PlainModel:
    """A frozen record whose fields are checked on the way in (see the module docstring).

    Subclasses declare fields with `field(...)`, and `extra="forbid"` in the class line to refuse
    unknown keys (else they are ignored, as pydantic's default). A rule across fields goes in
    `_cross_check`, run once every field is valid; its ValueError is the record's error.
    """

    model_fields: ClassVar[dict[str, Field]] = {}
    _extra: ClassVar[str] = "ignore"
    _plan: ClassVar[tuple[tuple[str, str | None, Check, Any], ...]] = ()
    _keys: ClassVar[frozenset[str]] = frozenset()
    _aliased: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init_subclass__(cls, extra: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls.model_fields)
        for name, value in list(vars(cls).items()):
            if isinstance(value, Field):
                fields[name] = value
                delattr(cls, name)  # an instance's value is in its __dict__, as pydantic's
        cls.model_fields = fields
        if extra is not None:
            cls._extra = extra
        cls._plan = tuple((name, f.alias, f.check, f.default) for name, f in fields.items())
        cls._aliased = tuple((name, f.alias) for name, f in fields.items() if f.alias)
        cls._keys = frozenset(fields) | {alias for _, alias in cls._aliased}

    def __init__(self, **data: Any) -> None:
        object.__setattr__(self, "__dict__", type(self)._values(data))
        self._checked_across()

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        """A record from a mapping (a record of this class is returned as it is)."""
        if isinstance(data, cls):
            return data
        try:
            return cls._from_mapping(data)
        except Problems as problems:
            raise ValidationError(cls.__name__, problems.found) from None

    @classmethod
    def _from_mapping(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise fail(
                "model_type",
                f"Input should be a valid dictionary or instance of {cls.__name__}",
                data,
            )
        record = cls.__new__(cls)
        object.__setattr__(record, "__dict__", cls._checked_values(data))
        try:
            record._cross_check()
        except ValueError as exc:
            raise fail("value_error", f"Value error, {exc}", data) from None
        return record

    @classmethod
    def _values(cls, data: dict) -> dict:
        try:
            return cls._checked_values(data)
        except Problems as problems:
            raise ValidationError(cls.__name__, problems.found) from None

    @classmethod
    def _checked_values(cls, data: dict) -> dict:
        values: dict[str, Any] = {}
        found: list | None = None
        for name, alias, check, default in cls._plan:
            key = alias if alias is not None and alias in data else name
            if key in data:
                try:
                    values[name] = check(data[key])
                except Problems as problems:
                    found = (found or []) + problems.under(key)
            elif default is REQUIRED:
                found = (found or []) + [((alias or name,), "missing", "Field required", data)]
            else:
                values[name] = default.copy() if isinstance(default, (list, dict)) else default
        known = cls._keys
        if cls._aliased and any(alias in data for _, alias in cls._aliased):
            # given by its alias, a field's own name is an unknown key (as pydantic reads it)
            known = known - {name for name, alias in cls._aliased if alias in data}
        if cls._extra == "forbid" and not known.issuperset(data):
            for key in data:
                if key not in known:
                    found = (found or []) + [
                        ((key,), "extra_forbidden", "Extra inputs are not permitted", data[key])
                    ]
        if found:
            raise Problems(found)
        return values

    def _checked_across(self) -> None:
        try:
            self._cross_check()
        except ValueError as exc:
            raise ValidationError(
                type(self).__name__, [((), "value_error", f"Value error, {exc}", self.__dict__)]
            ) from None

    def _cross_check(self) -> None:
        """Rules across fields (none by default); raise ValueError to refuse the record."""

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Any:
        """A copy with `update` applied, not validated (as pydantic's model_copy)."""
        copy = type(self).__new__(type(self))
        object.__setattr__(copy, "__dict__", {**self.__dict__, **(update or {})})
        return copy

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict (nested records as dicts)."""
        return {name: _dumped(value) for name, value in self.__dict__.items()}

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use model_copy(update=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlainModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


def _dumped(value: Any) -> Any:
    if isinstance(value, PlainModel):
        return value.model_dump()
    if isinstance(value, dict):
        return {key: _dumped(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_dumped(item) for item in value)
    return value
