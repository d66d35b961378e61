-- Homework 3: total tips per 1-hour tumbling window.
-- What it answers: how much was tipped in each hour, over all zones, updated as rides arrive.
CREATE TABLE tips_per_hour AS
SELECT window(event_time, '1 hour') AS window,
       round(sum(tip_amount), 2) AS tip_amount,
       count(*) AS ride_count
FROM rides
GROUP BY window(event_time, '1 hour');
