"""The plain records' checks accept, refuse and word their refusals as pydantic does.

Each check of `common.plain_model` is fed the same inputs as the pydantic type it stands for
(pydantic stays installed: the evidence records use it): an accepted input must give the same
value, a refused one the same error types, locations and messages, since users read them.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Literal

import pytest
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    TypeAdapter,
)
from pydantic import ValidationError as PydanticError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from factory_assets.common import plain_model as pm

STRINGS = [
    "",
    "a",
    "abc",
    "a" * 9,
    "a" * 10,
    "a" * 11,
    "r1\n",
    "r1\r",
    "R-1.x_y",
    "-r1",
    "ok\x00",
    "ünï",
    DoubleQuotedScalarString("quoted"),
    b"bytes",
    bytearray(b"ba"),
    b"\xff",
    1,
    1.5,
    True,
    None,
    [],
    {},
    ["a"],
]
INTS = [
    0,
    1,
    -1,
    5,
    100,
    101,
    True,
    False,
    3.0,
    3.5,
    float("nan"),
    float("inf"),
    Decimal("3"),
    Decimal("3.5"),
    "3",
    " 3 ",
    "3.0",
    "3.00",
    "-3.0",
    "3.5",
    "1_0",
    "1__0",
    "_1",
    "+3",
    "007",
    "0x10",
    "1e3",
    "",
    " ",
    "x",
    "٣",
    "9" * 5000,
    b"7",
    None,
    [1],
    {},
]
BOOLS = [
    True,
    False,
    0,
    1,
    2,
    0.0,
    1.0,
    0.5,
    Decimal(1),
    "yes",
    "YES",
    "no",
    "on",
    "off",
    "t",
    "f",
    "y",
    "n",
    "1",
    "0",
    "True",
    "true ",
    "maybe",
    "",
    b"true",
    None,
    [],
    {},
]
MOMENTS = [
    "2026-01-02T00:00:00Z",
    "2026-01-02t03:04:05z",
    "2026-01-02T03:04:05.1Z",
    "2026-01-02T03:04:05.123456Z",
    "2026-01-02T03:04:05.1234567Z",
    "2026-01-02T03:04:05+01:00",
    "2026-01-02T03:04:05-08:30",
    "2026-01-02T03:04:05-00:00",
    "2026-01-02T03:04:05+23:59",
    "2026-01-02T03:04:05+24:00",
    "2026-01-02T03:04:05+01:60",
    "2026-01-02T03:04:05+0100",
    "2026-01-02T03:04:05",
    "2026-01-02 03:04:05Z",
    "2026-01-02_03:04:05Z",
    "2026-01-02T03:04Z",
    "2026-01-02T03:04:05,5Z",
    "2026-01-02",
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-01-32T00:00:00Z",
    "2026-01-02T24:00:00Z",
    "2026-01-02T23:60:00Z",
    "2026-01-02T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-01-02T03:04:05Zjunk",
    " 2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05 Z",
    "١٢٣٤-01-02T03:04:05Z",
    "1700000000",
    "1700000000.5",
    "x",
    "",
    1700000000,
    1.5,
    True,
    None,
    date(2026, 1, 2),
    datetime(2026, 1, 2, tzinfo=UTC),
    datetime(2026, 1, 2),
    b"2026-01-02T00:00:00Z",
    [],
]
NUMBERS = [0, 1, 0.5, -1, 600, 601, 21600, 21601, "5", " 5 ", "1e2", "1_0", "x", "", "nan", "inf"]
NUMBERS += [float("nan"), float("inf"), True, None, [], Decimal("2.5"), b"3"]


def _tz_name(value: datetime) -> datetime:
    """pydantic gives its own tzinfo class: compare by offset."""
    if value.tzinfo is None:
        return value
    return value.replace(tzinfo=timezone(value.utcoffset() or timedelta(0)))


def outcome_of(run, value):
    try:
        found = run(value)
    except (PydanticError, pm.ValidationError) as exc:
        return "refused", [(e["type"], tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    if isinstance(found, datetime):
        found = _tz_name(found)
    if isinstance(found, float):  # nan is not equal to itself
        found = repr(found)
    return "accepted", (type(found).__name__, found)


def same_as_pydantic(check: pm.Check, annotation: object, inputs: list) -> None:
    class Plain(pm.PlainModel):
        value: object = pm.field(check)

    adapter = TypeAdapter(annotation)
    for value in inputs:
        theirs = outcome_of(adapter.validate_python, value)
        ours = outcome_of(lambda v: Plain.model_validate({"value": v}).value, value)
        if ours[0] == "refused":
            ours = ("refused", [(kind, loc[1:], msg) for kind, loc, msg in ours[1]])
        assert ours == theirs, f"input {value!r}"


def _id_like(value: str) -> str:
    if value.startswith("-"):
        raise ValueError(f"{value!r} starts with a dash")
    return value


@pytest.mark.parametrize(
    ("check", "annotation"),
    [
        (pm.text(), str),
        (
            pm.text(min_length=1, max_length=10),
            Annotated[str, StringConstraints(min_length=1, max_length=10)],
        ),
        (pm.text(max_length=1), Annotated[str, StringConstraints(max_length=1)]),
        (pm.text(min_length=2), Annotated[str, StringConstraints(min_length=2)]),
        (
            pm.text(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"),
            Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")],
        ),
        (
            pm.text(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]*$"),
            Annotated[
                str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]*$")
            ],
        ),
        (pm.then(pm.text(), _id_like), Annotated[str, AfterValidator(_id_like)]),
        (
            pm.optional(pm.text(max_length=3)),
            Annotated[str, StringConstraints(max_length=3)] | None,
        ),
    ],
)
def test_text_is_pydantic_str(check, annotation):
    same_as_pydantic(check, annotation, STRINGS)


def test_integer_is_pydantic_int():
    same_as_pydantic(pm.integer(), int, INTS)
    same_as_pydantic(pm.integer(ge=0, le=100), Annotated[int, Field(ge=0, le=100)], INTS)


def test_boolean_is_pydantic_bool():
    same_as_pydantic(pm.boolean(), bool, BOOLS)
    same_as_pydantic(pm.boolean(strict=True), StrictBool, BOOLS)


def test_literal_is_pydantic_literal():
    inputs = ["pending", "promoted", "Pending", DoubleQuotedScalarString("failed"), 1, None, [], {}]
    same_as_pydantic(pm.literal("pending"), Literal["pending"], inputs)
    same_as_pydantic(pm.literal("pin-files", "overlays"), Literal["pin-files", "overlays"], inputs)
    states = ("pending", "promoting", "promoted", "failed", "superseded")
    same_as_pydantic(pm.literal(*states), Literal[states], inputs)


def test_moment_is_pydantic_datetime():
    same_as_pydantic(pm.moment(), datetime, MOMENTS)


def test_number_is_pydantic_float():
    same_as_pydantic(pm.number(), float, NUMBERS)
    same_as_pydantic(pm.number(gt=0, le=600), Annotated[float, Field(gt=0, le=600)], NUMBERS)


def test_collections_are_pydantic_collections():
    same_as_pydantic(
        pm.tuple_of(pm.text()),
        tuple[str, ...],
        [[], ["a"], ("a", "b"), {"a"}, "ab", {"a": 1}, [1, "b", 2], None, 3],
    )
    same_as_pydantic(
        pm.list_of(pm.text()), list[str], [[], ["a"], ("a", "b"), "ab", {"a": 1}, [1, "b"], None]
    )
    same_as_pydantic(
        pm.mapping_of(pm.text(max_length=2), pm.integer(), min_length=1),
        Annotated[dict[Annotated[str, StringConstraints(max_length=2)], int], Field(min_length=1)],
        [{}, {"a": 1}, {"a": "x", 1: 2}, {"abc": 1}, {"abc": "x"}, [("a", 1)], "x", None],
    )


def pydantic_outer() -> type[BaseModel]:
    """The pydantic models the plain ones below stand for (the same class names)."""

    class Inner(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        kind: Literal["a", "b"] = "a"
        size: Annotated[int, Field(ge=0)]

    class Outer(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        name: str
        inner: Inner | None = None
        many: dict[str, Inner] = {}
        tags: tuple[str, ...] = ()

    return Outer


class Inner(pm.PlainModel, extra="forbid"):
    kind: str = pm.field(pm.literal("a", "b"), default="a")
    size: int = pm.field(pm.integer(ge=0))


class Outer(pm.PlainModel, extra="forbid"):
    name: str = pm.field(pm.text())
    inner: Inner | None = pm.field(pm.optional(pm.model(Inner)), default=None)
    many: dict[str, Inner] = pm.field(pm.mapping_of(pm.text(), pm.model(Inner)), default={})
    tags: tuple[str, ...] = pm.field(pm.tuple_of(pm.text()), default=())


RECORDS = [
    {"name": "x"},
    {"name": "x", "inner": {"size": 1}, "many": {"k": {"kind": "b", "size": 0}}, "tags": ["t"]},
    {},
    {"name": 1, "extra": 2, "other": 3},
    {"name": "x", "inner": {"size": -1, "kind": "c", "more": 1}},
    {"name": "x", "inner": "no", "many": {"k": {}, "j": 3}, "tags": "t"},
    {"extra": 1},
    "not a mapping",
    None,
]


@pytest.mark.parametrize("data", RECORDS)
def test_a_record_is_refused_and_accepted_as_a_pydantic_model(data):
    theirs = outcome_of(pydantic_outer().model_validate, data)
    ours = outcome_of(Outer.model_validate, data)
    assert ours[0] == theirs[0]
    if ours[0] == "refused":
        assert ours[1] == theirs[1]
    else:
        assert ours[1][1].model_dump() == theirs[1][1].model_dump()


def test_a_record_behaves_as_a_frozen_pydantic_model():
    record = Outer(name="x", inner={"size": 1})
    assert record.inner == Inner(size=1) and record.many == {} and record.tags == ()
    assert Outer.model_validate(record) is record
    changed = record.model_copy(update={"name": "y"})
    assert (changed.name, record.name) == ("y", "x") and changed != record
    assert changed == Outer(name="y", inner=Inner(size=1))
    assert hash(Inner(size=1)) == hash(Inner(size=1))
    assert record.model_dump() == {
        "name": "x",
        "inner": {"kind": "a", "size": 1},
        "many": {},
        "tags": (),
    }
    assert list(Outer.model_fields) == ["name", "inner", "many", "tags"]
    assert Outer.model_fields["tags"].default == ()
    with pytest.raises(AttributeError):
        record.name = "z"  # type: ignore[misc]
    with pytest.raises(pm.ValidationError) as refused:
        Outer(name=3)
    assert refused.value.errors()[0]["msg"] == "Input should be a valid string"


class Checked(pm.PlainModel):
    low: int = pm.field(pm.integer())
    high: int = pm.field(pm.integer())

    def _cross_check(self) -> None:
        if self.low > self.high:
            raise ValueError("low above high")


def test_a_rule_across_fields_is_the_records_value_error():
    with pytest.raises(pm.ValidationError) as refused:
        Checked.model_validate({"low": 2, "high": 1})
    assert [(e["loc"], e["msg"]) for e in refused.value.errors()] == [
        ((), "Value error, low above high")
    ]
    with pytest.raises(pm.ValidationError) as refused:  # only once every field is valid
        Checked.model_validate({"low": 2, "high": "x"})
    assert refused.value.errors()[0]["loc"] == ("high",)


def test_moment_agrees_with_pydantic_on_timestamps_one_edit_away():
    """Every one-character change of a few valid timestamps (seeded: the same each run)."""
    rng = random.Random(20260102)
    seeds = [
        "2026-01-02T03:04:05Z",
        "2024-02-29T23:59:59.123456+05:30",
        "1999-12-31T00:00:00-00:00",
    ]
    alphabet = "0123456789-:.+TtZz _,"
    inputs = []
    for seed in seeds:
        for _ in range(300):
            chars = list(seed)
            at = rng.randrange(len(chars))
            action = rng.choice(("replace", "delete", "insert"))
            if action == "replace":
                chars[at] = rng.choice(alphabet)
            elif action == "delete":
                del chars[at]
            else:
                chars.insert(at, rng.choice(alphabet))
            inputs.append("".join(chars))
    same_as_pydantic(pm.moment(), datetime, inputs)


def pydantic_expect() -> type[BaseModel]:
    class Expect(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
        json_path: str | None = Field(default=None, alias="json", min_length=1)
        equals: str

    return Expect


class Expect(pm.PlainModel, extra="forbid"):
    json_path: str | None = pm.field(pm.optional(pm.text(min_length=1)), default=None, alias="json")
    equals: str = pm.field(pm.text())


@pytest.mark.parametrize(
    "data",
    [
        {"json": "a", "equals": "v"},
        {"json_path": "a", "equals": "v"},
        {"json": "a", "json_path": "b", "equals": "v"},
        {"json": "", "json_path": "b"},
        {"equals": "v"},
    ],
)
def test_a_field_is_read_by_its_alias_or_its_name_as_pydantic_reads_it(data):
    theirs = outcome_of(pydantic_expect().model_validate, data)
    ours = outcome_of(Expect.model_validate, data)
    assert ours[0] == theirs[0]
    if ours[0] == "refused":
        assert ours[1] == theirs[1]
    else:
        assert ours[1][1].model_dump() == theirs[1][1].model_dump()
