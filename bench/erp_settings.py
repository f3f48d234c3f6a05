"""Settings for the ERP message benchmark: the production settings plus the baseline views of bench.erp_urls."""

from config.settings import *  # noqa: F403 -- the benchmark runs the production settings unchanged.

ROOT_URLCONF = "bench.erp_urls"
