import type { Config } from '../config/schema.js';
import type { Source } from '../event.js';
import type { Logger } from '../logger.js';
import type { Pipeline } from '../pipeline.js';

/** What a running input gets from the daemon. */
export interface SourceContext {
  config: Config;
  pipeline: Pipeline;
  logger: Logger;
  /** State handed over by the instance this one replaces on reload (see InputSource.handoff). */
  previous?: unknown;
}

/** A running input (log tailer, HEP listener, syslog listener). */
export interface InputSource {
  /** Binds sockets / opens files; rejects if the input cannot start. */
  start(): Promise<void>;
  /** Stops accepting input, finishes in-flight work, saves state. */
  stop(): Promise<void>;
  /** Addresses actually bound (useful with port 0 in tests), if any. */
  addresses?(): Record<string, string>;
  /**
   * State to hand to the replacement when a reload restarts this input with new settings, read after
   * stop() (the log input hands over its read positions, so no line is lost or read twice).
   */
  handoff?(): unknown;
}

/** Registered once per input kind, like node_exporter's collectors. */
export interface SourceFactory {
  name: Source;
  /** Whether the config enables this input. */
  enabled(config: Config): boolean;
  /**
   * The part of the config this input depends on; on reload an input whose settings are unchanged
   * keeps running with its state.
   */
  settings(config: Config): unknown;
  create(ctx: SourceContext): InputSource;
  /** Bounded label values this input uses, so their series exist at zero from the start. */
  parseErrorReasons?: readonly string[];
  dropReasons?: readonly string[];
  countsRequests?: boolean;
}

const factories = new Map<Source, SourceFactory>();

export function registerSource(f: SourceFactory): void {
  if (factories.has(f.name)) throw new Error(`source ${f.name} registered twice`);
  factories.set(f.name, f);
}

export function registeredSources(): SourceFactory[] {
  return [...factories.values()];
}
