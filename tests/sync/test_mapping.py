"""Mapping: column fast path, templates compiled once and typed, nested mappings, the sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.sync.mapping import Constant, Literal, RowMapping, invalid_text_field

ROW = {
    "email": "Ada@Example.com",
    "amount": Decimal("12.50"),
    "id": "00042",
    "first": "Ada",
    "last": "L",
    "items": 3,
    "_id": 7,
}


def bound(mapping: dict, columns: list[str] | None = None) -> RowMapping:  # type: ignore[type-arg]
    m = RowMapping(mapping)
    m.bind(columns or list(ROW))
    return m


def test_columns_templates_nesting_and_constants() -> None:
    m = bound(
        {
            "email": "email",
            "lower": "{{ row.email | lower }}",
            "amount": "{{ row.amount }}",
            "cents": "{{ (row.amount * 100) | int }}",
            "name": "{{ row.first }} {{ row.last }}",
            "id": "{{ row.id }}",
            "items": "{{ row['items'] }}",
            "private": "{{ row['_id'] }}",
            "nested": {"a": "id", "b": {"c": "{{ row.first }}"}, "list": ["email", 5]},
            "const_int": 5,
            "const_none": None,
            "const_str": Literal("signup"),
            "const_tpl": "{{ 'signup' }}",
            "const_dict": Constant({"x": "email"}),
        }
    )
    assert m.render(ROW) == {
        "email": "Ada@Example.com",
        "lower": "ada@example.com",
        "amount": Decimal("12.50"),  # a single expression keeps its type
        "cents": 1250,
        "name": "Ada L",
        "id": "00042",  # a string that looks like a number stays a string
        "items": 3,  # a column named like a dict method is still the column
        "private": 7,
        "nested": {"a": "00042", "b": {"c": "Ada"}, "list": ["Ada@Example.com", 5]},
        "const_int": 5,
        "const_none": None,
        "const_str": "signup",
        "const_tpl": "signup",
        "const_dict": {"x": "email"},
    }


def test_identity_mapping_returns_the_row() -> None:
    m = RowMapping(None)
    m.bind(list(ROW))
    assert m.render(ROW) == ROW


def test_maps_top_level_names_only_top_level_fields() -> None:
    m = RowMapping({"to": "email", "data": {"first": "first"}})
    assert m.maps_top_level("to")
    assert m.maps_top_level("data")
    assert not m.maps_top_level("first")  # nested, not top level
    assert not RowMapping(None).maps_top_level("email")  # the identity maps columns, not fields


def test_flat_mapping_renders_columns_and_constants_in_field_order() -> None:
    m = bound({"to": "email", "kind": Literal("signup"), "n": Constant(3), "id": "id"})
    record = m.render(ROW, 1)
    assert list(record.items()) == [("to", "Ada@Example.com"), ("kind", "signup"), ("n", 3), ("id", "00042")]
    with pytest.raises(ConfigurationError, match="'id' is missing from a row"):
        m.render({"email": "x"}, 2)  # a row without a mapped column still names it


def test_unknown_column_fails_listing_the_columns() -> None:
    with pytest.raises(ConfigurationError) as err:
        bound({"identifyId": "emial"}, ["email", "id"])
    assert "'emial'" in str(err.value)
    assert "['email', 'id']" in str(err.value)
    with pytest.raises(ConfigurationError, match="names column 'nope'"):
        bound({"a": {"b": "{{ row.nope | upper }}"}}, ["email"])


def test_bare_name_in_template_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown name\(s\) \['email'\]"):
        RowMapping({"f": "{{ email }}"})
    with pytest.raises(ConfigurationError, match="does not compile"):
        RowMapping({"f": "{{ row.email "})


def test_template_globals_are_available() -> None:
    m = RowMapping(
        {"f": "{{ row.first }}-{{ ds }}-{{ params.x }}"},
        template_globals={"ds": "2024-01-01", "params": {"x": 1}},
    )
    m.bind(list(ROW))
    assert m.render(ROW) == {"f": "Ada-2024-01-01-1"}


def test_data_error_rejects_the_row_naming_the_field() -> None:
    m = bound({"ratio": "{{ row.items / row.zero }}"}, ["items", "zero"])
    with pytest.raises(InvalidRecordError) as err:
        m.render({"items": 1, "zero": 0}, row_number=7)
    assert err.value.field == "ratio"
    assert err.value.row_number == 7
    assert "ZeroDivisionError" in err.value.reason


@pytest.mark.parametrize(
    "template",
    [
        "{{ row.email.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'].system('touch /tmp/pwned') }}",
        "{{ row.email.__class__ }}",
    ],
)
def test_sandbox_refuses_python_internals(template: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        bound({"identifyId": "email", "evil": template}).render(ROW, row_number=1)
    assert "'evil'" in str(err.value)
    assert "sandbox" in str(err.value)


def test_sandbox_refuses_mutation_and_files() -> None:
    with pytest.raises(ConfigurationError, match="sandbox"):
        bound({"x": "{{ [row.first].append(1) }}"}).render(ROW)
    with pytest.raises(ConfigurationError, match="cannot include"):
        RowMapping({"x": "{% include '/etc/passwd' %}{{ row.email }}"})
    with pytest.raises(ConfigurationError, match="cannot include"):
        RowMapping({"x": "{% import 'os' as os %}"})


def test_constant_template_with_sandbox_violation_fails_at_compile() -> None:
    with pytest.raises(ConfigurationError, match="'x'"):
        RowMapping({"x": "{{ ().__class__ }}"})


def test_invalid_text_field_names_the_first_field_with_undecodable_bytes() -> None:
    bad = b"Zo\xeb".decode("utf-8", "surrogateescape")
    assert invalid_text_field({"a": 1, "b": "plain", "c": None, "d": "Zoë 日本"}) is None
    assert invalid_text_field({"a": 1, "b": "Zoë", "c": bad, "d": bad}) == "c"
    assert invalid_text_field({"a": "x", "nested": {"ok": "é", "deep": {"v": bad}}}) == "nested.deep.v"
    assert invalid_text_field({"lit": Literal(bad)}) == "lit"  # a str subclass is text too
    assert invalid_text_field({"list": [bad], "n": 2.5}) is None  # lists were never looked into


@pytest.mark.parametrize(
    "spec",
    [
        None,
        {},
        {"only": "b"},
        {"x": "c", "y": "a", "again": "a"},
        {"first": Literal("k"), "a": "a", "n": 7, "c": "c", "none": None, "obj": Constant({"d": 1})},
        {"const": Constant([1, 2])},
        {"it's": "a", 'say "}"': "b", "back\\slash\n": "c", "Zoë \udcff": Literal("x"), "__import__": "a"},
    ],
)
def test_rows_given_as_values_render_like_rows_given_as_dicts(spec) -> None:  # type: ignore[no-untyped-def]
    columns = ["a", "b", "c"]
    mapping = RowMapping(spec)
    mapping.bind(columns)
    assert mapping.renders_values
    render = mapping.values_renderer(columns)
    for values in [(1, "two", None), ("é", Decimal("1.5"), [3])]:
        by_dict = mapping.render(dict(zip(columns, values, strict=True)), 1)
        by_values = render(values, 1)
        assert by_values == by_dict
        assert list(by_values) == list(by_dict)  # the same field order


def test_only_flat_mappings_render_values() -> None:
    mapping = RowMapping({"a": "a", "t": "{{ row.b }}"})
    assert not mapping.renders_values
    with pytest.raises(ConfigurationError, match="plain columns"):
        mapping.values_renderer(["a", "b"])
    assert not RowMapping({"nested": {"a": "a"}}).renders_values


def test_rows_given_as_values_keep_odd_column_names() -> None:
    columns = ["it's", 'a "quoted" }', "new\nline", "__builtins__"]
    mapping = RowMapping(None)
    mapping.bind(columns)
    values = (1, 2, 3, 4)
    assert mapping.values_renderer(columns)(values, 1) == dict(zip(columns, values, strict=True))
