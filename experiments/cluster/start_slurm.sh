#!/usr/bin/env bash
# Start a one-node SLURM cluster (slurmctld + slurmd + munge) on this machine, for tests and demos.
# Idempotent: installs what is missing, writes the config once, starts only daemons not running.
# Needs root and Debian's apt. Stop it with experiments/cluster/stop_slurm.sh.
set -euo pipefail

# alive and not a zombie (this machine's init may not reap daemons that exited)
running() { [ -s "$1" ] && ps -o stat= -p "$(cat "$1")" 2>/dev/null | grep -qv '^Z'; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

# munge: a key owned by munge, mode 400, and its directories
install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  head -c 1024 /dev/urandom > /etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
if ! running /run/munge/munged.pid; then
  runuser -u munge -- munged --force
fi

host=$(hostname -s)
node=$(slurmd -C | head -n1 | sed 's/ UpTime=.*//')
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if ! grep -q "^SlurmctldHost=$host$" "$conf" 2>/dev/null; then
  cat > "$conf" <<CONF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
$node
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
fi

running /run/slurmctld.pid || slurmctld
running /run/slurmd.pid || slurmd

for _ in $(seq 1 60); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "slurm: node $host is up"
    exit 0
  fi
  sleep 1
done
echo "slurm: node $host did not come up; see /var/log/slurm/" >&2
exit 1
