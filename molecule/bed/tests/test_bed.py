"""Verify that the workstation platform really is a systemd host that converged."""


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_package_installed(host):
    assert host.package("cron").is_installed


def test_service_running_under_systemd(host):
    cron = host.service("cron")
    assert cron.is_running
    assert cron.is_enabled
    assert host.run("systemctl show -p MainPID --value cron").stdout.strip() != "0"


def test_proc_sys_writable_for_inner_docker(host):
    mounts = host.file("/proc/mounts").content_string.splitlines()
    proc_sys = [line for line in mounts if line.split()[1] == "/proc/sys"]
    assert proc_sys, "/proc/sys is not a separate mount"
    assert "rw" in proc_sys[-1].split()[3].split(",")
