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

  private async startSource(factory: SourceFactory, previous?: unknown): Promise<void> {
    const p = this.pipeline;
    p.enableSource(factory.name, {
      requests: factory.countsRequests ?? false,
      parseErrorReasons: factory.parseErrorReasons ?? [],
      dropReasons: factory.dropReasons ?? [],
    });
    const input = factory.create({
      config: this.config,
      pipeline: p,
      logger: this.logger.child({ input: factory.name }),
      ...(previous !== undefined ? { previous } : {}),
    });
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
   * Swaps in a new, already validated config, whole or not at all. Inputs whose settings did not
   * change keep running with their state; changed ones are restarted; removed ones stopped. If a
   * changed input cannot start with the new settings (say its address is in use), every changed input
   * goes back to the old settings and the reload fails: the old configuration keeps running. Reloads
   * are serialised, so overlapping SIGHUPs and POST /-/reload never run two copies of an input. The
   * HTTP listener is not moved (web.* changes take effect after a restart, and are reported).
   */
  reload(next: Config): Promise<void> {
    const run = this.reloads.then(() => this.applyReload(next));
    this.reloads = run.catch(() => undefined);
    return run;
  }

  private reloads: Promise<void> = Promise.resolve();

  private async applyReload(next: Config): Promise<void> {
    const prev = this.config;
    const show = (c: Config): string => JSON.stringify([c.web['listen-address'] && formatListenAddress(c.web['listen-address']), c.web['config-file'], c.web['telemetry-path'], c.web['enable-lifecycle']]);
    if (show(prev) !== show(next)) this.logger.warn('web.* settings changed; they take effect after a restart');

    const changed = registeredSources().filter((f) => {
      const cur = this.running.get(f.name);
      if (!cur) return f.enabled(next);
      return !f.enabled(next) || cur.settings !== JSON.stringify(f.settings(next));
    });
    const handoff = await this.stopSources(changed);
    this.config = next;
    try {
      for (const f of changed) if (f.enabled(next)) await this.startSource(f, handoff.get(f.name));
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'reload failed; going back to the previous configuration');
      const again = await this.stopSources(changed);
      this.config = prev;
      for (const f of changed) {
        if (!f.enabled(prev)) continue;
        try {
          await this.startSource(f, again.get(f.name) ?? handoff.get(f.name));
        } catch (restoreErr) {
          this.logger.error({ err: (restoreErr as Error).message, input: f.name }, 'input could not be restarted with the previous configuration');
        }
      }
      throw err;
    }
    // An input switched off on purpose is not "down": its series goes away instead of reading 0.
    for (const f of changed) if (!f.enabled(next)) this.pipeline.self.inputUp.remove({ source: f.name });
    if (JSON.stringify(this.otel?.config ?? null) !== JSON.stringify(otelEnabled(next.otel) ? next.otel : null)) {
      await this.stopOtel();
      this.startOtel();
    } else this.otel?.refresh();
  }

  /** Stops inputs; returns the state each hands over to a replacement (InputSource.handoff). */
  private async stopSources(factories: readonly SourceFactory[]): Promise<Map<string, unknown>> {
    const handoff = new Map<string, unknown>();
    for (const f of factories) {
      const cur = this.running.get(f.name);
      if (!cur) continue;
      try {
        await cur.input.stop();
        const state = cur.input.handoff?.();
        if (state !== undefined) handoff.set(f.name, state);
      } catch (err) {
        this.logger.error({ err, input: f.name }, 'error while stopping input');
      }
      this.running.delete(f.name);
      this.failed.delete(f.name);
      this.pipeline.setInputUp(f.name, false);
    }
    return handoff;
  }

  async stop(): Promise<void> {
    await this.reloads; // never stop half-way through a reload
    await this.stopSources([...this.running.values()].map((r) => r.factory).reverse());
    await this.stopOtel();
    // In-flight scrapes get a short grace period that fits well inside the shutdown timeout.
    await this.http?.close(Math.min(2000, this.config.general['shutdown-timeout'] / 4));
  }
}
