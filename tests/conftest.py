"""Settings shared by the whole test suite."""

from hypothesis import HealthCheck, settings

# No per-example deadline: CI machines are shared and noisy. Examples per test are
# set by each test, to keep the whole suite within its time budget.
settings.register_profile(
    "asyncframe",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("asyncframe")
