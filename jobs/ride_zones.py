"""ride_zones: rides from Kafka + the TLC zone lookup -> event-time windows per borough or zone.

    ./spark-submit.sh jobs/ride_zones.py                       # the embedded demo, until Ctrl-C
    ./spark-submit.sh jobs/ride_zones.py --group-by zone       # per zone name
    ./spark-submit.sh jobs/ride_zones.py --help                # every setting, with its value now

The job is ``ridestream.jobs.ride_zones``; this file hands it to the one runner.
"""

from ridestream import runner
from ridestream.jobs.ride_zones import JOB

if __name__ == "__main__":
    runner.main(JOB)
