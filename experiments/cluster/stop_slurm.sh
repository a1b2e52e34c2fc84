#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by start_slurm.sh, by the daemons' process ids.
set -uo pipefail
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }  # exited daemons may linger as zombies
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.2; done
  if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi  # a daemon stuck in shutdown
  rm -f "$pidfile"
done
