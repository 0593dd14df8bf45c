/**
 * Where the shared tier lives and how its client is configured: the
 * `s3://BUCKET[/PREFIX]` URL, and the settings every AWS tool reads
 * (variables first, then the profile's config).
 *
 * @module
 */

/** Where the shared tier lives: `s3://BUCKET[/PREFIX]`. */
export interface S3Location {
  /** Bucket name. */
  bucket: string;
  /** Key prefix, "" or ending in "/". */
  prefix: string;
}

/**
 * Parses `s3://BUCKET[/PREFIX]`.
 *
 * @throws {SyntaxError} when it is not an s3:// URL with a valid bucket name.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url.trim());
  // Bucket names: 3-63 of lower-case letters, digits, dots and hyphens (S3's rules,
  // loosened for the underscores and capitals some self-hosted stores accept).
  if (m === null || !/^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/.test(m[1]!)) {
    throw new SyntaxError(`expected s3://BUCKET[/PREFIX], got ${JSON.stringify(url)}`);
  }
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  return { bucket: m[1]!, prefix: prefix === "" ? "" : `${prefix}/` };
}

/** The resolved client settings (for `hoard stats --shared` and tests). */
export interface S3Settings {
  /** Custom endpoint, when one is configured. */
  endpoint?: string;
  /** Region (us-east-1 when nothing says: custom stores ignore it). */
  region: string;
  /** Path-style addressing (custom endpoints). */
  forcePathStyle: boolean;
  /** Keys from the variables; without them the SDK's provider chain finds some (profile files, SSO, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Every variable the settings are read from (a worker thread gets them from the main one). */
export const S3_VARIABLES: readonly string[] = [
  "AWS_PROFILE",
  "HOME",
  "USERPROFILE",
  "AWS_CONFIG_FILE",
  "AWS_ENDPOINT_URL_S3",
  "AWS_ENDPOINT_URL",
  "AWS_REGION",
  "AWS_DEFAULT_REGION",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
];

/** Reads a variable; undefined without --allow-env. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Endpoint and region from the environment and the profile's section of the
 * config file (`AWS_CONFIG_FILE`, else `~/.aws/config`); credentials are left
 * to the SDK's provider chain, which reads the same files.
 */
export async function resolveSettings(env: EnvReader): Promise<S3Settings> {
  const profile = env("AWS_PROFILE") ?? "default";
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  const file = env("AWS_CONFIG_FILE") ?? `${home}/.aws/config`;
  let config: Record<string, string> = {};
  try {
    config = iniSection(
      await Deno.readTextFile(file),
      profile === "default" ? "default" : `profile ${profile}`,
    );
  } catch {
    // No config file: the variables alone.
  }
  const endpoint = env("AWS_ENDPOINT_URL_S3") || env("AWS_ENDPOINT_URL") ||
    config["endpoint_url"] || undefined;
  const region = env("AWS_REGION") || env("AWS_DEFAULT_REGION") || config["region"] ||
    "us-east-1";
  const accessKeyId = env("AWS_ACCESS_KEY_ID"), secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
  const sessionToken = env("AWS_SESSION_TOKEN") || undefined;
  return {
    ...(endpoint === undefined ? {} : { endpoint }),
    region,
    forcePathStyle: endpoint !== undefined,
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
  };
}

/** The keys of one `[section]` of an INI file (the AWS config format; comments with # or ;). */
export function iniSection(text: string, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (head !== null) {
      inside = head[1]!.replace(/\s+/g, " ") === section;
      continue;
    }
    // Indented lines belong to a nested block (`s3 =` sub-settings): not read here.
    if (!inside || /^\s/.test(raw)) continue;
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}
