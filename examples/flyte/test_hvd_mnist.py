"""Serializes examples/flyte/hvd_mnist.py with `pyflyte package` (what
`pyflyte register` uploads) and checks the generated task specs: the task
type, the replica counts, slots, the launcher command and the model's way out.
Run by `npm run test:deploy` in a virtual environment with requirements.txt:

    python -m unittest examples/flyte/test_hvd_mnist.py
"""

import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

import yaml
from flyteidl.admin import task_pb2, workflow_pb2
from google.protobuf.json_format import MessageToDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE = "registry.example.com/hvd:cpu"


def package(env):
    """pyflyte package -> {entity name: spec message}."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tgz = os.path.join(tmp, "flyte-package.tgz")
        pyflyte = os.path.join(os.path.dirname(sys.executable), "pyflyte")
        r = subprocess.run(
            [pyflyte, "--pkgs", "hvd_mnist", "package", "--image", IMAGE, "--force", "--output", tgz],
            cwd=HERE, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
        )
        if r.returncode != 0:
            raise AssertionError(f"pyflyte package failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        with tarfile.open(tgz) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member).read()
                # <index>_<name>_<kind>.pb, kind 1: task, 2: workflow, 3: launch plan
                name, kind = member.name.split("_", 1)[1][: -len(".pb")].rsplit("_", 1)
                if kind == "3":
                    continue
                spec = task_pb2.TaskSpec() if kind == "1" else workflow_pb2.WorkflowSpec()
                spec.ParseFromString(data)
                out[name] = spec
    return out


def flag(argv, name):
    return argv[argv.index(name) + 1]


class HvdMnistWorkflow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.entities = package({"HVD_WORKERS": "2", "HVD_SLOTS": "2"})
        cls.train = cls.entities["hvd_mnist.train"].template
        cls.custom = MessageToDict(cls.train.custom)

    def test_train_is_an_mpi_task_in_the_hvd_image(self):
        self.assertEqual(self.train.type, "mpi")
        image = self.train.container.image if self.train.HasField("container") else self.train.k8s_pod.pod_spec["containers"][0]["image"]
        self.assertEqual(image, IMAGE)

    def test_replicas_and_slots(self):
        self.assertEqual(self.custom["launcherReplicas"]["replicas"], 1)
        self.assertEqual(self.custom["workerReplicas"]["replicas"], 2)
        self.assertEqual(self.custom["slots"], 2)
        self.assertEqual(self.custom["workerReplicas"]["resources"]["requests"], [{"name": "CPU", "value": "2"}, {"name": "MEMORY", "value": "4Gi"}])
        self.assertEqual(self.custom["runPolicy"]["cleanPodPolicy"], "CLEANPOD_POLICY_RUNNING")

    def test_launcher_runs_mpirun_node_mnist_with_np_workers_times_slots(self):
        cmd = self.custom["launcherReplicas"]["command"]
        self.assertEqual(cmd[0], "mpirun")
        self.assertEqual(int(flag(cmd, "-np")), 2 * 2)
        i = cmd.index("node")
        self.assertEqual(cmd[i + 1], "/opt/hvd/dist/mnist.js")
        self.assertEqual(flag(cmd, "--checkpoint-dir"), "/models/hvd-mnist")
        self.assertNotIn("pyflyte-execute", " ".join(cmd))
        # the same mpirun options as the v1 manifest (deploy/k8s/mpijob-v1-cpu.yaml)
        with open(os.path.join(ROOT, "deploy", "k8s", "mpijob-v1-cpu.yaml")) as f:
            job = yaml.safe_load(f)
        args = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["args"]
        self.assertEqual(cmd[: i + 2], args[: args.index("node") + 2])

    def test_counts_follow_the_settings(self):
        other = package({"HVD_WORKERS": "3", "HVD_SLOTS": "4"})
        custom = MessageToDict(other["hvd_mnist.train"].template.custom)
        self.assertEqual((custom["workerReplicas"]["replicas"], custom["slots"]), (3, 4))
        self.assertEqual(int(flag(custom["launcherReplicas"]["command"], "-np")), 12)

    def test_every_pod_mounts_the_models_claim_and_the_model_is_the_workflow_output(self):
        for name in ("hvd_mnist.train", "hvd_mnist.collect_model"):
            pod = MessageToDict(self.entities[name].template.k8s_pod.pod_spec)
            self.assertEqual(pod["volumes"], [{"name": "models", "persistentVolumeClaim": {"claimName": "hvd-models"}}], name)
            mounts = pod["containers"][0]["volumeMounts"]
            self.assertIn({"name": "models", "mountPath": "/models"}, mounts, name)
            self.assertEqual(pod["securityContext"], {"fsGroup": 1000.0}, name)
        collect = self.entities["hvd_mnist.collect_model"].template
        out = collect.interface.outputs.variables["o0"].type
        self.assertTrue(out.HasField("blob"), out)
        wf = self.entities["hvd_mnist.mnist_workflow"].template
        nodes = {n.id: n for n in wf.nodes}
        collect_node = next(n for n in nodes.values() if n.task_node.reference_id.name == "hvd_mnist.collect_model")
        train_node = next(n for n in nodes.values() if n.task_node.reference_id.name == "hvd_mnist.train")
        self.assertIn(train_node.id, collect_node.upstream_node_ids)


if __name__ == "__main__":
    unittest.main()
