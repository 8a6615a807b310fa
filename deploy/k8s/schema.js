'use strict';
// JSON Schemas (draft-07, for ajv) of the two MPIJob flavours hvd ships
// manifests for, written by hand from the operators' documented Go types:
//   kubeflow.org/v2beta1  MPI Operator:  MPIJobSpec{slotsPerWorker,
//     runLauncherAsWorker, runPolicy, mpiReplicaSpecs, sshAuthMountPath,
//     launcherCreationPolicy, mpiImplementation}
//   kubeflow.org/v1       training-operator:  MPIJobSpec{slotsPerWorker,
//     cleanPodPolicy (deprecated), runPolicy, mpiReplicaSpecs, mainContainer}
// and the Kubernetes core types they embed (PodTemplateSpec, Container, ...).
// The parts a manifest uses are strict (additionalProperties: false), so a
// typo such as `slotPerWorker` or `comand` is an error here instead of a
// field the API server silently drops; Kubernetes fields hvd's manifests do
// not use are simply not listed and therefore rejected too, to be added
// when a manifest needs them.

const str = { type: 'string' };
const nonEmpty = { type: 'string', minLength: 1 };
const int0 = { type: 'integer', minimum: 0 };
const strings = { type: 'array', items: str };
const stringMap = { type: 'object', additionalProperties: str };
const dnsLabel = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const dnsSubdomain = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253 };
const absPath = { type: 'string', pattern: '^/' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };

// resource.Quantity: "500m", "4Gi", "2", 4
const quantity = {
  anyOf: [
    { type: 'string', pattern: '^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$' },
    { type: 'number', minimum: 0 },
  ],
};
// ResourceList: cpu, memory, ephemeral-storage, or an extended resource (nvidia.com/gpu)
const resourceList = {
  type: 'object',
  propertyNames: { pattern: '^(cpu|memory|ephemeral-storage|hugepages-[0-9A-Za-z]+|[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)$' },
  additionalProperties: quantity,
};

const objectMeta = {
  type: 'object',
  additionalProperties: false,
  properties: { name: dnsSubdomain, namespace: dnsLabel, labels: stringMap, annotations: stringMap },
};

const envVar = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: nonEmpty,
    value: str,
    valueFrom: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        fieldRef: { type: 'object', additionalProperties: false, required: ['fieldPath'], properties: { apiVersion: str, fieldPath: nonEmpty } },
        secretKeyRef: { type: 'object', additionalProperties: false, required: ['key'], properties: { name: str, key: nonEmpty, optional: { type: 'boolean' } } },
        configMapKeyRef: { type: 'object', additionalProperties: false, required: ['key'], properties: { name: str, key: nonEmpty, optional: { type: 'boolean' } } },
      },
    },
  },
  not: { required: ['value', 'valueFrom'] },
};

const intOrString = { anyOf: [port, dnsLabel] };
const probe = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tcpSocket: { type: 'object', additionalProperties: false, required: ['port'], properties: { port: intOrString, host: str } },
    exec: { type: 'object', additionalProperties: false, required: ['command'], properties: { command: { ...strings, minItems: 1 } } },
    initialDelaySeconds: int0,
    periodSeconds: { type: 'integer', minimum: 1 },
    timeoutSeconds: { type: 'integer', minimum: 1 },
    successThreshold: { type: 'integer', minimum: 1 },
    failureThreshold: { type: 'integer', minimum: 1 },
  },
  minProperties: 1,
  oneOf: [{ required: ['tcpSocket'] }, { required: ['exec'] }],
};

const containerSecurityContext = {
  type: 'object',
  additionalProperties: false,
  properties: { runAsUser: int0, runAsGroup: int0, runAsNonRoot: { type: 'boolean' }, allowPrivilegeEscalation: { type: 'boolean' }, readOnlyRootFilesystem: { type: 'boolean' } },
};

const container = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'image'],
  properties: {
    name: dnsLabel,
    image: nonEmpty,
    imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    command: { ...strings, minItems: 1 },
    args: { ...strings, minItems: 1 },
    workingDir: absPath,
    env: { type: 'array', items: envVar },
    ports: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['containerPort'],
        properties: { name: { type: 'string', maxLength: 15, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }, containerPort: port, protocol: { enum: ['TCP', 'UDP', 'SCTP'] } },
      },
    },
    resources: { type: 'object', additionalProperties: false, properties: { requests: resourceList, limits: resourceList } },
    readinessProbe: probe,
    livenessProbe: probe,
    volumeMounts: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['name', 'mountPath'], properties: { name: dnsLabel, mountPath: absPath, readOnly: { type: 'boolean' }, subPath: str } },
    },
    securityContext: containerSecurityContext,
  },
};

