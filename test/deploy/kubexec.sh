#!/bin/sh
# /etc/mpi/kubexec.sh for the v1 rehearsal: what the training-operator's
# kubexec.sh does (OMPI_MCA_plm_rsh_agent; mpirun calls it as
# `kubexec.sh <pod> <orted command...>`), with the rehearsal's podman-exec
# relay (podexec.js) in place of `kubectl exec <pod> -- /bin/sh -c "$*"`.
POD_NAME=$1
shift
exec node /etc/mpi/podexec.js /run/podexec/podexec.sock "${POD_NAME}" /bin/sh -c "$*"
