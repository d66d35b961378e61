"""stream_sql: SQL over the rides stream, results as they change (docs/sql.md).

    ./spark-submit.sh jobs/stream_sql.py --file sql/03_rides_per_vendor.sql
    ./spark-submit.sh jobs/stream_sql.py --query "SELECT VendorID, count(*) FROM rides GROUP BY VendorID"
    ./spark-submit.sh jobs/stream_sql.py --help     # every setting, with its value now

The job is ``ridestream.jobs.stream_sql``; this file hands it to the one runner.
"""

from ridestream import runner
from ridestream.jobs.stream_sql import JOB

if __name__ == "__main__":
    runner.main(JOB)
