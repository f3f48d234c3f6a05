"""Settings for the PunchOut benchmark: the production settings plus one trivial view to compare with."""

from config.settings import *  # noqa: F403 -- the benchmark runs the production settings unchanged.

ROOT_URLCONF = "bench.punchout_urls"
