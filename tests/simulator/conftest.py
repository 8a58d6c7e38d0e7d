from tests.simulator.fixtures import sim  # noqa: F401
