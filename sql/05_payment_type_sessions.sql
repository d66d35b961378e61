-- Course statement 5: sessions of rides per payment type; a session ends after 60 seconds
-- without a ride of that payment type.
-- What it answers: for each payment type, each burst of activity: when it started and ended
-- and how many rides it held. ksqlDB's WINDOW SESSION (60 SECONDS) is Spark SQL's
-- session_window in the GROUP BY. The result is a maintained Delta table, payment_type_sessions
-- (./rides show .ridestream/delta/sql/payment_type_sessions); a session is written once it has
-- closed (the watermark passed its end), because its bounds move while it grows.
CREATE TABLE payment_type_sessions AS
SELECT payment_type,
       session_window(event_time, '60 seconds') AS session,
       count(*) AS rides
FROM RIDE_STREAMS
GROUP BY payment_type, session_window(event_time, '60 seconds')
EMIT CHANGES;
