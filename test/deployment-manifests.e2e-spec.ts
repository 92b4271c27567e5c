import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PATH_METADATA } from '@nestjs/common/constants';
import ts from 'typescript';
import YAML from 'yaml';
import { type AppConfig, CONFIG_VARIABLES, loadConfig, SECRET_SETTINGS } from '../src/config/config';
import { HealthController } from '../src/health/health.controller';
import { TEST_SECRET_KEY } from './support/app';
import { type Run, runProcess } from './support/process';
import { ScratchDatabases } from './support/scratch-database';
import { scratchDir, startServer } from './support/server-process';

/**
 * deploy/kubernetes/ and compose.yaml against the code: every document valid for the Kubernetes schemas (the
 * kubernetes-models package, offline) with no field the API server would reject as unknown, and every name, port,
 * path, probe and command one the code really has. Then the manifests are run: the migrations Job's command and
 * environment migrate a fresh database, and a server started with the Deployment's environment passes its probes
 * (the same for compose's services). Mounted paths are mapped to scratch directories, secrets to test values.
 */

const ROOT = path.resolve(__dirname, '..');
const KUBERNETES_DIR = path.join(ROOT, 'deploy', 'kubernetes');
const COMPOSE_FILE = path.join(ROOT, 'compose.yaml');

// The part of the Kubernetes shapes this suite reads (the schemas themselves are checked by kubernetes-models).
interface Metadata {
  name: string;
  labels?: Record<string, string>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec?: unknown;
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: unknown[];
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; [source: string]: unknown };
}
interface HttpProbe {
  httpGet?: { path?: string; port: number | string; scheme?: string };
  [handler: string]: unknown;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: unknown[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  startupProbe?: HttpProbe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; [handler: string]: unknown } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  emptyDir?: unknown;
  persistentVolumeClaim?: unknown;
  [source: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  topologySpreadConstraints?: { labelSelector?: LabelSelector }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
interface DeploymentSpec {
  replicas?: number;
  selector: LabelSelector;
  template: PodTemplate;
}
interface JobSpec {
  template: PodTemplate;
}
interface ServiceSpec {
  selector: Record<string, string>;
  ports: { port: number; targetPort?: number | string }[];
}
interface PdbSpec {
  selector: LabelSelector;
  minAvailable?: number | string;
  maxUnavailable?: number | string;
}
interface HpaSpec {
  scaleTargetRef: { apiVersion: string; kind: string; name: string };
  minReplicas?: number;
  maxReplicas: number;
  metrics?: { type: string; resource?: { name: string } }[];
}
interface Kustomization {
  resources?: string[];
  secretGenerator?: { name: string; files?: string[]; literals?: string[]; envs?: string[] }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

interface ComposeService {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number })[];
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { target: string })[];
  tmpfs?: string[] | string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  user?: string;
  healthcheck?: { test: string[] | string };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }> | string[];
}
interface Compose {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string; environment?: string }>;
}

const SECRET_NAMES: readonly string[] = SECRET_SETTINGS;

const scratchDirs: string[] = [];

