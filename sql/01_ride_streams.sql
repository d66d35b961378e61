-- Course statement 1: register the rides topic as a stream of three columns.
-- What it answers: nothing yet; it names a topic, its value format and columns, so the queries
-- of 02-05 can read it as the view ride_streams. ksqlDB's statement, with two changes:
--   * JSON field names are matched exactly: VendorID (the producers' name), not VendorId;
--   * event time is the pickup (TIMESTAMP=...), not the time Kafka received the record, so the
--     sessions of 05 follow the rides, however late they were produced.
-- The local profile registers it for every stream_sql run ([jobs.stream_sql] streams).
CREATE STREAM ride_streams (
    VendorID varchar,
    tpep_pickup_datetime timestamp,
    trip_distance double,
    payment_type varchar
) WITH (KAFKA_TOPIC='rides', VALUE_FORMAT='JSON', TIMESTAMP='tpep_pickup_datetime');
