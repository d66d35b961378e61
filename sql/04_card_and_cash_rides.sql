-- Course statement 4: how many rides were paid by card (1) and by cash (2) so far.
-- What it answers: the running count per payment type, other payment types left out.
-- payment_type is a varchar in ride_streams (01), so the course's quoted values work as written.
SELECT payment_type, count(*) AS rides
FROM RIDE_STREAMS
WHERE payment_type IN ('1', '2')
GROUP BY payment_type
EMIT CHANGES;
