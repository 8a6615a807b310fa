#!/bin/sh
# Runtime layer of the hvd images (Dockerfile and Dockerfile.gpu), run as root
# during the build on a Debian/Ubuntu base:
#   - OpenMPI 4.1 (the distribution's openmpi-bin: the same /usr/bin/mpirun
#     and orted on the launcher and the workers), ssh client and server,
#     procps; /bin/sh is there already (the v1 operator's workers need it);
#   - mpiuser with uid/gid 1000 (the MPI Operator's convention), replacing a
#     uid-1000 user the base image has (the official node image's `node`);
#   - ssh on port 2222 for mpiuser: /etc/ssh/ssh_config.d/hvd.conf (client)
#     and /home/mpiuser/.sshd_config (server, `sshd -De -f ...`).
set -eu
here="$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends openmpi-bin openssh-server openssh-client procps
rm -rf /var/lib/apt/lists/*
# OpenMPI 5 ignores the OMPI_MCA_orte_* variables both operators set
# (orte_default_hostfile, orte_keep_fqdn_hostnames): every rank would run on
# the launcher's node without an error. Refuse to build such an image.
if ! mpirun --version | grep -q 'Open MPI) 4\.1\.'; then
  echo "hvd image: OpenMPI 4.1.x required, found: $(mpirun --version | head -1)" >&2
  exit 1
fi
old="$(getent passwd 1000 | cut -d: -f1)"
if [ -n "$old" ] && [ "$old" != mpiuser ]; then userdel -r "$old" 2>/dev/null || userdel "$old"; fi
oldg="$(getent group 1000 | cut -d: -f1)"
if [ -n "$oldg" ] && [ "$oldg" != mpiuser ]; then groupdel "$oldg"; fi
groupadd --gid 1000 mpiuser
useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash mpiuser
mkdir -p /home/mpiuser/.ssh /home/mpiuser/models /run/sshd
install -m 0644 "$here/ssh_config" /etc/ssh/ssh_config.d/hvd.conf
install -m 0644 -o 1000 -g 1000 "$here/sshd_config" /home/mpiuser/.sshd_config
chown -R 1000:1000 /home/mpiuser
chmod 700 /home/mpiuser/.ssh
