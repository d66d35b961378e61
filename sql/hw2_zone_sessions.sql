-- Homework 2: the longest session per pickup zone, a session ending after 5 minutes without a
-- pickup in that zone.
-- What it answers: every zone's sessions (start, end, rides), each written once it has closed.
-- A stream cannot keep "the longest so far" after a session aggregation (Spark allows no second
-- aggregation over sessions), so the longest per zone is read from the table:
--   SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY PULocationID
--                  ORDER BY window_end - window_start DESC) AS n
--                  FROM delta.`.ridestream/delta/sql/zone_sessions`) WHERE n = 1
CREATE TABLE zone_sessions AS
SELECT PULocationID,
       session_window(event_time, '5 minutes') AS session,
       count(*) AS ride_count
FROM rides
GROUP BY PULocationID, session_window(event_time, '5 minutes');
