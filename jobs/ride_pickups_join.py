"""ride_pickups_join: rides x pickup locations from Kafka, a stream-stream join -> VendorInfo.

    ./spark-submit.sh jobs/ride_pickups_join.py                    # the embedded demo, until Ctrl-C
    ./spark-submit.sh jobs/ride_pickups_join.py --how left_outer   # also rides no pickup met
    ./spark-submit.sh jobs/ride_pickups_join.py --help             # every setting, with its value

The job is ``ridestream.jobs.ride_pickups_join``; this file hands it to the one runner.
"""

from ridestream import runner
from ridestream.jobs.ride_pickups_join import JOB

if __name__ == "__main__":
    runner.main(JOB)
