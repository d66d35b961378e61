"""The streaming jobs: one module each, of pure builders and a :class:`ridestream.runner.Job`.

``jobs/<name>.py`` at the top of the project is the file users hand to spark-submit; it runs the
module's ``JOB`` on the one runner (:mod:`ridestream.runner`).
"""
