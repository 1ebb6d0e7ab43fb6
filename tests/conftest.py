"""Options for the whole suite, read by pytest-xdist's controller (it loads this file, not
tests/integration/conftest.py, which only the workers load when they collect)."""


def pytest_configure(config):
    # pytest-xdist >= 3.6 hands out the groups of --dist loadgroup largest first (by number of
    # tests) unless told not to: the long integration modules, which have few tests each, then
    # started last, behind the unit-test modules, and the slowest of them ended the run minutes
    # after the others. In collection order, they start first (tests/integration/conftest.py
    # puts them there: LONGEST_FIRST).
    if getattr(config.option, "loadscopereorder", None):
        config.option.loadscopereorder = False
