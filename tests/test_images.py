"""Installing mmdebstrap on a first run: the decision, with the system's functions injected."""

import pytest

from bgctl.adapters.images import ensure_mmdebstrap
from bgctl.core.errors import ImageUnavailable


class System:
    """A machine: which tools are on PATH, who runs bgctl, and what apt does when asked."""

    def __init__(self, *, tools=("apt-get", "apt-cache"), root=True, lists_know_it=True,
                 install_status=0, update_status=0, install_output="Setting up mmdebstrap ..."):
        self.tools = set(tools)
        self.root = root
        self.lists_know_it = lists_know_it
        self.install_status = install_status
        self.update_status = update_status
        self.install_output = install_output
        self.commands: list[list[str]] = []
        self.said: list[str] = []

    def which(self, name):
        return f"/usr/bin/{name}" if name in self.tools else None

    def euid(self):
        return 0 if self.root else 1000

    def run(self, command):
        self.commands.append(command)
        verb = command[1]
        if verb == "show":
            return (0 if self.lists_know_it else 100), ""
        if verb == "update":
            self.lists_know_it = self.update_status == 0
            return self.update_status, "E: Could not resolve deb.debian.org" if self.update_status else "Done"
        if verb == "install":
            if not self.lists_know_it:
                return 100, "E: Unable to locate package mmdebstrap"
            if self.install_status == 0:
                self.tools.add("mmdebstrap")
            return self.install_status, self.install_output
        raise AssertionError(command)

    def ensure(self):
        return ensure_mmdebstrap(self.said.append, which=self.which, euid=self.euid, run=self.run)


def refusal(system: System) -> str:
    with pytest.raises(ImageUnavailable) as caught:
        system.ensure()
    return str(caught.value)


INSTALL = ["/usr/bin/apt-get", "install", "-y", "--no-install-recommends", "mmdebstrap"]
UPDATE = ["/usr/bin/apt-get", "update"]


def test_already_installed_runs_nothing():
    system = System(tools=("mmdebstrap", "apt-get"))
    assert system.ensure() == "/usr/bin/mmdebstrap"
    assert system.commands == [] and system.said == []


def test_root_with_apt_installs_it_without_update_when_the_lists_know_it():
    system = System()
    assert system.ensure() == "/usr/bin/mmdebstrap"
    assert system.commands == [["apt-cache", "show", "mmdebstrap"], INSTALL]
    assert system.said[0] == "Installing mmdebstrap with apt-get (needed once to build the offline images) ..."
    assert system.said[-1].startswith("mmdebstrap installed in ")


def test_root_with_empty_package_lists_updates_first():
    system = System(lists_know_it=False)
    assert system.ensure() == "/usr/bin/mmdebstrap"
    assert system.commands == [["apt-cache", "show", "mmdebstrap"], UPDATE, INSTALL]
    assert any("apt-get update" in line for line in system.said)


def test_stale_lists_get_one_update_and_one_retry():
    system = System()
    system.lists_know_it = True
    outcomes = iter([(0, ""), (100, "E: Failed to fetch mmdebstrap_1.3.5-2_all.deb 404 Not Found"), (0, "Done"),
                     (0, "Setting up mmdebstrap")])

    def run(command):
        system.commands.append(command)
        status, output = next(outcomes)
        if command == INSTALL and status == 0:
            system.tools.add("mmdebstrap")
        return status, output

    system.run = run
    assert system.ensure() == "/usr/bin/mmdebstrap"
    assert system.commands == [["apt-cache", "show", "mmdebstrap"], INSTALL, UPDATE, INSTALL]


def test_a_failing_install_quotes_apts_last_lines():
    system = System(install_status=100, install_output="Reading package lists...\nline two\n"
                    "E: Sub-process /usr/bin/dpkg returned an error code (1)\n")
    message = refusal(system)
    assert message.startswith("apt-get could not install mmdebstrap (exit 100): ")
    assert "E: Sub-process /usr/bin/dpkg returned an error code (1)" in message
    assert "mmdebstrap" not in system.tools


def test_a_failing_update_quotes_it_and_installs_nothing():
    system = System(lists_know_it=False, update_status=100)
    message = refusal(system)
    assert "apt-get update failed (exit 100)" in message and "Could not resolve deb.debian.org" in message
    assert INSTALL not in system.commands


def test_not_root_gives_the_one_command_and_runs_nothing():
    system = System(root=False)
    message = refusal(system)
    assert "run: sudo apt-get install -y mmdebstrap" in message
    assert system.commands == [] and system.said == []


def test_no_apt_says_to_use_the_systems_package_manager_and_runs_nothing():
    system = System(tools=(), root=True)
    message = refusal(system)
    assert "no apt-get" in message and "install mmdebstrap" in message
    assert system.commands == []
