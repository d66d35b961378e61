"""SQL over streams: the few ksqlDB-style statements stream_sql reads, around Spark SQL.

Only the wrappers are parsed here; every SELECT goes to Spark SQL as written::

    SELECT ... [EMIT CHANGES]
        results as they change, to the console (update mode when the query aggregates)
    CREATE TABLE name [WITH (KAFKA_TOPIC='topic')] AS SELECT ... [EMIT CHANGES]
        a continuously maintained result: a Delta table (default) or a Kafka topic, keyed by
        the query's GROUP BY columns (a window as window_start, window_end)
    CREATE STREAM name (column type, ...) WITH (KAFKA_TOPIC='topic', VALUE_FORMAT='JSON'
                                                [, TIMESTAMP='column'])
    CREATE STREAM name WITH (KAFKA_TOPIC='topic', VALUE_FORMAT='JSON', SCHEMA='ride')
        another topic as a view: its declared columns, or a schema of schemas/

Statements end with ``;``; ``--`` starts a comment. Errors that Spark raises for a statement
(a syntax error, an unknown column, a query a stream cannot run) become one line that says where
and what to do (:func:`explain_spark_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ridestream.errors import UserError

# ksqlDB's column types that Spark's DDL does not know, or spells otherwise.
_KSQL_TYPES = {"varchar": "string", "bytes": "binary"}
STREAM_FORMATS = ("json", "csv")
_PROPERTY = re.compile(r"\s*(\w+)\s*=\s*'((?:[^']|'')*)'\s*(?:,|$)")
_EMIT_CHANGES = re.compile(r"\s+EMIT\s+CHANGES\s*$", re.IGNORECASE)
_KSQL_WINDOW = re.compile(r"\bWINDOW\s+(TUMBLING|HOPPING|SESSION)\b", re.IGNORECASE)
_CREATE_AS = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(TABLE|STREAM)\s+(\w+)\s*(?:WITH\s*\((.*?)\)\s*)?AS\s+(.*)\Z",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_STREAM = re.compile(r"CREATE\s+STREAM\s+(\w+)\s*(.*)\Z", re.IGNORECASE | re.DOTALL)
_SESSION_WINDOW = re.compile(r"\bsession_window\s*\(", re.IGNORECASE)


class SqlError(UserError):
    """A statement stream_sql cannot run; the message says where, and what to do."""


@dataclass(frozen=True)
class Statement:
    """One statement, and where it was written (for messages)."""

    text: str
    source: str  # a file's name, or "query"
    line: int  # the line of the source it starts on (1-based)

    def where(self) -> str:
        """Return e.g. 'sql/x.sql line 3' or 'query line 1'."""
        return f"{self.source} line {self.line}"


@dataclass(frozen=True)
class Select:
    """``SELECT ...``: results as they change, to the console."""

    statement: Statement
    query: str

    @property
    def sessions(self) -> bool:
        """Return True when the query groups by session windows."""
        return bool(_SESSION_WINDOW.search(self.query))


@dataclass(frozen=True)
class CreateTable:
    """``CREATE TABLE name AS SELECT ...``: a maintained result in a Delta table or a topic."""

    statement: Statement
    name: str
    query: str
    topic: str | None = None  # WITH (KAFKA_TOPIC='t'): to Kafka instead of Delta

    @property
    def sessions(self) -> bool:
        """Return True when the query groups by session windows."""
        return bool(_SESSION_WINDOW.search(self.query))


@dataclass(frozen=True)
class CreateStream:
    """``CREATE STREAM name (...) WITH (...)``: a topic registered as a view."""

    statement: Statement
    name: str
    topic: str
    value_format: str = "json"
    columns: str | None = None  # Spark DDL of the declared columns
    schema: str | None = None  # or the name of a schema in schemas/
    timestamp: str | None = None  # the column that carries event time


Parsed = Select | CreateTable | CreateStream


def _blank_comments(text: str) -> str:
    """Return ``text`` with ``--`` comments blanked (quotes respected, lines kept)."""
    out, quote, index = [], None, 0
    while index < len(text):
        char = text[index]
        if quote:
            out.append(char)
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
            out.append(char)
        elif text.startswith("--", index):
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
            out.append(" " * (end - index))
            index = end
            continue
        else:
            out.append(char)
        index += 1
    return "".join(out)


def split_statements(text: str, source: str = "query") -> list[Statement]:
    """Split SQL text into statements at ``;`` outside quotes, comments removed."""
    text = _blank_comments(text)
    statements, quote, start = [], None, 0
    for index, char in enumerate([*text, ";"]):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == ";":
            chunk = text[start:index]
            if chunk.strip():
                leading = len(chunk) - len(chunk.lstrip())
                line = text.count("\n", 0, start + leading) + 1
                statements.append(Statement(chunk.strip(), source, line))
            start = index + 1
    if quote:
        raise SqlError(f"{source}: a {quote} quote is never closed")
    return statements


def _properties(text: str, statement: Statement) -> dict[str, str]:
    """Parse ``KEY='value', ...`` (ksqlDB's WITH properties) into upper-case keys."""
    found: dict[str, str] = {}
    rest = text.strip()
    while rest:
        match = _PROPERTY.match(rest)
        if not match:
            raise SqlError(
                f"{statement.where()}: cannot read WITH ({text.strip()}): write "
                "WITH (KAFKA_TOPIC='topic', VALUE_FORMAT='JSON')"
            )
        found[match.group(1).upper()] = match.group(2).replace("''", "'")
        rest = rest[match.end() :]
    return found


def _closing_paren(text: str, start: int) -> int:
    """Return the index of the parenthesis closing the one at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    return -1


def _columns_ddl(columns: str) -> str:
    """Return ksqlDB column declarations as Spark DDL (VARCHAR -> string)."""
    return re.sub(
        r"\b(varchar|bytes)\b(?!\s*\()",
        lambda match: _KSQL_TYPES[match.group(1).lower()],
        columns.strip(),
        flags=re.IGNORECASE,
    )


def _unknown(properties: Mapping[str, str], known: Iterable[str], statement: Statement) -> None:
    extra = sorted(set(properties) - set(known))
    if extra:
        raise SqlError(
            f"{statement.where()}: unknown property {extra[0]} (known: {', '.join(known)})"
        )


def _query(text: str, statement: Statement) -> str:
    """Return the SELECT of a statement, ksqlDB's EMIT CHANGES removed; refuse ksqlDB windows."""
    query = _EMIT_CHANGES.sub("", text).strip()
    window = _KSQL_WINDOW.search(query)
    if window:
        raise SqlError(
            f"{statement.where()}: ksqlDB's WINDOW {window.group(1).upper()} is not Spark SQL: "
            "group by window(event_time, '5 minutes') (tumbling), window(event_time, "
            "'10 minutes', '5 minutes') (hopping) or session_window(event_time, '60 seconds')"
        )
    return query


def parse_statement(statement: Statement) -> Parsed:
    """Return what a statement asks for; only the wrappers are read, the SELECT is Spark's."""
    text = statement.text
    head = text.split(None, 1)[0].upper()
    if head in ("SELECT", "WITH", "FROM"):
        return Select(statement, _query(text, statement))
    created = _CREATE_AS.match(text)
    if created:
        kind, name, with_text, query = created.groups()
        properties = _properties(with_text or "", statement)
        _unknown(properties, ("KAFKA_TOPIC",), statement)
        return CreateTable(
            statement, name, _query(query, statement), properties.get("KAFKA_TOPIC") or None
        )
    stream = _CREATE_STREAM.match(text)
    if stream:
        return _create_stream(statement, stream.group(1), stream.group(2))
    raise SqlError(
        f"{statement.where()}: stream_sql runs SELECT, CREATE TABLE name AS SELECT and "
        f"CREATE STREAM name (...) WITH (...); not {' '.join(text.split()[:3])} ..."
    )


def _create_stream(statement: Statement, name: str, rest: str) -> CreateStream:
    columns = None
    rest = rest.strip()
    if rest.startswith("("):
        end = _closing_paren(rest, 0)
        if end < 0:
            raise SqlError(f"{statement.where()}: the column list of {name} is never closed")
        columns, rest = _columns_ddl(rest[1:end]), rest[end + 1 :].strip()
    with_clause = re.fullmatch(r"WITH\s*\((.*)\)", rest, re.IGNORECASE | re.DOTALL)
    if not with_clause:
        raise SqlError(
            f"{statement.where()}: CREATE STREAM {name} needs WITH (KAFKA_TOPIC='topic', "
            "VALUE_FORMAT='JSON')"
        )
    properties = _properties(with_clause.group(1), statement)
    _unknown(properties, ("KAFKA_TOPIC", "VALUE_FORMAT", "SCHEMA", "TIMESTAMP"), statement)
    if "KAFKA_TOPIC" not in properties:
        raise SqlError(f"{statement.where()}: CREATE STREAM {name} needs KAFKA_TOPIC='topic'")
    value_format = properties.get("VALUE_FORMAT", "JSON").lower()
    if value_format not in STREAM_FORMATS:
        raise SqlError(
            f"{statement.where()}: VALUE_FORMAT {properties['VALUE_FORMAT']!r}: stream_sql "
            f"reads {' or '.join(f.upper() for f in STREAM_FORMATS)}"
        )
    if (columns is None) == ("SCHEMA" not in properties):
        raise SqlError(
            f"{statement.where()}: CREATE STREAM {name}: declare its columns, "
            "(name type, ...), or name a schema of schemas/ with SCHEMA='ride', not both"
        )
    return CreateStream(
        statement,
        name,
        properties["KAFKA_TOPIC"],
        value_format,
        columns=columns,
        schema=properties.get("SCHEMA"),
        timestamp=properties.get("TIMESTAMP"),
    )


def parse_sql(text: str, source: str = "query") -> list[Parsed]:
    """Parse SQL text (one or more statements) into what each asks for."""
    statements = [parse_statement(s) for s in split_statements(text, source)]
    if not statements:
        raise SqlError(f"{source}: no statement in it")
    return statements


def read_sql_file(path: Path | str) -> str:
    """Return a .sql file's text, or say which file is missing."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SqlError(f"no SQL file {path}") from None
    except OSError as error:
        raise SqlError(f"cannot read {path}: {error.strerror}") from None


# --- Spark's errors on a statement, as one line ---------------------------------------------

_POSITION = re.compile(r"\(?line (\d+),? pos (\d+)\)?")
_STREAMING_HINTS = (
    (
        "Sorting is not supported",
        "drop ORDER BY: a stream has no end to sort by; sort when you read a CREATE TABLE's "
        "result (./rides show)",
    ),
    (
        "session window streaming aggregations",
        "sessions are written once, when closed: use --output-mode append (or auto)",
    ),
    (
        "aggregations without watermark",
        "group by a window on the event time, window(event_time, '5 minutes'), so append mode "
        "can emit each window once the watermark passes it, or use --output-mode update",
    ),
    (
        "Limits are not supported",
        "drop LIMIT: the console already shows the first rows of each batch",
    ),
    (
        "LIMIT",
        "drop LIMIT: the console already shows the first rows of each batch",
    ),
    (
        "Multiple streaming aggregations",
        "aggregate once per query, or chain windowed aggregations in append mode",
    ),
    (
        "DISTINCT",
        "drop DISTINCT, or use approx_count_distinct() / a GROUP BY",
    ),
)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def _position(message: str, statement: Statement, query: str) -> str:
    """Return where Spark's '(line l, pos p)' in ``query`` is in the file: 'x.sql line 3, column 8'.

    ``query`` is the SELECT Spark was given: part of the statement (after CREATE TABLE ... AS).
    """
    match = _POSITION.search(message)
    if not match:
        return statement.where()
    offset = max(statement.text.find(query), 0)
    before = statement.text[:offset]
    line, column = int(match.group(1)), int(match.group(2)) + 1
    if line == 1:
        column += len(before) - (before.rfind("\n") + 1)
    line += statement.line - 1 + before.count("\n")
    return f"{statement.source} line {line}, column {column}"


def _reason(message: str) -> str:
    """Return the first line of Spark's message without its error class, state and position."""
    first = re.sub(r"^\[[A-Z_.]+\]\s*", "", _first_line(message))
    first = re.sub(r"\s*SQLSTATE: \w+\.?", "", first)
    first = _POSITION.sub("", first).strip().rstrip(";.").strip()
    return first[:1].lower() + first[1:]


def explain_spark_error(
    error: Exception, statement: Statement, query: str, views: Mapping[str, list[str]]
) -> SqlError | None:
    """Return one line for Spark's error on ``query`` (of ``statement``); None if not the user's.

    ``views`` names the columns of each view the statement could read, for an unknown column.
    """
    message = str(error)
    condition = str(getattr(error, "getCondition", lambda: None)() or "")
    where = _position(message, statement, query)
    reason = _reason(message)
    if "PARSE_SYNTAX_ERROR" in condition + message:
        return SqlError(f"{where}: {reason}")
    if "UNRESOLVED_COLUMN" in condition + message:
        name = re.search(r"with name (`[^`]*`(?:\.`[^`]*`)*)", message)
        read = [
            f"{view} has {', '.join(columns)}"
            for view, columns in views.items()
            if re.search(rf"\b{re.escape(view)}\b", query, re.IGNORECASE)
        ] or [f"{view} has {', '.join(columns)}" for view, columns in views.items()]
        return SqlError(
            f"{where}: unknown column {name.group(1) if name else ''}; " + "; ".join(read)
        )
    if "TABLE_OR_VIEW_NOT_FOUND" in condition + message:
        name = re.search(r"The table or view (`[^`]*`(?:\.`[^`]*`)*)", message)
        return SqlError(
            f"{where}: no stream or table {name.group(1) if name else ''}: there are "
            f"{', '.join(views)} (CREATE STREAM adds one)"
        )
    for marker, hint in _STREAMING_HINTS:
        if marker in message:
            return SqlError(
                f"{statement.where()}: a stream cannot run this query: {reason}. To change: {hint}"
            )
    if condition:
        return SqlError(f"{where}: {reason}")
    return None