/** A scratch directory standing for a container's mounts, removed after the suite. */
function scratch(prefix: string): string {
  const dir = scratchDir(prefix);
  scratchDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function parseYamlDocuments(file: string): unknown[] {
  // Kubernetes reads manifests as YAML 1.1 (sigs.k8s.io/yaml): `on`, `0440` and the like mean what they mean there.
  const documents = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { version: '1.1' });
  if (!Array.isArray(documents)) throw new Error(`${file}: not a YAML stream`);
  return documents.flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map(String).join('; ')}`);
    const value: unknown = document.toJS();
    return value === null ? [] : [value];
  });
}

interface Loaded {
  kustomization: Kustomization;
  documents: { file: string; manifest: Manifest }[];
}

function loadKubernetes(): Loaded {
  const [kustomization] = parseYamlDocuments(path.join(KUBERNETES_DIR, 'kustomization.yaml')) as [
    Kustomization,
  ];
  const documents = (kustomization.resources ?? []).flatMap((file) =>
    parseYamlDocuments(path.join(KUBERNETES_DIR, file)).map((manifest) => ({
      file,
      manifest: manifest as Manifest,
    })),
  );
  return { kustomization, documents };
}

function only<S>(loaded: Loaded, kind: string): Manifest & { spec: S } {
  const found = loaded.documents.filter(({ manifest }) => manifest.kind === kind);
  if (found.length !== 1)
    throw new Error(`expected exactly one ${kind} in the manifests, found ${found.length}`);
  return found[0]!.manifest as Manifest & { spec: S };
}

function loadCompose(): Compose {
  // Compose resolves `<<: *anchor` merge keys; so does this reading.
  return YAML.parse(fs.readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as Compose;
}

/** `${METHOD}` of HealthController as a URL path, from the route metadata Nest itself mounts. */
function healthRoute(method: 'live' | 'ready'): string {
  const base = Reflect.getMetadata(PATH_METADATA, HealthController) as string;
  const sub = Reflect.getMetadata(PATH_METADATA, HealthController.prototype[method]) as string;
  return normalizePath(`/${base}/${sub}`);
}

/** The router ignores a trailing slash and doubled slashes (src/app.ts), so these are the same route. */
function normalizePath(url: string): string {
  return url.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

function gitIgnored(file: string): boolean {
  try {
    execFileSync('git', ['check-ignore', '--quiet', '--no-index', file], { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Secret name -> its keys, as the kustomization generates them or a Secret document defines them. */
function definedSecrets(loaded: Loaded): Map<string, string[]> {
  const secrets = new Map<string, string[]>();
  for (const generator of loaded.kustomization.secretGenerator ?? []) {
    const keys = [
      ...(generator.files ?? []).map((entry) =>
        entry.includes('=') ? entry.slice(0, entry.indexOf('=')) : path.basename(entry),
      ),
      ...(generator.literals ?? []).map((entry) => entry.slice(0, entry.indexOf('='))),
    ];
    secrets.set(generator.name, keys);
  }
  for (const { manifest } of loaded.documents) {
    if (manifest.kind !== 'Secret') continue;
    const secret = manifest as unknown as { data?: object; stringData?: object };
    secrets.set(manifest.metadata.name, [
      ...Object.keys(secret.data ?? {}),
      ...Object.keys(secret.stringData ?? {}),
    ]);
  }
  return secrets;
}

/** A probe's or a Service's port (a number, or the name of one of the container's ports) as a number. */
function portNumber(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

/** Compose's durations ("20s", "1m30s", "500ms") in milliseconds. */
function durationMs(text: string | undefined): number {
  if (text === undefined) return 10_000; // Compose's default stop_grace_period
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g, (_, amount: string, unit: string) => {
    total += Number(amount) * units[unit]!;
    return '';
  });
  if (rest !== '') throw new Error(`not a duration: ${text}`);
  return total;
}

function composeEnvironment(service: ComposeService): Record<string, string> {
  const environment = service.environment ?? {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]),
    );
  }
  return Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, String(value ?? '')]));
}

function composeCommand(service: ComposeService): string[] | undefined {
  const command = service.command;
  return typeof command === 'string' ? command.split(/\s+/) : command;
}

/** What a container sees, laid out on this machine: environment with mounted paths mapped to scratch directories. */
interface Materialized {
  env: Record<string, string>;
  /** Container path -> scratch directory, for every writable mount. */
  writable: Map<string, string>;
  problems: string[];
}

/** Each secret setting (DATABASE_URL, BOOTSTRAP_TOKEN, SECRET_KEY) is given the value in `values`. */
function materializePod(
  loaded: Loaded,
  where: string,
  pod: PodSpec,
  container: Container,
  values: Record<string, string>,
): Materialized {
  const problems: string[] = [];
  const root = scratch('grantry-manifest');
  const secrets = definedSecrets(loaded);
  /** Container path of a mounted secret file -> its scratch path and whether an environment variable reads it. */
  const secretFiles = new Map<string, { file: string; read: boolean }>();
  const mounts: { mountPath: string; dir: string }[] = [];
  const writable = new Map<string, string>();
  for (const [index, mount] of (container.volumeMounts ?? []).entries()) {
    const dir = path.join(root, `mount-${index}`);
    fs.mkdirSync(dir);
    mounts.push({ mountPath: mount.mountPath, dir });
    const volume = pod.volumes?.find((candidate) => candidate.name === mount.name);
    if (!volume) {
      problems.push(`${where}: volumeMount ${mount.name} names no volume`);
      continue;
    }
    if (volume.secret) {
      const keys = secrets.get(volume.secret.secretName);
      if (!keys) {
        problems.push(
          `${where}: volume ${volume.name} mounts Secret ${volume.secret.secretName}, defined nowhere`,
        );
        continue;
      }
      if (mount.readOnly !== true)
        problems.push(`${where}: the secret mount ${mount.mountPath} is not readOnly`);
      const items = volume.secret.items ?? keys.map((key) => ({ key, path: key }));
      for (const item of items) {
        if (!keys.includes(item.key)) {
          problems.push(
            `${where}: volume ${volume.name} projects key ${item.key}, not in Secret ${volume.secret.secretName} (${keys.join(', ')})`,
          );
        }
        secretFiles.set(path.posix.join(mount.mountPath, item.path), {
          file: path.join(dir, item.path),
          read: false,
        });
      }
    } else if (
      (volume.emptyDir !== undefined || volume.persistentVolumeClaim !== undefined) &&
      !mount.readOnly
    ) {
      writable.set(mount.mountPath, dir);
    }
  }
  const local = (value: string): string => {
    const mount = mounts.find(
      ({ mountPath }) => value === mountPath || value.startsWith(`${mountPath.replace(/\/$/, '')}/`),
    );
    return mount ? path.join(mount.dir, path.posix.relative(mount.mountPath, value)) : value;
  };
  const env: Record<string, string> = {};
  if (container.envFrom !== undefined)
    problems.push(`${where}: envFrom hides which variables are set; use env`);
  for (const variable of container.env ?? []) {
    const secretRef = variable.valueFrom?.secretKeyRef;
    if (secretRef) {
      if (!secrets.get(secretRef.name)?.includes(secretRef.key)) {
        problems.push(
          `${where}: ${variable.name} reads key ${secretRef.key} of Secret ${secretRef.name}, defined nowhere`,
        );
      }
      if (!SECRET_NAMES.includes(variable.name)) {
        problems.push(
          `${where}: ${variable.name} comes from a Secret but is not a secret setting (${SECRET_NAMES.join(', ')})`,
        );
      }
      env[variable.name] = values[variable.name] ?? '';
      continue;
    }
    if (variable.valueFrom !== undefined)
      problems.push(`${where}: ${variable.name} has a valueFrom this suite cannot check`);
    env[variable.name] = variable.value ?? '';
  }
  for (const [name, value] of Object.entries({ ...env })) {
    if (
      SECRET_NAMES.includes(name) &&
      !container.env?.find((variable) => variable.name === name)?.valueFrom
    ) {
      problems.push(`${where}: ${name} is written in the manifest; take it from a Secret (${name}_FILE)`);
    }
    if (name.endsWith('_FILE') && SECRET_NAMES.includes(name.slice(0, -'_FILE'.length))) {
      const secretFile = secretFiles.get(value);
      if (!secretFile) {
        problems.push(
          `${where}: ${name}=${value} is no file of a mounted Secret (${[...secretFiles.keys()].join(', ') || 'none'})`,
        );
        continue;
      }
      secretFile.read = true;
      fs.mkdirSync(path.dirname(secretFile.file), { recursive: true });
      fs.writeFileSync(secretFile.file, `${values[name.slice(0, -'_FILE'.length)] ?? ''}\n`);
      env[name] = secretFile.file;
    } else {
      env[name] = local(value);
    }
  }
  for (const [mounted, { read }] of secretFiles) {
    if (!read)
      problems.push(
        `${where}: ${mounted} is mounted but no *_FILE variable reads it (mount only what is used)`,
      );
  }
  return { env, writable, problems };
}

function materializeCompose(compose: Compose, name: string, values: Record<string, string>): Materialized {
  const where = `compose.yaml service ${name}`;
  const service = compose.services[name]!;
  const problems: string[] = [];
  const root = scratch('grantry-compose');
  const secretFiles = new Map<string, { file: string; read: boolean }>();
  for (const entry of service.secrets ?? []) {
    const source = typeof entry === 'string' ? entry : entry.source;
    const target = typeof entry === 'string' ? entry : (entry.target ?? entry.source);
    const defined = compose.secrets?.[source];
    if (!defined?.file) {
      problems.push(`${where}: secret ${source} is not defined from a file at the top level`);
      continue;
    }
    if (!gitIgnored(path.join(ROOT, defined.file))) {
      problems.push(`${where}: secret file ${defined.file} is not git-ignored`);
    }
    const mounted = target.startsWith('/') ? target : `/run/secrets/${target}`;
    secretFiles.set(mounted, { file: path.join(root, 'secrets', source), read: false });
  }
  const writable = new Map<string, string>();
  const tmpfs = typeof service.tmpfs === 'string' ? [service.tmpfs] : (service.tmpfs ?? []);
  const volumes = (service.volumes ?? []).map((volume) =>
    typeof volume === 'string' ? volume.split(':')[1]! : volume.target,
  );
  for (const [index, target] of [...tmpfs.map((entry) => entry.split(':')[0]!), ...volumes].entries()) {
    const dir = path.join(root, `mount-${index}`);
    fs.mkdirSync(dir);
    writable.set(target, dir);
  }
  const env = composeEnvironment(service);
  for (const [variable, value] of Object.entries(env)) {
    if (SECRET_NAMES.includes(variable)) {
      problems.push(`${where}: ${variable} is written in compose.yaml; use ${variable}_FILE and a secret`);
    }
    if (variable.endsWith('_FILE') && SECRET_NAMES.includes(variable.slice(0, -'_FILE'.length))) {
      const secretFile = secretFiles.get(value);
      if (!secretFile) {
        problems.push(
          `${where}: ${variable}=${value} is no secret of the service (${[...secretFiles.keys()].join(', ') || 'none'})`,
        );
        continue;
      }
      secretFile.read = true;
      fs.mkdirSync(path.dirname(secretFile.file), { recursive: true });
      fs.writeFileSync(secretFile.file, `${values[variable.slice(0, -'_FILE'.length)] ?? ''}\n`);
      env[variable] = secretFile.file;
      continue;
    }
    for (const [target, dir] of writable) {
      if (value === target || value.startsWith(`${target}/`)) {
        env[variable] = path.join(dir, path.posix.relative(target, value));
      }
    }
  }
  for (const [mounted, { read }] of secretFiles) {
    if (!read) problems.push(`${where}: ${mounted} is mounted but no *_FILE variable reads it`);
  }
  return { env, writable, problems };
}

function covered(writable: Map<string, string>, dir: string): boolean {
  return [...writable.keys()].some(
    (mount) => dir === mount || dir.startsWith(`${mount.replace(/\/$/, '')}/`),
  );
}

/** The config the container's process would load (in WORKDIR /app), with DATA_DIR as the container's path. */
function configOf(materialized: Materialized): AppConfig {
  const config = loadConfig(materialized.env, '/app');
  for (const [mount, dir] of materialized.writable) {
    if (config.dataDir === dir || config.dataDir.startsWith(`${dir}/`)) {
      return { ...config, dataDir: path.posix.join(mount, path.relative(dir, config.dataDir)) };
    }
  }
  return config;
}

/** A container command as the image runs it: `grantry` is the package's bin (/usr/local/bin/grantry there). */
function runCommand(command: string[], env: Record<string, string>): Promise<Run> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    bin?: Record<string, string>;
  };
  const [program, ...args] = command;
  const bin = program === undefined ? undefined : pkg.bin?.[program];
  if (bin === undefined) {
    return Promise.resolve({ code: null, stdout: '', stderr: `"${program}" is no bin of package.json` });
  }
  return runProcess(process.execPath, [path.join(ROOT, bin), ...args], { cwd: ROOT, env });
}

/** kubernetes-models ships only ES modules, which Jest cannot load here: validate in a child Node process. */
const VALIDATE_SCRIPT = `
let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const document of JSON.parse(input)) {
  try {
    const module = await import('kubernetes-models/' + document.apiVersion + '/' + document.kind);
    new module[document.kind](document).validate();
    results.push(null);
  } catch (error) {
    results.push(String(error && error.message));
  }
}
process.stdout.write(JSON.stringify(results));
`;

function validateWithSchemas(manifests: Manifest[]): Promise<(string | null)[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module', '--eval', VALIDATE_SCRIPT],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as (string | null)[]);
      },
    );
    child.stdin?.end(JSON.stringify(manifests));
  });
}

/**
 * The schemas allow fields they do not know (kubectl's strict field validation rejects them on apply): a misspelt
 * `readinessProb` would pass them. So each document is also type-checked as an object literal against
 * kubernetes-models' TypeScript interfaces, where an unknown property is an error.
 */
function unknownFields(documents: { file: string; manifest: Manifest }[]): string[] {
  const file = path.join(ROOT, 'test', '__deployment_manifests__.ts');
  const text = documents
    .map(
      ({ manifest }, index) =>
        `export const document${index}: import('kubernetes-models/${manifest.apiVersion}/${manifest.kind}').I${manifest.kind} = ${JSON.stringify(manifest, null, 2)};\n`,
    )
    .join('');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, text, language) : getSourceFile(name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const lines = text.split('\n');
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (diagnostic.file?.fileName !== file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    const index = text.slice(0, diagnostic.start).split('\nexport const document').length - 1;
    const where = documents[index];
    return `${where?.file} ${where?.manifest.kind}/${where?.manifest.metadata.name}: ${message} (at ${lines[line]?.trim()})`;
  });
}

const BOOTSTRAP_TOKEN = randomBytes(32).toString('hex');
const METRICS_TOKEN = randomBytes(32).toString('hex');
const PLACEHOLDER_VALUES = {
  DATABASE_URL: 'postgres://grantry:secret@postgres:5432/grantry',
  BOOTSTRAP_TOKEN,
  SECRET_KEY: TEST_SECRET_KEY,
  METRICS_TOKEN,
};

const loaded = loadKubernetes();
const compose = loadCompose();
const deployment = only<DeploymentSpec>(loaded, 'Deployment');
const job = only<JobSpec>(loaded, 'Job');
const pods = [
  { where: `Deployment ${deployment.metadata.name}`, pod: deployment.spec.template.spec },
  { where: `Job ${job.metadata.name}`, pod: job.spec.template.spec },
];
const server = deployment.spec.template.spec.containers[0]!;
const migrator = job.spec.template.spec.containers[0]!;

function serverMaterialized(values: Record<string, string> = PLACEHOLDER_VALUES): Materialized {
  return materializePod(
    loaded,
    `Deployment ${deployment.metadata.name}`,
    deployment.spec.template.spec,
    server,
    values,
  );
}

describe('deploy/kubernetes', () => {
  it('lists every manifest in kustomization.yaml, and each parses', () => {
    const files = fs
      .readdirSync(KUBERNETES_DIR)
      .filter((name) => /\.ya?ml$/.test(name) && name !== 'kustomization.yaml')
      .sort();
    expect([...(loaded.kustomization.resources ?? [])].sort()).toEqual(files);
    expect(loaded.documents.length).toBeGreaterThan(0);
  });

  it('has only documents the Kubernetes schemas accept', async () => {
    const results = await validateWithSchemas(loaded.documents.map(({ manifest }) => manifest));
    const invalid = loaded.documents.flatMap(({ file, manifest }, index) =>
      results[index] === null
        ? []
        : [`${file} ${manifest.kind}/${manifest.metadata.name}: ${results[index]}`],
    );
    expect(invalid).toEqual([]);
    expect(results).toHaveLength(loaded.documents.length);
  });

  it('has no field the Kubernetes API does not know', () => {
    expect(unknownFields(loaded.documents)).toEqual([]);
  });

  it('sets only variables the code reads, and valid values for them', () => {
    for (const { where, pod } of pods) {
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const unknown = (container.env ?? [])
          .map(({ name }) => name)
          .filter((name) => !CONFIG_VARIABLES.includes(name));
        expect({ where, container: container.name, unknown }).toEqual({
          where,
          container: container.name,
          unknown: [],
        });
        // loadConfig throws a ConfigError naming the variable for a value the server would refuse at start.
        expect(() =>
          loadConfig(materializePod(loaded, where, pod, container, PLACEHOLDER_VALUES).env),
        ).not.toThrow();
      }
    }
  });

  it('takes the secrets from a Secret that the kustomization generates from git-ignored files', () => {
    const problems = pods.flatMap(({ where, pod }) =>
      pod.containers.flatMap(
        (container) => materializePod(loaded, where, pod, container, PLACEHOLDER_VALUES).problems,
      ),
    );
    expect(problems).toEqual([]);
    const generated = (loaded.kustomization.secretGenerator ?? []).flatMap((generator) =>
      (generator.files ?? []).map((entry) => entry.slice(entry.indexOf('=') + 1)),
    );
    expect(generated.length).toBeGreaterThan(0);
    expect(generated.filter((file) => !gitIgnored(path.join(KUBERNETES_DIR, file)))).toEqual([]);
    // No Secret with values in the repository.
    expect(loaded.documents.filter(({ manifest }) => manifest.kind === 'Secret')).toEqual([]);
  });

  it('exposes the port the server listens on, in the container, the Service and the probes', () => {
    const materialized = serverMaterialized();
    const { port } = loadConfig(materialized.env);
    expect(server.ports?.map(({ containerPort }) => containerPort)).toEqual([port]);
    const service = only<ServiceSpec>(loaded, 'Service');
    expect(service.spec.ports.map(({ targetPort }) => portNumber(server, targetPort))).toEqual([port]);
    const probes = [server.startupProbe, server.livenessProbe, server.readinessProbe];
    expect(probes.map((probe) => portNumber(server, probe?.httpGet?.port))).toEqual([port, port, port]);
    // With DATABASE_URL and no HOST the server listens on every interface, which the kubelet's probes need.
    expect(loadConfig(materialized.env).host ?? '0.0.0.0').toBe('0.0.0.0');
  });

  it('probes the real health routes: liveness without the database, readiness with it', () => {
    const paths = {
      startup: normalizePath(server.startupProbe?.httpGet?.path ?? ''),
      liveness: normalizePath(server.livenessProbe?.httpGet?.path ?? ''),
      readiness: normalizePath(server.readinessProbe?.httpGet?.path ?? ''),
    };
    expect(paths).toEqual({
      startup: healthRoute('live'),
      liveness: healthRoute('live'),
      readiness: healthRoute('ready'),
    });
  });

  it('runs the server and the migrations non-root, read-only, unprivileged, with somewhere to write', () => {
    for (const { where, pod } of pods) {
      expect({
        where,
        automount: pod.automountServiceAccountToken,
        hostNetwork: pod.hostNetwork ?? false,
        hostPID: pod.hostPID ?? false,
        hostIPC: pod.hostIPC ?? false,
      }).toEqual({
        where,
        automount: false,
        hostNetwork: false,
        hostPID: false,
        hostIPC: false,
      });
      const accounts = loaded.documents
        .filter(({ manifest }) => manifest.kind === 'ServiceAccount')
        .map(({ manifest }) => manifest.metadata.name);
      expect(accounts).toContain(pod.serviceAccountName);
      for (const container of pod.containers) {
        const context = container.securityContext ?? {};
        const effective = {
          where,
          runAsNonRoot: context.runAsNonRoot ?? pod.securityContext?.runAsNonRoot,
          // The image's user is a name (node): the kubelet enforces runAsNonRoot only with a numeric uid.
          numericNonRootUser: (context.runAsUser ?? pod.securityContext?.runAsUser ?? 0) > 0,
          readOnlyRootFilesystem: context.readOnlyRootFilesystem,
          allowPrivilegeEscalation: context.allowPrivilegeEscalation,
          privileged: context.privileged ?? false,
          dropsAll: context.capabilities?.drop?.includes('ALL') ?? false,
          adds: context.capabilities?.add ?? [],
        };
        expect(effective).toEqual({
          where,
          runAsNonRoot: true,
          numericNonRootUser: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          privileged: false,
          dropsAll: true,
          adds: [],
        });
        // Node writes temporary files to /tmp (TMPDIR is unset in the image); the server writes the first-start key
        // to DATA_DIR. With a read-only root filesystem both must be mounts.
        const materialized = materializePod(loaded, where, pod, container, PLACEHOLDER_VALUES);
        const needed = container === server ? ['/tmp', configOf(materialized).dataDir] : ['/tmp'];
        expect({ where, uncovered: needed.filter((dir) => !covered(materialized.writable, dir)) }).toEqual({
          where,
          uncovered: [],
        });
        expect({
          where,
          requests: Object.keys(container.resources?.requests ?? {}).sort(),
          limitsMemory: container.resources?.limits?.memory !== undefined,
        }).toEqual({
          where,
          requests: ['cpu', 'memory'],
          limitsMemory: true,
        });
      }
    }
  });

  it('gives in-flight requests time to finish before the kubelet kills the server', () => {
    const { shutdownTimeoutMs } = loadConfig(serverMaterialized().env);
    const pauseMs = (server.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
    const graceMs = (deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    expect({
      graceMs,
      pauseMs,
      shutdownTimeoutMs,
      graceExceedsBoth: graceMs > pauseMs + shutdownTimeoutMs,
    }).toEqual({
      graceMs,
      pauseMs,
      shutdownTimeoutMs,
      graceExceedsBoth: true,
    });
  });

  it('selects the server pods, and only them, from the Deployment, Service, budget, spread and autoscaler', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    const jobLabels = job.spec.template.metadata.labels;
    const service = only<ServiceSpec>(loaded, 'Service');
    const pdb = only<PdbSpec>(loaded, 'PodDisruptionBudget');
    const hpa = only<HpaSpec>(loaded, 'HorizontalPodAutoscaler');
    const selectors: Record<string, Record<string, string> | undefined> = {
      deployment: deployment.spec.selector.matchLabels,
      service: service.spec.selector,
      pdb: pdb.spec.selector.matchLabels,
      ...Object.fromEntries(
        (deployment.spec.template.spec.topologySpreadConstraints ?? []).map((constraint, index) => [
          `topologySpread${index}`,
          constraint.labelSelector?.matchLabels,
        ]),
      ),
    };
    const verdicts = Object.fromEntries(
      Object.entries(selectors).map(([name, selector]) => [
        name,
        { server: matches(selector, podLabels), migrations: matches(selector, jobLabels) },
      ]),
    );
    expect(verdicts).toEqual(
      Object.fromEntries(Object.keys(selectors).map((name) => [name, { server: true, migrations: false }])),
    );
    expect(deployment.spec.selector.matchExpressions).toBeUndefined();
    expect(pdb.spec.selector.matchExpressions).toBeUndefined();

    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    // A CPU utilisation target is a fraction of the request: without one the autoscaler cannot act.
    const cpuMetric = hpa.spec.metrics?.some(
      (metric) => metric.type === 'Resource' && metric.resource?.name === 'cpu',
    );
    expect({ cpuMetric, cpuRequest: server.resources?.requests?.cpu !== undefined }).toEqual({
      cpuMetric: true,
      cpuRequest: true,
    });
    // The autoscaler owns the replica count; `kubectl apply` of a count would fight it.
    expect(deployment.spec.replicas).toBeUndefined();
    const minReplicas = hpa.spec.minReplicas ?? 1;
    expect(minReplicas).toBeGreaterThanOrEqual(2);
    // At the fewest replicas, a drain can evict one pod and one stays.
    const maxUnavailable =
      pdb.spec.maxUnavailable !== undefined
        ? Number(pdb.spec.maxUnavailable)
        : minReplicas - Number(pdb.spec.minAvailable ?? minReplicas);
    expect({ evictable: maxUnavailable >= 1, keepsOne: minReplicas - maxUnavailable >= 1 }).toEqual({
      evictable: true,
      keepsOne: true,
    });
  });

  it('runs the migrations in the Job, not at server start, from the same image', () => {
    expect(loadConfig(serverMaterialized().env).runMigrations).toBe(false);
    expect(migrator.image).toBe(server.image);
    expect(migrator.command?.[0]).toBeDefined();
    expect(migrator.args).toBeUndefined();
    // `kustomize edit set image` must reach every container.
    const images = (loaded.kustomization.images ?? []).map(({ name }) => name);
    const used = pods.flatMap(({ pod }) => pod.containers.map(({ image }) => image.replace(/[:@].*$/, '')));
    expect(used.filter((image) => !images.includes(image))).toEqual([]);
  });

  describe('run as written', () => {
    const databases = new ScratchDatabases('grantry_deploy_kubernetes');
    let databaseUrl: string;

    beforeAll(async () => {
      databaseUrl = await databases.create();
    });

    afterAll(() => databases.dropAll());

    it('the Job migrates a fresh database, then a server with the Deployment environment passes its probes', async () => {
      const values = {
        DATABASE_URL: databaseUrl,
        BOOTSTRAP_TOKEN,
        SECRET_KEY: TEST_SECRET_KEY,
        METRICS_TOKEN,
      };
      const jobRun = materializePod(loaded, 'Job', job.spec.template.spec, migrator, values);
      const migration = await runCommand(migrator.command ?? [], jobRun.env);
      expect({ code: migration.code, stderr: migration.stderr }).toEqual({ code: 0, stderr: '' });
      expect(migration.stdout).toMatch(/^Applied \d+ migration\(s\):\n/);

      const serverRun = serverMaterialized(values);
      // Any free port on loopback here; the port the manifests use is checked above.
      const started = await startServer({ ...serverRun.env, PORT: '0', HOST: '127.0.0.1' });
      try {
        const answers: Record<string, { status: number; body: unknown }> = {};
        for (const [name, probe] of Object.entries({
          startup: server.startupProbe,
          liveness: server.livenessProbe,
          readiness: server.readinessProbe,
        })) {
          const response = await fetch(`${started.url}${probe?.httpGet?.path ?? ''}`);
          answers[name] = { status: response.status, body: await response.json() };
        }
        expect(answers).toEqual({
          startup: { status: 200, body: { status: 'ok' } },
          liveness: { status: 200, body: { status: 'ok' } },
          readiness: { status: 200, body: { status: 'ok', database: 'ok', migrations: 'ok' } },
        });
        // The bootstrap token from the Secret file is the superuser's key.
        const whoami = await fetch(`${started.url}/api/v3/grantry/whoami/`, {
          headers: { authorization: `Bearer ${BOOTSTRAP_TOKEN}` },
        });
        expect(whoami.status).toBe(200);
        // The Prometheus annotations name the metrics route and port, which the metrics token from the Secret opens.
        const annotations = deployment.spec.template.metadata.annotations ?? {};
        expect(Number(annotations['prometheus.io/port'])).toBe(portNumber(server, 'http'));
        const metricsUrl = `${started.url}${annotations['prometheus.io/path'] ?? ''}`;
        const scraped = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        expect([scraped.status, scraped.headers.get('content-type')]).toEqual([
          200,
          'text/plain; version=0.0.4; charset=utf-8',
        ]);
        expect((await fetch(metricsUrl)).status).toBe(401);
      } finally {
        started.child.kill('SIGTERM');
        await started.exited;
      }
    }, 120_000);
  });
});

describe('compose.yaml', () => {
  const grantry = compose.services.grantry!;
  const migrate = compose.services.migrate!;

  it('has a grantry and a migrate service from the same image', () => {
    expect(grantry).toBeDefined();
    expect(migrate).toBeDefined();
    expect(migrate.image).toBe(grantry.image);
  });

  it('sets only variables the code reads, takes the secrets from git-ignored files, and loads', () => {
    for (const name of ['grantry', 'migrate']) {
      const env = composeEnvironment(compose.services[name]!);
      expect({
        name,
        unknown: Object.keys(env).filter((variable) => !CONFIG_VARIABLES.includes(variable)),
      }).toEqual({
        name,
        unknown: [],
      });
      const materialized = materializeCompose(compose, name, PLACEHOLDER_VALUES);
      expect(materialized.problems).toEqual([]);
      expect(() => loadConfig(materialized.env)).not.toThrow();
    }
  });

  it('publishes the port the server listens on, and health-checks a real health route on it', () => {
    const { port } = loadConfig(materializeCompose(compose, 'grantry', PLACEHOLDER_VALUES).env);
    const published = (grantry.ports ?? []).map((entry) =>
      typeof entry === 'string' ? Number(entry.split(':').at(-1)) : entry.target,
    );
    expect(published).toEqual([port]);
    const test = Array.isArray(grantry.healthcheck?.test)
      ? grantry.healthcheck.test.join(' ')
      : (grantry.healthcheck?.test ?? '');
    const url = /https?:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[^'"`\s)]*)/.exec(test);
    expect({
      port: Number(url?.[1]),
      routeIsHealth: [healthRoute('live'), healthRoute('ready')].includes(normalizePath(url?.[2] ?? '')),
    }).toEqual({
      port,
      routeIsHealth: true,
    });
  });

  it('runs read-only and unprivileged, with somewhere to write, and time to drain', () => {
    for (const name of ['grantry', 'migrate']) {
      const service = compose.services[name]!;
      expect({
        name,
        readOnly: service.read_only,
        capDrop: service.cap_drop,
        noNewPrivileges: service.security_opt?.includes('no-new-privileges:true'),
        user: service.user ?? 'image',
      }).toEqual({
        name,
        readOnly: true,
        capDrop: ['ALL'],
        noNewPrivileges: true,
        user: 'image',
      });
    }
    const materialized = materializeCompose(compose, 'grantry', PLACEHOLDER_VALUES);
    const config = configOf(materialized);
    expect(['/tmp', config.dataDir].filter((dir) => !covered(materialized.writable, dir))).toEqual([]);
    const graceMs = durationMs(grantry.stop_grace_period);
    expect({
      graceMs,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      graceExceeds: graceMs > config.shutdownTimeoutMs,
    }).toEqual({
      graceMs,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      graceExceeds: true,
    });
  });

  it('starts the server only after the migrate service has succeeded, since it does not migrate itself', () => {
    const config = loadConfig(materializeCompose(compose, 'grantry', PLACEHOLDER_VALUES).env);
    const dependsOn = Array.isArray(grantry.depends_on) ? {} : (grantry.depends_on ?? {});
    expect({ runMigrations: config.runMigrations, migrate: dependsOn.migrate?.condition }).toEqual({
      runMigrations: false,
      migrate: 'service_completed_successfully',
    });
  });

  describe('run as written', () => {
    const databases = new ScratchDatabases('grantry_deploy_compose');
    let databaseUrl: string;

    beforeAll(async () => {
      databaseUrl = await databases.create();
    });

    afterAll(() => databases.dropAll());

    it('migrate migrates a fresh database, then grantry passes its health check', async () => {
      const values = { DATABASE_URL: databaseUrl, BOOTSTRAP_TOKEN, SECRET_KEY: TEST_SECRET_KEY };
      const migration = await runCommand(
        composeCommand(migrate) ?? [],
        materializeCompose(compose, 'migrate', values).env,
      );
      expect({ code: migration.code, stderr: migration.stderr }).toEqual({ code: 0, stderr: '' });
      expect(migration.stdout).toMatch(/^Applied \d+ migration\(s\):\n/);

      const started = await startServer({
        ...materializeCompose(compose, 'grantry', values).env,
        PORT: '0',
        HOST: '127.0.0.1',
      });
      try {
        const test = Array.isArray(grantry.healthcheck?.test) ? grantry.healthcheck.test.join(' ') : '';
        const route = /https?:\/\/(?:127\.0\.0\.1|localhost):\d+(\/[^'"`\s)]*)/.exec(test)?.[1] ?? '';
        const response = await fetch(`${started.url}${route}`);
        expect(response.status).toBe(200);
      } finally {
        started.child.kill('SIGTERM');
        await started.exited;
      }
    }, 120_000);
  });
});
