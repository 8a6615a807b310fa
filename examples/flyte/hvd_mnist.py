"""hvd MNIST on Kubernetes from Flyte: a Kubeflow MPIJob (training-operator,
kubeflow.org/v1) made by flytekitplugins-kfmpi, in the hvd image.

    pyflyte run --remote examples/flyte/hvd_mnist.py mnist_workflow

The MPI task's launcher runs ``mpirun ... node /opt/hvd/dist/mnist.js``
instead of the plugin's default ``mpirun ... pyflyte-execute`` (a
``Launcher(command=...)`` becomes the launcher container's args; the hvd image
has no ENTRYPOINT, so they run as given). On v1 the workers run ``sleep`` and
mpirun reaches them with ``kubectl exec``. Rank 0 (on worker 0) writes the
model checkpoint to the ``hvd-models`` PersistentVolumeClaim (ReadWriteMany,
mounted at /models on every pod of the job), and the next task returns that
file, so the model is an output of the workflow (that task runs Python, so it
uses a flytekit image, not the hvd image).

Settings (environment variables when registering): HVD_IMAGE (the hvd image
you pushed), HVD_WORKERS, HVD_SLOTS, HVD_EPOCHS, HVD_MODELS_PVC,
FLYTEKIT_IMAGE.
"""

import os
from typing import List

from flytekit import PodTemplate, Resources, task, workflow
from flytekit.types.file import FlyteFile
from flytekitplugins.kfmpi import CleanPodPolicy, Launcher, MPIJob, RestartPolicy, RunPolicy, Worker
from kubernetes.client import (
    V1Container,
    V1PersistentVolumeClaimVolumeSource,
    V1PodSecurityContext,
    V1PodSpec,
    V1Volume,
    V1VolumeMount,
)

IMAGE = os.environ.get("HVD_IMAGE", "registry.example.com/hvd:cpu")
WORKERS = int(os.environ.get("HVD_WORKERS", "2"))
SLOTS = int(os.environ.get("HVD_SLOTS", "2"))
EPOCHS = int(os.environ.get("HVD_EPOCHS", "5"))
FLYTEKIT_IMAGE = os.environ.get("FLYTEKIT_IMAGE", "cr.flyte.org/flyteorg/flytekit:py3.11-1.16.31")
MODELS_PVC = os.environ.get("HVD_MODELS_PVC", "hvd-models")
MODEL_DIR = "/models/hvd-mnist"
CHECKPOINT_FILE = "mnist.hvdckpt"  # examples/checkpoint.ts

# The keepalive settings from hvd's reliability work: a worker whose node
# vanishes ends the job within ~11 s instead of hanging for minutes.
KEEPALIVE_MCA = ["--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2", "--mca", "oob_tcp_keepalive_probes", "3"]


def launcher_command(epochs: int) -> List[str]:
    """The launcher's mpirun line: one rank per slot on every worker."""
    return [
        "mpirun", "-np", str(WORKERS * SLOTS), "--bind-to", "none", "--map-by", "slot",
        *KEEPALIVE_MCA,
        "--mca", "btl_vader_single_copy_mechanism", "none",
        "-x", "HVD_START_TIMEOUT=300",
        "node", "/opt/hvd/dist/mnist.js", "--epochs", str(epochs), "--checkpoint-dir", MODEL_DIR,
    ]


models_volume = PodTemplate(
    primary_container_name="primary",
    pod_spec=V1PodSpec(
        security_context=V1PodSecurityContext(fs_group=1000),  # mpiuser can write the claim
        containers=[V1Container(name="primary", volume_mounts=[V1VolumeMount(name="models", mount_path="/models")])],
        volumes=[V1Volume(name="models", persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(claim_name=MODELS_PVC))],
    ),
)


@task(
    task_config=MPIJob(
        launcher=Launcher(
            replicas=1,
            command=launcher_command(EPOCHS),
            requests=Resources(cpu="500m", mem="512Mi"),
            limits=Resources(mem="1Gi"),
        ),
        worker=Worker(
            replicas=WORKERS,
            requests=Resources(cpu=str(SLOTS), mem="4Gi"),
            limits=Resources(cpu=str(SLOTS), mem="4Gi"),
            restart_policy=RestartPolicy.FAILURE,
        ),
        slots=SLOTS,
        run_policy=RunPolicy(clean_pod_policy=CleanPodPolicy.RUNNING, backoff_limit=2, active_deadline_seconds=7200),
    ),
    container_image=IMAGE,
    pod_template=models_volume,
)
def train() -> None:
    """Runs on the launcher as the mpirun line above (the body is not called)."""


@task(container_image=FLYTEKIT_IMAGE, pod_template=models_volume, requests=Resources(cpu="100m", mem="128Mi"))
def collect_model() -> FlyteFile:
    """Returns rank 0's checkpoint as the workflow's output."""
    path = os.path.join(MODEL_DIR, CHECKPOINT_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: rank 0 wrote no checkpoint (is the {MODELS_PVC} claim mounted ReadWriteMany?)")
    return FlyteFile(path)


@workflow
def mnist_workflow() -> FlyteFile:
    trained = train()
    model = collect_model()
    trained >> model
    return model
