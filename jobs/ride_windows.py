"""ride_windows: rides from Kafka -> event-time windows per pickup zone -> console, Kafka or Delta.

    ./spark-submit.sh jobs/ride_windows.py            # the embedded demo, until Ctrl-C
    ./spark-submit.sh jobs/ride_windows.py --help     # every setting, with its value now

The job is ``ridestream.jobs.ride_windows``; this file hands it to the one runner.
"""

from ridestream import runner
from ridestream.jobs.ride_windows import JOB

if __name__ == "__main__":
    runner.main(JOB)
