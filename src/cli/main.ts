import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Catalogue, CatalogueError } from '../classify/catalogue.js';
import { tuneRuntime } from './runtime.js';
import { ConfigError, resolveConfig, type ConfigSources } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../logger.js';
import { PACKAGE } from '../paths.js';
import { parseArgs, UsageError, type ParsedArgs } from './args.js';
import { loadWebConfig, WebConfigError } from '../http/webconfig.js';
import { explain } from './explain.js';
import { replayCommand } from './replay.js';
import { usage } from './help.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

/** A subcommand; `run` is the default. */
export interface Command {
  summary: string;
  /** Options of its own (not config keys). */
  options?: readonly string[];
  booleans?: readonly string[];
  run(args: ParsedArgs, io: Io): Promise<number>;
}

function configSources(args: ParsedArgs, env: NodeJS.ProcessEnv): ConfigSources {
  const file = args.config ?? env.SIP_EXPORTER_CONFIG;
  return { flags: args.flags, env, ...(file !== undefined ? { file } : {}) };
}

export const COMMANDS: Record<string, Command> = {
  run: {
    summary: '  sip-response-exporter [run] [flags]',
    run: runDaemon,
  },
  explain: {
    summary: '  sip-response-exporter explain CODE       what a status code means, its causes and actions',
    async run(args, io) {
      const text = args.positional[1];
      if (text === undefined) throw new UsageError('explain needs a status code, e.g. explain 486');
      const [rc, out] = explain(Catalogue.load(), text);
      (rc === 0 ? io.out : io.err)(out);
      return rc;
    },
  },
  'check-config': {
    summary: '  sip-response-exporter check-config FILE  validate a config file (with env and flags applied)',
    async run(args, io) {
      const file = args.positional[1];
      if (file === undefined) throw new UsageError('check-config needs a file, e.g. check-config /etc/sip-response-exporter.yml');
      const config = resolveConfig({ flags: args.flags, env: io.env, file });
      if (config.web['config-file']) loadWebConfig(config.web['config-file']);
      io.out(`${file}: configuration is valid\n`);
      return 0;
    },
  },
  replay: replayCommand,
};

async function runDaemon(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positional.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args.positional[1])}`);
  const sources = configSources(args, io.env);
  const config: Config = resolveConfig(sources);
  if (config.web['config-file']) loadWebConfig(config.web['config-file']); // fail fast with exit 2
  const logger = createLogger(config.logging.level);
  tuneRuntime();
  const daemon = new Daemon(config, logger);

  /** Validates the new config whole before touching anything; a bad one leaves the old one running. */
  const reload = async (): Promise<void> => {
    let next: Config;
    try {
      next = resolveConfig(configSources(args, io.env));
      if (next.web['config-file']) loadWebConfig(next.web['config-file']);
    } catch (err) {
      daemon.pipeline.self.configReloads.inc({ result: 'failure' });
      logger.error({ err: (err as Error).message }, 'new configuration rejected; the running one stays');
      throw err;
    }
    try {
      await daemon.reload(next);
    } catch (err) {
      daemon.pipeline.self.configReloads.inc({ result: 'failure' });
      logger.error({ err: (err as Error).message }, 'configuration reload failed while restarting inputs');
      throw err;
    }
    daemon.pipeline.self.configReloads.inc({ result: 'success' });
    logger.info('configuration reloaded');
  };
  daemon.onReloadRequest = reload;

  // Signal handlers go in before start-up: Node's default action for SIGHUP is to exit, and a reload
  // or stop request that arrives while inputs start must wait for them, not kill the process.
  let started = false;
  let reloadPending = false;
  let stopSignal: string | undefined;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const shutdown = (signal: string): void => {
    if (stopSignal !== undefined && started) return;
    stopSignal = signal;
    if (!started) return; // start-up finishes first, then stops
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: config.general['shutdown-timeout'] }, 'shutdown timed out; exiting anyway');
      finish(1);
    }, config.general['shutdown-timeout']);
    timer.unref();
    daemon.stop().then(
      () => {
        clearTimeout(timer);
        logger.info('stopped');
        finish(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        finish(1);
      },
    );
  };
  const onTerm = (): void => shutdown('SIGTERM');
  const onInt = (): void => shutdown('SIGINT');
  const onHup = (): void => {
    if (!started) {
      reloadPending = true;
      return;
    }
    reload().catch(() => undefined); // already logged and counted
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);

  try {
    await daemon.start();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'start-up failed');
    await daemon.stop();
    process.off('SIGTERM', onTerm).off('SIGINT', onInt).off('SIGHUP', onHup);
    return 1;
  }
  started = true;
  if (stopSignal !== undefined) shutdown(stopSignal);
  else if (reloadPending) onHup();
  return done;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const first = argv.find((a) => !a.startsWith('-'));
  const name = first !== undefined && first in COMMANDS ? first : 'run';
  const cmd = COMMANDS[name] as Command;
  try {
    const args = parseArgs(argv, new Set(cmd.options ?? []), new Set(cmd.booleans ?? []));
    if (name === 'run' && args.positional[0] === 'run') args.positional.shift();
    if (name === 'run') args.positional.unshift('run');
    if (args.version) {
      io.out(`sip-response-exporter ${PACKAGE.version} (node ${process.version})\n`);
      return 0;
    }
    if (args.help) {
      io.out(usage(Object.entries(COMMANDS).filter(([n]) => n !== 'run').map(([, c]) => c.summary).join('\n')));
      return 0;
    }
    return await cmd.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\nRun with --help for usage.\n`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof CatalogueError || err instanceof WebConfigError) {
      io.err(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** Runs the CLI on process.argv and exits with its status. */
export function cliEntry(): void {
  main(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
  }).then(
    (code) => {
      process.exitCode = code;
      // Give pino and sockets a moment to flush, then make sure nothing keeps the process alive.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

const isEntry = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (isEntry) cliEntry();
