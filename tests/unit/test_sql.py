"""The SQL wrappers stream_sql reads (no Spark), and the sql/ files all parse."""

from __future__ import annotations

import pytest

from ridestream.paths import PROJECT_ROOT
from ridestream.sql import (
    CreateStream,
    CreateTable,
    Select,
    SqlError,
    parse_sql,
    split_statements,
)

COURSE_STATEMENT_1 = (
    "CREATE STREAM ride_streams (VendorId varchar, trip_distance double, payment_type varchar) "
    "WITH (KAFKA_TOPIC='rides', VALUE_FORMAT='JSON');"
)


def test_statements_split_at_semicolons_outside_quotes_and_comments():
    text = "-- a comment; not a statement\nSELECT ';' AS x FROM rides;\n\n  SELECT 2 -- end; here\n"
    statements = split_statements(text, "f.sql")
    assert [s.text for s in statements] == ["SELECT ';' AS x FROM rides", "SELECT 2"]
    assert [s.line for s in statements] == [2, 4]


def test_the_course_create_stream_parses_as_written():
    (stream,) = parse_sql(COURSE_STATEMENT_1)
    assert isinstance(stream, CreateStream)
    assert (stream.name, stream.topic, stream.value_format) == ("ride_streams", "rides", "json")
    # ksqlDB's varchar is Spark's string.
    assert stream.columns == "VendorId string, trip_distance double, payment_type string"


def test_emit_changes_is_dropped_and_the_select_kept_as_written():
    (select,) = parse_sql(
        "select VENDORID, count(*) FROM RIDE_STREAMS GROUP BY VENDORID EMIT CHANGES;"
    )
    assert isinstance(select, Select)
    assert select.query == "select VENDORID, count(*) FROM RIDE_STREAMS GROUP BY VENDORID"


def test_create_table_goes_to_delta_unless_it_names_a_topic():
    delta, kafka = parse_sql(
        "CREATE TABLE a AS SELECT 1 FROM rides; "
        "CREATE TABLE b WITH (KAFKA_TOPIC='b_out') AS SELECT 2 FROM rides EMIT CHANGES"
    )
    assert isinstance(delta, CreateTable) and (delta.name, delta.topic) == ("a", None)
    assert isinstance(kafka, CreateTable) and (kafka.name, kafka.topic) == ("b", "b_out")
    assert kafka.query == "SELECT 2 FROM rides"


def test_session_windows_are_recognised_in_the_select():
    (table,) = parse_sql(
        "CREATE TABLE s AS SELECT p, count(*) FROM rides "
        "GROUP BY p, SESSION_WINDOW(event_time, '1 minute')"
    )
    assert table.sessions


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE rides", "stream_sql runs SELECT, CREATE TABLE name AS SELECT"),
        (
            "SELECT p, count(*) FROM rides WINDOW SESSION (60 SECONDS) GROUP BY p",
            "WINDOW SESSION is not Spark SQL: group by window(event_time",
        ),
        ("CREATE STREAM s (a int)", "needs WITH (KAFKA_TOPIC='topic', VALUE_FORMAT='JSON')"),
        ("CREATE STREAM s (a int) WITH (VALUE_FORMAT='JSON')", "needs KAFKA_TOPIC='topic'"),
        (
            "CREATE STREAM s (a int) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='AVRO')",
            "VALUE_FORMAT 'AVRO': stream_sql reads JSON or CSV",
        ),
        ("CREATE STREAM s WITH (KAFKA_TOPIC='t')", "declare its columns"),
        (
            "CREATE TABLE t WITH (PARTITIONS='3') AS SELECT 1",
            "unknown property PARTITIONS (known: KAFKA_TOPIC)",
        ),
        ("SELECT 'open", "quote is never closed"),
        ("-- only a comment", "no statement in it"),
    ],
)
def test_statements_it_cannot_run_are_refused_in_one_line(sql, message):
    with pytest.raises(SqlError, match=None) as raised:
        parse_sql(sql)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_refused_statement_says_its_file_and_line():
    with pytest.raises(SqlError, match=r"^x\.sql line 3: stream_sql runs"):
        parse_sql("SELECT 1;\n\nDELETE FROM rides;", "x.sql")


def test_every_file_in_sql_parses_and_says_what_it_answers():
    files = sorted((PROJECT_ROOT / "sql").glob("*.sql"))
    assert len(files) == 8
    for path in files:
        text = path.read_text()
        assert "What it answers:" in text, path.name
        assert parse_sql(text, path.name), path.name


def test_the_local_profile_registers_pickup_locations_and_reads_only_what_a_query_names():
    from ridestream import runner
    from ridestream.jobs.stream_sql import JOB

    query = "SELECT PULocationID, count(*) AS n FROM pickup_locations GROUP BY PULocationID"
    settings = runner.settings_for(JOB, ["--query", query])
    stream = JOB._streams(settings)["pickup_locations"]
    assert (stream.topic, stream.value_format, stream.schema) == (
        "pickup_locations", "json", "pickup_location",
    )  # fmt: skip
    assert JOB.input_topics(settings) == ["pickup_locations"]
    assert JOB.input_topics(runner.settings_for(JOB, ["--query", "SELECT * FROM rides"])) == [
        "rides"
    ]
