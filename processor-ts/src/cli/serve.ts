import { DEFAULT_FLAMEGRAPH_BYTES } from '../aggregate/setup.js';
import { DEFAULT_MAX_STREAMS } from '../aggregate/window.js';
import { DEFAULT_POLICY } from '../engine/policy.js';
import { createLogger, isLogLevel } from '../log.js';
import { DEFAULT_LISTEN, DEFAULT_READ_MAX_BYTES, DEFAULT_UNIX, type RunningServer, type ServerOptions, startServer } from '../server.js';

export const SERVE_USAGE =
  'usage: ebpf-otel-sidecar serve [--listen HOST:PORT | --no-tcp] [--unix PATH] [--read-max-bytes N]\n' +
  '                               [--cache-bytes N] [--max-concurrent N] [--log-level debug|info|warn|error]\n' +
  `  --listen          loopback TCP address (default ${DEFAULT_LISTEN}; port 0 picks a free port)\n` +
  '  --no-tcp          do not listen on TCP (use with --unix)\n' +
  `  --unix            the RPCs' unix socket, mode 0600; its directory is made 0700 if missing (default ${DEFAULT_UNIX})\n` +
  '  --no-unix         no unix socket (then the RPCs need --token-file over TCP)\n' +
  `  --read-max-bytes  largest request accepted (default ${DEFAULT_READ_MAX_BYTES})\n` +
  '  --cache-bytes     parsed-file cache budget (default 268435456)\n' +
  '  --max-concurrent  requests symbolized at once (default 4; 64 more may wait)\n' +
  '  --pprof-dir       write each flushed aggregation window as gzipped pprof files here\n' +
  '  --pprof-max-bytes size cap of --pprof-dir (default 268435456); the oldest files go first\n' +
  `  --max-streams     aggregation streams holding data at once (default ${DEFAULT_MAX_STREAMS}); new ones beyond are refused\n` +
  `  --flamegraph-bytes memory of the flame graph page's last windows (default ${DEFAULT_FLAMEGRAPH_BYTES}); the oldest go first\n` +
  '  --build-id-dirs   comma-separated absolute directories indexed by build ID, lazily (e.g. /usr/lib,/usr/bin)\n' +
  'what the symbolizer may read (requests may only narrow it):\n' +
  '  --root DIR        read only files whose path (as the process sees it) is under DIR; repeatable (default: any path under /proc/PID/root)\n' +
  '  --debug-dir DIR   look for separate debug files here; repeatable (default /usr/lib/debug)\n' +
  `  --max-file-bytes  largest object or debug file read (default ${DEFAULT_POLICY.maxFileBytes})\n` +
  '  --host-paths      also read mapping paths on this machine\'s own filesystem, not only under /proc/PID/root\n' +
  'who may call (the RPCs are served on the unix socket; TCP serves the page, /metrics and health):\n' +
  '  --allow-host NAME another Host name the TCP listener answers to; repeatable\n' +
  '  --token-file FILE bearer token (first line, file mode 0600) that opens the RPCs over TCP\n' +
  '  --insecure-listen allow a --listen address beyond loopback (needs --token-file; kernel symbols are then never answered)\n';

/** Parses `serve` flags into server options. Throws with a message naming the flag. */
export function parseServeArgs(argv: readonly string[]): ServerOptions & { logLevel: string } {
  const o: ServerOptions & { logLevel: string } = { listen: DEFAULT_LISTEN, unix: DEFAULT_UNIX, logLevel: 'info' };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n <= 0) throw new Error(`${flag}: "${v ?? ''}" is not a positive integer`);
    return n;
  };
  const absolute = (flag: string, d: string | undefined): string => {
    if (!d?.startsWith('/')) throw new Error(`${flag}: "${d ?? ''}" is not an absolute directory`);
    return d;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string | undefined => argv[++i];
    switch (a) {
      case '--listen': o.listen = v(); if (!o.listen) throw new Error('--listen: needs HOST:PORT'); break;
      case '--no-tcp': o.listen = undefined; break;
      case '--unix': o.unix = v(); if (!o.unix) throw new Error('--unix: needs a path'); break;
      case '--no-unix': o.unix = undefined; break;
      case '--read-max-bytes': o.readMaxBytes = num(a, v()); break;
      case '--cache-bytes': o.cacheBytes = num(a, v()); break;
      case '--max-concurrent': o.maxConcurrent = num(a, v()); break;
      case '--kallsyms': o.kallsymsPath = v(); break;
      case '--pprof-dir': o.pprofDir = v(); if (!o.pprofDir) throw new Error('--pprof-dir: needs a directory'); break;
      case '--pprof-max-bytes': o.pprofMaxBytes = num(a, v()); break;
      case '--max-streams': o.maxStreams = num(a, v()); break;
      case '--flamegraph-bytes': o.flamegraphBytes = num(a, v()); break;
      case '--build-id-dirs': {
        const dirs = (v() ?? '').split(',').filter((d) => d !== '');
        if (dirs.length === 0) throw new Error('--build-id-dirs: needs DIR[,DIR...]');
        for (const d of dirs) if (!d.startsWith('/')) throw new Error(`--build-id-dirs: "${d}" is not an absolute directory`);
        o.buildIdDirs = [...(o.buildIdDirs ?? []), ...dirs];
        break;
      }
      case '--root': o.policy = { ...o.policy, roots: [...(o.policy?.roots ?? []), absolute(a, v())] }; break;
      case '--debug-dir': o.policy = { ...o.policy, debugDirs: [...(o.policy?.debugDirs ?? []), absolute(a, v())] }; break;
      case '--max-file-bytes': o.policy = { ...o.policy, maxFileBytes: num(a, v()) }; break;
      case '--host-paths': o.policy = { ...o.policy, hostPaths: true }; break;
      case '--allow-host': o.allowHosts = [...(o.allowHosts ?? []), v() ?? '']; if (!o.allowHosts.at(-1)) throw new Error('--allow-host: needs a name'); break;
      case '--token-file': o.tokenFile = v(); if (!o.tokenFile) throw new Error('--token-file: needs a file'); break;
      case '--insecure-listen': o.insecureListen = true; break;
      case '--log-level': {
        const l = v() ?? '';
        if (!isLogLevel(l)) throw new Error(`--log-level: "${l}" is not one of debug, info, warn, error`);
        o.logLevel = l;
        break;
      }
      default: throw new Error(`unknown flag "${a}"`);
    }
  }
  if (o.listen === undefined && o.unix === undefined) throw new Error('--no-tcp and --no-unix together: the sidecar must listen somewhere');
  return o;
}

/** `ebpf-otel-sidecar serve`: runs until SIGINT or SIGTERM, then shuts down gracefully. */
export async function runServe(argv: readonly string[], io: { error: (s: string) => void }, signals: NodeJS.EventEmitter = process): Promise<number> {
  let opts: ReturnType<typeof parseServeArgs>;
  try {
    opts = parseServeArgs(argv);
  } catch (e) {
    io.error(`serve: ${(e as Error).message}\n${SERVE_USAGE}`);
    return 2;
  }
  const log = createLogger({ level: isLogLevel(opts.logLevel) ? opts.logLevel : 'info', fields: { component: 'ebpf-otel-sidecar' } });
  let server: RunningServer;
  try {
    server = await startServer({ ...opts, log });
  } catch (e) {
    log.error('cannot start', { error: e });
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info('shutting down', { signal: sig });
      signals.off('SIGINT', onInt);
      signals.off('SIGTERM', onTerm);
      resolve();
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    signals.on('SIGINT', onInt);
    signals.on('SIGTERM', onTerm);
  });
  await server.close();
  return 0;
}