const volume = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: dnsLabel,
    emptyDir: { type: 'object', additionalProperties: false, properties: { medium: { enum: ['', 'Memory'] }, sizeLimit: quantity } },
    persistentVolumeClaim: { type: 'object', additionalProperties: false, required: ['claimName'], properties: { claimName: dnsSubdomain, readOnly: { type: 'boolean' } } },
    secret: { type: 'object', additionalProperties: false, required: ['secretName'], properties: { secretName: dnsSubdomain, defaultMode: { type: 'integer', minimum: 0, maximum: 511 } } },
    configMap: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: dnsSubdomain, defaultMode: { type: 'integer', minimum: 0, maximum: 511 } } },
  },
  // exactly one volume source
  minProperties: 2,
  maxProperties: 2,
};

const toleration = {
  type: 'object',
  additionalProperties: false,
  properties: { key: str, operator: { enum: ['Exists', 'Equal'] }, value: str, effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] }, tolerationSeconds: { type: 'integer' } },
};

const podSpec = {
  type: 'object',
  additionalProperties: false,
  required: ['containers'],
  properties: {
    containers: { type: 'array', minItems: 1, items: container },
    initContainers: { type: 'array', items: container },
    volumes: { type: 'array', items: volume },
    securityContext: {
      type: 'object',
      additionalProperties: false,
      properties: { runAsUser: int0, runAsGroup: int0, fsGroup: int0, runAsNonRoot: { type: 'boolean' } },
    },
    nodeSelector: stringMap,
    tolerations: { type: 'array', items: toleration },
    serviceAccountName: dnsSubdomain,
    priorityClassName: dnsSubdomain,
    schedulerName: nonEmpty,
  },
};

const podTemplateSpec = {
  type: 'object',
  additionalProperties: false,
  required: ['spec'],
  properties: { metadata: { type: 'object', additionalProperties: false, properties: { labels: stringMap, annotations: stringMap } }, spec: podSpec },
};

const ALL_RESTART = ['Always', 'OnFailure', 'Never', 'ExitCode'];
function replicaSpec({ restartPolicies = ALL_RESTART, replicas = int0 } = {}) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['replicas', 'template'],
    properties: { replicas, restartPolicy: { enum: restartPolicies }, template: podTemplateSpec },
  };
}

// RunPolicy (kubeflow common / training-operator, and mpi-operator's own copy in v2beta1)
const runPolicy = {
  type: 'object',
  additionalProperties: false,
  properties: {
    cleanPodPolicy: { enum: ['None', 'Running', 'All'] },
    ttlSecondsAfterFinished: int0,
    activeDeadlineSeconds: { type: 'integer', minimum: 1 },
    backoffLimit: int0,
    schedulingPolicy: {
      type: 'object',
      additionalProperties: false,
      properties: { minAvailable: int0, queue: str, minResources: resourceList, priorityClass: str, scheduleTimeoutSeconds: int0 },
    },
    suspend: { type: 'boolean' },
    managedBy: str,
  },
};

function mpiJob(apiVersion, specProperties, launcherRestart) {
  return {
    $id: `https://hvd.invalid/schema/mpijob-${apiVersion.split('/')[1]}.json`,
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: apiVersion },
      kind: { const: 'MPIJob' },
      metadata: { ...objectMeta, required: ['name'] },
      spec: {
        type: 'object',
        additionalProperties: false,
        required: ['mpiReplicaSpecs'],
        properties: {
          slotsPerWorker: { type: 'integer', minimum: 1 },
          runPolicy,
          mpiReplicaSpecs: {
            type: 'object',
            additionalProperties: false,
            required: ['Launcher', 'Worker'],
            properties: {
              Launcher: replicaSpec({ restartPolicies: launcherRestart, replicas: { const: 1 } }),
              Worker: replicaSpec({ replicas: { type: 'integer', minimum: 1 } }),
            },
          },
          ...specProperties,
        },
      },
    },
  };
}

/** MPI Operator (github.com/kubeflow/mpi-operator) kubeflow.org/v2beta1 MPIJob. */
const MPIJOB_V2BETA1 = mpiJob(
  'kubeflow.org/v2beta1',
  {
    runLauncherAsWorker: { type: 'boolean' },
    sshAuthMountPath: absPath,
    launcherCreationPolicy: { enum: ['AtStartup', 'WaitForWorkersReady'] },
    mpiImplementation: { enum: ['OpenMPI', 'Intel', 'MPICH'] },
  },
  ['Never', 'OnFailure'],
);

/** Kubeflow training-operator kubeflow.org/v1 MPIJob (Flyte's kfmpi plugin). */
const MPIJOB_V1 = mpiJob(
  'kubeflow.org/v1',
  {
    cleanPodPolicy: { enum: ['None', 'Running', 'All'] },
    mainContainer: dnsLabel,
  },
  ALL_RESTART,
);

module.exports = { MPIJOB_V2BETA1, MPIJOB_V1 };
