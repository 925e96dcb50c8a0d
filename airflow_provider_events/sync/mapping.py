"""How a source row becomes a vendor record: a ``mapping`` of vendor field -> column name or Jinja2 template.

Rules, checked once when the mapping is compiled and bound to the source's columns:

- a plain string (no ``{{``/``{%``) is a **column name**: the row's value is copied as is, with no template
  rendering (the fast path). A name that is not a column fails the run at once, listing the columns;
- a string with ``{{ ... }}`` or ``{% ... %}`` is a **template**, compiled once and rendered per row against
  ``row`` (``{{ row.email | lower }}``, ``{{ row["first name"] }}``, ``{{ row.amount * 100 }}``). A template
  that is a single expression keeps its Python type (``{{ row.amount }}`` stays a ``Decimal``/``int``);
  text around or between expressions makes a string. Every ``row.<column>`` the template names must exist;
- a ``dict`` is a nested mapping (rendered to a nested dict); a ``list`` is rendered element by element;
- any other value (``int``, ``bool``, ``None``, :class:`Literal`, :class:`Constant`) is a constant. A constant
  *string* is written ``Literal("signup")`` or as a template ``"{{ 'signup' }}"``;
- ``mapping=None`` is the identity: the row itself, column names as field names.

Templates run in Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` without a loader: they cannot
reach attributes starting with ``_`` (so no ``__class__``/``__globals__`` walk to Python internals), cannot
call mutating methods, cannot include or import files. A sandbox violation is a
:class:`~airflow_provider_events.exceptions.ConfigurationError` naming the field, raised before anything is
sent. A template that fails on one row's data (a filter on a bad value, a division by zero) rejects that row
with an :class:`~airflow_provider_events.exceptions.InvalidRecordError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment

from airflow_provider_events.exceptions import ConfigurationError, InvalidRecordError
from airflow_provider_events.utils.templating import is_template

ROW_VARIABLE = "row"


class Literal(str):
    """A constant string in a mapping (a plain string would be read as a column name)."""

    __slots__ = ()


@dataclass(frozen=True)
class Constant:
    """A constant of any type in a mapping, taken as is (a ``dict`` here is not a nested mapping)."""

    value: Any


def _typed_concat(values: Iterator[Any]) -> Any:
    """Join a template's output nodes: a single node keeps its type, several make a string.

    Unlike :func:`jinja2.nativetypes.native_concat` nothing is ``literal_eval``-ed, so a string column
    holding ``"00123"`` or ``"42"`` stays a string.
    """
    head = list(islice(values, 2))
    if not head:
        return ""
    if len(head) == 1:
        return head[0]
    return "".join(str(v) for v in chain(head, values))


class _SandboxedTypedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, emitting native values (see :func:`_typed_concat`) and failing on undefined names."""

    code_generator_class = NativeCodeGenerator


def _environment() -> _SandboxedTypedEnvironment:
    env = _SandboxedTypedEnvironment(undefined=StrictUndefined, autoescape=False)
    return env


