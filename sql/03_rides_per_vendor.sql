-- Course statement 3: how many rides each vendor has had so far.
-- What it answers: the running count per VendorID; each batch prints the vendors whose count
-- changed (update mode). The count never resets: it is over the whole stream.
SELECT VENDORID, count(*) AS rides FROM RIDE_STREAMS GROUP BY VENDORID EMIT CHANGES;
