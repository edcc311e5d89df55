import { Catalogue } from './classify/catalogue.js';
import { formatListenAddress } from './config/parsers.js';
import type { Config } from './config/schema.js';
import type { Logger } from './logger.js';
import { Pipeline } from './pipeline.js';
import { OtelExport, otelEnabled } from './metrics/otel/index.js';
import { startHttp, type HttpServer } from './http/server.js';
import { loadWebConfig } from './http/webconfig.js';
import { registeredSources } from './sources/index.js';
import type { InputSource, SourceFactory } from './sources/registry.js';

interface Running {
  factory: SourceFactory;
  input: InputSource;
  settings: string;
}

/**
 * Wires the pipeline, the HTTP server and every enabled input; owns start-up, reload and shutdown.
 */
export class Daemon {
  readonly pipeline: Pipeline;
  private http: HttpServer | undefined;
  /** OTLP metrics export (src/metrics/otel), when enabled. */
  private otel: OtelExport | undefined;
  private readonly running = new Map<string, Running>();
  private starting = true;
  private failed = new Set<string>();

  /** Called by POST /-/reload when web.enable-lifecycle is on (set by the CLI, which owns config loading). */
  onReloadRequest: (() => Promise<void>) | undefined;

  constructor(private config: Config, private readonly logger: Logger, catalogue: Catalogue = Catalogue.load()) {
    this.pipeline = new Pipeline(catalogue);
  }

  async start(): Promise<void> {
    const web = this.config.web['listen-address'];
    if (web) {
      const webConfigFile = this.config.web['config-file'];
      this.http = await startHttp({
        ...(webConfigFile ? { web: loadWebConfig(webConfigFile) } : {}),
        ...(this.config.web['enable-lifecycle'] ? { reload: () => (this.onReloadRequest ? this.onReloadRequest() : Promise.resolve()) } : {}),
        address: web,
        metricsPath: this.config.web['telemetry-path'],
        pipeline: this.pipeline,
        catalogue: this.pipeline.catalogue,
        logger: this.logger,
        inputs: () => [...this.running.keys()],
        ready: () => !this.starting && this.failed.size === 0,
      });
    }
    for (const factory of registeredSources()) {
      if (factory.enabled(this.config)) await this.startSource(factory);
    }
    this.startOtel();
    this.starting = false;
    this.logger.info({ web: this.http?.address() ?? null, inputs: this.addresses() }, 'sip-response-exporter started');
  }

  /** Starts the OTLP export when configured; it reads the same counters as /metrics at each export. */
  private startOtel(): void {
    if (otelEnabled(this.config.otel)) this.otel = new OtelExport(this.config.otel, this.pipeline, this.logger.child({ component: 'otel' }));
  }

  /** Final OTLP export, bounded so a dead collector cannot use up the whole shutdown timeout. */
  private async stopOtel(): Promise<void> {
    const o = this.otel;
    this.otel = undefined;
    await o?.shutdown(Math.min(o.config.timeout, this.config.general['shutdown-timeout'] / 2));
  }

  private async startSource(factory: SourceFactory): Promise<void> {
    const p = this.pipeline;
    p.enableSource(factory.name, {
      requests: factory.countsRequests ?? false,
      parseErrorReasons: factory.parseErrorReasons ?? [],
      dropReasons: factory.dropReasons ?? [],
    });
    const input = factory.create({ config: this.config, pipeline: p, logger: this.logger.child({ input: factory.name }) });
    try {
      await input.start();
      this.running.set(factory.name, { factory, input, settings: JSON.stringify(factory.settings(this.config)) });
      this.failed.delete(factory.name);
      p.setInputUp(factory.name, true);
    } catch (err) {
      this.failed.add(factory.name);
      p.setInputUp(factory.name, false);
      throw new Error(`input ${factory.name} failed to start: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Bound addresses of the HTTP server and the inputs (handy with port 0). */
  addresses(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.http) out.web = this.http.address();
    for (const [name, r] of this.running) {
      for (const [k, v] of Object.entries(r.input.addresses?.() ?? {})) out[`${name}.${k}`] = v;
    }
    return out;
  }

  /**
   * Swaps in a new, already validated config. Inputs whose settings did not change keep running
   * with their state; changed ones are restarted; removed ones stopped. The HTTP listener is not
   * moved (changing web.listen-address needs a restart, and is reported).
   */
  async reload(next: Config): Promise<void> {
    const prevWeb = this.config.web['listen-address'];
    const nextWeb = next.web['listen-address'];
    if ((prevWeb && formatListenAddress(prevWeb)) !== (nextWeb && formatListenAddress(nextWeb))) {
      this.logger.warn('web.listen-address changed; the new address takes effect after a restart');
    }
    this.config = next;
    for (const factory of registeredSources()) {
      const cur = this.running.get(factory.name);
      const want = factory.enabled(next);
      const settings = JSON.stringify(factory.settings(next));
      if (cur && want && cur.settings === settings) continue;
      if (cur) {
        await cur.input.stop();
        this.running.delete(factory.name);
        this.pipeline.setInputUp(factory.name, false);
      }
      if (want) await this.startSource(factory);
    }
    if (JSON.stringify(this.otel?.config ?? null) !== JSON.stringify(otelEnabled(next.otel) ? next.otel : null)) {
      await this.stopOtel();
      this.startOtel();
    } else this.otel?.refresh();
  }

  async stop(): Promise<void> {
    for (const [name, r] of [...this.running].reverse()) {
      try {
        await r.input.stop();
      } catch (err) {
        this.logger.error({ err, input: name }, 'error while stopping input');
      }
      this.running.delete(name);
    }
    await this.stopOtel();
    await this.http?.close();
  }
}