class _RowView:
    """What a template sees as ``row``: columns by attribute or by item, and nothing else.

    A plain ``dict`` would shadow columns named ``items``, ``keys``, ``get``... with its methods.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __repr__(self) -> str:
        return f"<row with columns {sorted(self._data)}>"


@dataclass(frozen=True)
class _Column:
    name: str


@dataclass(frozen=True)
class _Constant:
    value: Any


@dataclass
class _Template:
    source_field: str
    template: Template
    columns: frozenset[str]


@dataclass(frozen=True)
class _Nested:
    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class _Sequence:
    items: tuple[Any, ...]


def _referenced_columns(ast: nodes.Template) -> frozenset[str]:
    """Columns a template names as ``row.x`` or ``row["x"]`` (dynamic lookups are checked per row)."""
    found: set[str] = set()
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == ROW_VARIABLE:
            found.add(node.attr)
    for item in ast.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == ROW_VARIABLE
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            found.add(item.arg.value)
    return frozenset(found)


class RowMapping:
    """A compiled mapping; :meth:`bind` it to the source's columns, then :meth:`render` each row.

    :param mapping: vendor field -> column name, template, nested mapping or constant; ``None`` = identity.
    :param template_globals: extra read-only names templates may use besides ``row`` (the operator passes
        ``params``, ``ds``, ``ts``, ``run_id``, ``dag_id``, ``task_id``, ``map_index``).
    :raises ConfigurationError: on a template that does not compile, names an unknown variable, or tries
        to reach what the sandbox forbids.
    """

    def __init__(self, mapping: Mapping[str, Any] | None, template_globals: Mapping[str, Any] | None = None):
        if mapping is not None and not isinstance(mapping, Mapping):
            raise ConfigurationError(
                f"mapping must be a dict of field -> column or template, not {type(mapping).__name__}"
            )
        self._env = _environment()
        self._globals = dict(template_globals or {})
        self._allowed_names = {ROW_VARIABLE, *self._globals}
        self._base_variables = {**self._env.globals, **self._globals}
        self._identity = mapping is None
        self._root = None if mapping is None else self._compile(mapping, "")
        self._bound_columns: tuple[str, ...] | None = None
        #: a mapping of top-level columns and constants only, as (field, column or None, constant)
        #: triples rendered without walking the tree (the common warehouse-table case); else ``None``.
        self._flat = _flat_fields(self._root)

    @property
    def is_identity(self) -> bool:
        return self._identity

    def maps_top_level(self, name: str) -> bool:
        """True when the mapping gives the top-level field ``name`` (never for the identity mapping)."""
        root = self._root
        return isinstance(root, _Nested) and any(key == name for key, _ in root.items)

    # ------------------------------------------------------------------ compile
    def _compile(self, spec: Any, path: str) -> Any:
        if isinstance(spec, Mapping):
            items = []
            for key, value in spec.items():
                if not isinstance(key, str):
                    raise ConfigurationError(
                        f"mapping keys must be strings, got {key!r} at {path or 'top level'}"
                    )
                items.append((key, self._compile(value, f"{path}.{key}" if path else key)))
            return _Nested(tuple(items))
        if isinstance(spec, (list, tuple)):
            return _Sequence(tuple(self._compile(v, f"{path}[{i}]") for i, v in enumerate(spec)))
        if isinstance(spec, Literal):
            return _Constant(str(spec))
        if isinstance(spec, Constant):
            return _Constant(spec.value)
        if isinstance(spec, str):
            if is_template(spec):
                return self._compile_template(spec, path)
            return _Column(spec)
        return _Constant(spec)

    def _compile_template(self, text: str, path: str) -> Any:
        try:
            ast = self._env.parse(text)
            template = self._env.from_string(ast)
        except TemplateSyntaxError as exc:
            raise ConfigurationError(
                f"mapping field {path!r}: template does not compile: {exc.message}"
            ) from None
        if any(True for _ in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
            raise ConfigurationError(
                f"mapping field {path!r}: templates cannot include, import or extend files"
            )
        internal = _internal_attribute(ast)
        if internal is not None:
            # Checked here, not only by the sandbox at render time: a violation behind a data-dependent branch
            # would otherwise surface on the first row that takes it, after earlier rows were sent.
            raise ConfigurationError(
                f"mapping field {path!r}: templates run in a sandbox and cannot reach {internal!r} "
                "(names starting with '_' are Python internals)"
            )
        names = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
        assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
        unknown = names - assigned - self._allowed_names - set(self._env.globals)
        if unknown:
            raise ConfigurationError(
                f"mapping field {path!r}: template uses unknown name(s) {sorted(unknown)}; "
                f"columns are reached as row.<column> (available names: {sorted(self._allowed_names)})"
            )
        columns = _referenced_columns(ast)
        compiled = _Template(path, template, columns)
        if ROW_VARIABLE not in names:
            # A template that does not depend on the row is a constant: render it once, now.
            try:
                return _Constant(self._render_template(compiled, None, None))
            except InvalidRecordError as exc:
                raise ConfigurationError(f"mapping field {path!r}: {exc.reason}") from None
        return compiled

    # ------------------------------------------------------------------ bind
    def bind(self, columns: Sequence[str]) -> None:
        """Check every column the mapping names against the source's columns.

        :raises ConfigurationError: for an unknown column, listing the available ones.
        """
        self._bound_columns = tuple(columns)
        if self._root is None:
            return
        available = set(columns)
        for path, name in self._column_refs(self._root, ""):
            if name not in available:
                raise ConfigurationError(
                    f"mapping field {path!r} names column {name!r}, which the source does not have; "
                    f"available columns: {sorted(available)} (a constant string is written "
                    f'Literal("...") or "{{{{ \'...\' }}}}")'
                )

    def _column_refs(self, node: Any, path: str) -> Iterable[tuple[str, str]]:
        if isinstance(node, _Column):
            yield path, node.name
        elif isinstance(node, _Template):
            for name in sorted(node.columns):
                yield path, name
        elif isinstance(node, _Nested):
            for key, child in node.items:
                yield from self._column_refs(child, f"{path}.{key}" if path else key)
        elif isinstance(node, _Sequence):
            for i, child in enumerate(node.items):
                yield from self._column_refs(child, f"{path}[{i}]")

    # ------------------------------------------------------------------ render
    def render(self, row: Mapping[str, Any], row_number: int | None = None) -> dict[str, Any]:
        """The vendor record of one row.

        :raises InvalidRecordError: when a template fails on this row's data (naming the field).
        :raises ConfigurationError: when a template breaks the sandbox.
        """
        if self._root is None:
            return dict(row)
        if self._flat is not None:
            try:
                return {
                    field: value if column is None else row[column] for field, column, value in self._flat
                }
            except KeyError:
                pass  # a row without a mapped column: the tree walk below raises the error naming it
        view = _RowView(row)
        result: dict[str, Any] = self._render_node(self._root, row, view, row_number)
        return result

    @property
    def renders_values(self) -> bool:
        """True when :meth:`values_renderer` can render rows given as values (identity, or flat fields)."""
        return self._identity or self._flat is not None

    def values_renderer(
        self, columns: Sequence[str]
    ) -> Callable[[Sequence[Any], int | None], dict[str, Any]]:
        """A function making the record of a row given as its values in ``columns`` order (no row dict),
        called as ``render(values, row_number)`` like :meth:`render`.

        The same records as :meth:`render` of the row's dict (fields, order, values), for a mapping that
        :attr:`renders_values` and is bound to ``columns``.
        """
        fields = self.value_fields(columns)
        constants = tuple(value for _field, index, value in fields if index is None)
        return _record_maker([(field, index) for field, index, _value in fields], constants)

    def value_fields(self, columns: Sequence[str]) -> list[tuple[str, int | None, Any]]:
        """The record's fields, in order, for rows given as values in ``columns`` order: ``(field, column
        index, None)`` for a column, ``(field, None, constant)`` for a constant.

        :raises ConfigurationError: when the mapping does not :attr:`renders_values`.
        """
        if self._identity:
            return [(name, index, None) for index, name in enumerate(columns)]
        if self._flat is None:
            raise ConfigurationError("only a mapping of plain columns and constants renders rows by position")
        position = {name: index for index, name in enumerate(columns)}
        return [
            (field, None, value) if column is None else (field, position[column], None)
            for field, column, value in self._flat
        ]

    def _render_node(self, node: Any, row: Mapping[str, Any], view: _RowView, row_number: int | None) -> Any:
        if isinstance(node, _Column):
            try:
                return row[node.name]
            except KeyError:
                raise ConfigurationError(
                    f"column {node.name!r} is missing from a row; available columns: {sorted(row)}"
                ) from None
        if isinstance(node, _Template):
            return self._render_template(node, view, row_number)
        if isinstance(node, _Nested):
            return {key: self._render_node(child, row, view, row_number) for key, child in node.items}
        if isinstance(node, _Sequence):
            return [self._render_node(child, row, view, row_number) for child in node.items]
        return node.value

    def _render_template(self, node: _Template, view: _RowView | None, row_number: int | None) -> Any:
        variables = dict(self._base_variables)
        variables[ROW_VARIABLE] = view
        try:
            # shared=True skips merging the environment's globals per call; they are in _base_variables.
            ctx = node.template.new_context(variables, shared=True)
            value = _typed_concat(node.template.root_render_func(ctx))
            if isinstance(value, Undefined):
                str(value)  # StrictUndefined raises the error it stands for (SecurityError, UndefinedError)
        except SecurityError as exc:
            raise ConfigurationError(
                f"mapping field {node.source_field!r}: template refused by the sandbox: {exc}"
            ) from None
        except Exception as exc:
            raise InvalidRecordError(
                node.source_field,
                f"template failed: {type(exc).__name__}: {_short(exc)}",
                row_number=row_number,
            ) from None
        return value


def _flat_fields(root: Any) -> tuple[tuple[str, str | None, Any], ...] | None:
    """``(field, column, None)`` / ``(field, None, constant)`` of a mapping of only those, else ``None``.

    The values are the tree walk's (:meth:`RowMapping._render_node`), in the same field order.
    """
    if not isinstance(root, _Nested):
        return None
    fields: list[tuple[str, str | None, Any]] = []
    for key, node in root.items:
        if isinstance(node, _Column):
            fields.append((key, node.name, None))
        elif isinstance(node, _Constant):
            fields.append((key, None, node.value))
        else:
            return None
    return tuple(fields)


def _record_maker(
    fields: Sequence[tuple[str, int | None]], constants: tuple[Any, ...]
) -> Callable[[Sequence[Any], int | None], dict[str, Any]]:
    """``lambda values, _row_number: {field: values[index], ..., field: constants[n], ...}``, in field order.

    Generated from its source text, as :mod:`dataclasses` and ``namedtuple`` generate their methods: a dict
    display is the cheapest record Python builds (~0.1 us for four fields, against ~0.5 us for
    ``dict(zip(fields, itemgetter(...)(values), strict=True))``), and it runs once per row. Only ``repr`` of
    the field names and integer indexes go into the text; nothing else is evaluated.
    """
    items: list[str] = []
    next_constant = 0
    for field, index in fields:
        if index is None:
            items.append(f"{field!r}: constants[{next_constant}]")
            next_constant += 1
        else:
            items.append(f"{field!r}: values[{int(index)}]")
    source = f"lambda values, _row_number: {{{', '.join(items)}}}"
    maker: Callable[[Sequence[Any], int | None], dict[str, Any]]
    maker = eval(source, {"__builtins__": {}, "constants": constants})  # noqa: S307 (see above)
    return maker


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


def invalid_text_field(record: Mapping[str, Any], prefix: str = "") -> str | None:
    """The first field (dotted path) whose text holds bytes that were not valid UTF-8 in the source.

    Such bytes reach the record as lone surrogates (see ``sync/source.py``); sending them would put garbage
    in the vendor, so the row is rejected instead. Runs on every record: a record of ASCII text and
    non-text values is passed over without building a path or asking ``isinstance`` of every value.
    """
    for value in record.values():
        if type(value) is str:
            if value.isascii():
                continue
        elif not isinstance(value, (str, Mapping)):
            continue
        return _first_invalid_text(record, prefix)  # non-ASCII text or a nested record: look closer
    return None


def _first_invalid_text(record: Mapping[str, Any], prefix: str) -> str | None:
    for name, value in record.items():
        path = f"{prefix}{name}"
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return path
        elif isinstance(value, Mapping):
            found = invalid_text_field(value, f"{path}.")
            if found:
                return found
    return None


def _internal_attribute(ast: nodes.Template) -> str | None:
    """The first ``_``-prefixed attribute a template reaches (``x._y``, ``x['_y']``, ``x|attr('_y')``).

    ``row['_col']`` is a column lookup and allowed; the sandbox still guards it at render time.
    """
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            is_column = isinstance(node.node, nodes.Name) and node.node.name == ROW_VARIABLE
            name = None if is_column else node.arg.value  # row['_id'] is a column, not an attribute
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            return name
    return None
