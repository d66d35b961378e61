-- Course statement 2: every ride of ride_streams, as it arrives.
-- What it answers: what is on the topic right now (each new ride is printed once: append mode).
SELECT * FROM RIDE_STREAMS EMIT CHANGES;
