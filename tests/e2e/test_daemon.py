"""The daemon as a process among others: many clients at once, and more connections than it has
file descriptors."""

import resource
import socket
import subprocess
import time
from pathlib import Path

IDLE_CONNECTIONS = 1100


def daemon_open_file_limits(pid):
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc/PID/limits")


def test_idle_connections_past_the_open_file_limit_do_not_keep_a_client_out(pixy):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The daemon starts with the common desktop soft limit of 1024 open files.
    started = subprocess.run([pixy.bin, "status"], env=pixy.env, capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
    assert started.returncode == 0, started.stderr
    [daemon] = pixy.daemon_pids()
    assert daemon_open_file_limits(daemon) == (hard, hard), "the daemon raises its soft limit to the hard one"
    if soft < IDLE_CONNECTIONS + 64 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * IDLE_CONNECTIONS), hard))
    path = str(pixy.runtime_dir / "pixy" / "daemon.sock")
    idle = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            idle.append(s)
        # They never send a request. A real client must still be served at once, well inside the
        # ten seconds an idle connection may wait before the daemon closes it.
        status = pixy.run("status", timeout=5)
        assert status.returncode == 0, status.stderr
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ping_and_stop_ask_the_running_daemon_and_never_start_one(pixy):
    ping = pixy.run("daemon", "--ping")
    assert ping.returncode == 1 and "no Pixy daemon" in ping.stderr, f"nothing runs yet: {ping.stderr}"
    assert not pixy.daemon_pids(), "asking must not start a daemon"

    assert pixy.run("status").returncode == 0
    [daemon] = pixy.daemon_pids()
    ping = pixy.run("daemon", "--ping")
    assert ping.returncode == 0 and f"(pid {daemon})" in ping.stdout, ping.stdout

    stop = pixy.run("daemon", "--stop")
    assert stop.returncode == 0 and "stopping" in stop.stdout, stop.stdout + stop.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pixy.daemon_pids():
        time.sleep(0.1)
    assert not pixy.daemon_pids(), "the daemon exits when asked to stop"
    assert not (pixy.runtime_dir / "pixy" / "daemon.sock").exists(), "and removes its socket"
