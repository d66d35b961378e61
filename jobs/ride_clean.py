"""ride_clean: rides from Kafka -> checked against the declared schema -> a clean topic (+ zones).

    ./spark-submit.sh jobs/ride_clean.py --trigger real-time    # each ride as it arrives
    ./spark-submit.sh jobs/ride_clean.py --help                 # every setting, with its value now

The job is ``ridestream.jobs.ride_clean``; this file hands it to the one runner.
"""

from ridestream import runner
from ridestream.jobs.ride_clean import JOB

if __name__ == "__main__":
    runner.main(JOB)
