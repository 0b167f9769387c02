"""The pytest plugin registers its options and fixtures through the entry point."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_plugin_is_registered_by_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("rollout_harness")


def test_fixtures_and_options_are_offered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_nothing():
            assert True
        """
    )
    fixtures = pytester.runpytest("--fixtures", "-p", "no:locust")
    fixtures.stdout.fnmatch_lines(["*rollout_cluster*", "*run_scenario*"])
    helptext = pytester.runpytest("--help", "-p", "no:locust")
    helptext.stdout.fnmatch_lines(["*--rollout-cluster*", "*--rollout-context*"])


def test_no_cluster_is_touched_unless_a_test_asks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_plain():
            assert 1 + 1 == 2
        """
    )
    result = pytester.runpytest("-p", "no:locust", "--rollout-cluster", "does-not-exist")
    result.assert_outcomes(passed=1)
