-- Homework 1: rides per pickup zone (PULocationID) in 5-minute tumbling windows.
-- What it answers: how busy each zone is, five minutes at a time. The table is keyed by window
-- and zone, and each window's count is updated (MERGE) as its rides arrive.
CREATE TABLE rides_per_zone_5min AS
SELECT window(event_time, '5 minutes') AS window,
       PULocationID,
       count(*) AS ride_count
FROM rides
GROUP BY window(event_time, '5 minutes'), PULocationID;
