import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config/schema.js';
import { RateLimitedLog } from '../../logger.js';
import { LOG_PARSE_ERRORS } from '../../parse/dialects/index.js';
import { registerSource, type InputSource, type SourceContext } from '../registry.js';
import type { Position } from './positions.js';
import { ROTATION_KINDS, Tailer, type RotationKind } from './tailer.js';

/** Drop reasons of the log input (the `reason` label of sip_exporter_dropped_total{source="log"}). */
export const LOG_DROP_REASONS = ['line_too_long'] as const;

/** The log input's own metrics, created once per registry (an input restarted by a reload reuses them). */
export class LogMetrics {
  readonly lines: Counter;
  readonly bytes: Counter;
  readonly files: Gauge;
  readonly rotations: Counter<'kind'>;
  readonly fileErrors: Counter;
  /** Open files of the running log input (0 when it is stopped). */
  openFiles: () => number = () => 0;

  private static readonly byRegistry = new WeakMap<Registry, LogMetrics>();

  static for(registry: Registry): LogMetrics {
    let m = LogMetrics.byRegistry.get(registry);
    if (!m) {
      m = new LogMetrics(registry);
      LogMetrics.byRegistry.set(registry, m);
    }
    return m;
  }

  private constructor(registry: Registry) {
    this.lines = new Counter({
      name: 'sip_exporter_log_lines_total',
      help: 'Complete lines read from log files, including lines that were too long to parse.',
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'sip_exporter_log_bytes_total',
      help: 'Bytes read from log files.',
      registers: [registry],
    });
    const self = this;
    this.files = new Gauge({
      name: 'sip_exporter_log_files_watched',
      help: 'Log files currently open for reading, including rotated files still being read to their end.',
      registers: [registry],
      collect() {
        this.set(self.openFiles());
      },
    });
    this.rotations = new Counter({
      name: 'sip_exporter_log_rotations_total',
      help: 'Log file rotations noticed, by kind: rename (the file was moved away, a new one is read from its start), truncate (the file shrank or was rewritten, as with copytruncate, and is read again from its start) and delete (the file was removed).',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.fileErrors = new Counter({
      name: 'sip_exporter_log_file_errors_total',
      help: 'Errors opening, reading or checking log files or writing the position file (for example permission denied); the exporter log names the file.',
      registers: [registry],
    });
    for (const kind of ROTATION_KINDS) this.rotations.inc({ kind }, 0);
  }
}

/** The log-file input: follows files and hands every parse result to the pipeline. */
class LogSource implements InputSource {
  private readonly tailer: Tailer;
  private readonly metrics: LogMetrics;
  private readonly previous: Position[] | undefined;

  constructor(ctx: SourceContext) {
    const { config, pipeline, logger } = ctx;
    this.previous = Array.isArray(ctx.previous) ? (ctx.previous as Position[]) : undefined;
    const c = config.log;
    const m = LogMetrics.for(pipeline.registry);
    this.metrics = m;
    const limited = new RateLimitedLog(logger);
    this.tailer = new Tailer({
      paths: c.path,
      parser: { dialect: c.dialect, patterns: c.patterns },
      fromBeginning: c['from-beginning'],
      maxLineLength: c['max-line-length'],
      pollIntervalMs: c['poll-interval'],
      rotateWaitMs: c['rotate-wait'],
      ...(c['position-file'] !== '' ? { positionFile: c['position-file'] } : {}),
      positionIntervalMs: c['position-interval'],
      onResult: (r) => pipeline.accept('log', r),
      onStats: (s) => {
        m.lines.inc(s.lines);
        m.bytes.inc(s.bytes);
        if (s.tooLong > 0) pipeline.drop('log', 'line_too_long', s.tooLong);
      },
      onRotation: (kind: RotationKind, path) => {
        m.rotations.inc({ kind });
        logger.info({ path, kind }, 'log file rotated');
      },
      onError: (what, path, err) => {
        m.fileErrors.inc();
        limited.warn(`${what}:${path}`, { path, err: (err as Error).message }, what);
      },
      onInfo: (msg, fields) => logger.info(fields, msg),
    });
  }

  async start(): Promise<void> {
    await this.tailer.start(this.previous);
    this.metrics.openFiles = () => this.tailer.openFiles;
  }

  async stop(): Promise<void> {
    this.metrics.openFiles = () => 0;
    await this.tailer.stop();
  }

  handoff(): Position[] {
    return this.tailer.finalPositions;
  }
}

/** What the log input depends on, as plain data (compiled patterns compare by their source). */
export function logSettings(config: Config): unknown {
  const c = config.log;
  return { ...c, patterns: c.patterns.map((p) => ({ name: p.name, regex: p.regex.source, flags: p.regex.flags, marker: p.marker })) };
}

registerSource({
  name: 'log',
  enabled: (config) => config.log.path.length > 0,
  settings: logSettings,
  create: (ctx) => new LogSource(ctx),
  parseErrorReasons: LOG_PARSE_ERRORS,
  dropReasons: LOG_DROP_REASONS,
});
