import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { decodePairs } from '../../src/config/sections/otel.js';
import { metricsUrl, otelEnabled, resourceAttributes } from '../../src/metrics/otel/export.js';
import { PACKAGE } from '../../src/paths.js';
import { flags, problems } from '../helpers/config.js';

describe('otel config', () => {
  it('is off by default with spec defaults', () => {
    const c = resolveConfig({}).otel;
    expect(otelEnabled(c)).toBe(false);
    expect(c).toMatchObject({ enabled: 'auto', protocol: 'http/protobuf', interval: 60_000, timeout: 10_000, temporality: 'cumulative', compression: 'none', headers: [] });
    expect(metricsUrl(c)).toBe('http://localhost:4318/v1/metrics');
  });

  it('turns on with an endpoint from the standard variables, and off with otel.enabled=false', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    const c = resolveConfig({ env }).otel;
    expect(otelEnabled(c)).toBe(true);
    expect(metricsUrl(c)).toBe('http://collector:4318/v1/metrics');
    expect(metricsUrl(resolveConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example/base/' } }).otel)).toBe('https://otlp.example/base/v1/metrics');
    expect(otelEnabled(resolveConfig({ env, flags: flags({ 'otel.enabled': 'false' }) }).otel)).toBe(false);
    expect(otelEnabled(resolveConfig({ env: { ...env, SIP_EXPORTER_OTEL_ENABLED: 'no' } }).otel)).toBe(false);
    expect(otelEnabled(resolveConfig({ flags: flags({ 'otel.enabled': 'true' }) }).otel)).toBe(true);
    expect(otelEnabled(resolveConfig({ fileText: 'otel:\n  enabled: true\n' }).otel)).toBe(true);
  });

  it('uses the signal-specific endpoint as is, before the base endpoint', () => {
    const c = resolveConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://b:9999/custom/path' } }).otel;
    expect(metricsUrl(c)).toBe('http://b:9999/custom/path');
    expect(otelEnabled(resolveConfig({ env: { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://b:9999/x' } }).otel)).toBe(true);
  });

  it('applies flag > SIP_EXPORTER_OTEL_* > OTEL_* > file', () => {
    const fileText = 'otel:\n  endpoint: http://file:4318\n  interval: 30s\n';
    expect(resolveConfig({ fileText }).otel.endpoint).toBe('http://file:4318');
    expect(resolveConfig({ fileText, env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-env:4318' } }).otel.endpoint).toBe('http://otel-env:4318');
    expect(resolveConfig({ fileText, env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-env:4318', SIP_EXPORTER_OTEL_ENDPOINT: 'http://ours:4318' } }).otel.endpoint).toBe('http://ours:4318');
    expect(resolveConfig({ fileText, env: { SIP_EXPORTER_OTEL_ENDPOINT: 'http://ours:4318' }, flags: flags({ 'otel.endpoint': 'http://flag:4318' }) }).otel.endpoint).toBe('http://flag:4318');
  });

  it('reads intervals and timeouts as durations or as milliseconds (OTEL_METRIC_EXPORT_INTERVAL)', () => {
    expect(resolveConfig({ env: { OTEL_METRIC_EXPORT_INTERVAL: '15000' } }).otel.interval).toBe(15_000);
    expect(resolveConfig({ flags: flags({ 'otel.interval': '2m' }) }).otel.interval).toBe(120_000);
    expect(resolveConfig({ env: { OTEL_EXPORTER_OTLP_TIMEOUT: '2500' } }).otel.timeout).toBe(2500);
    expect(resolveConfig({ env: { OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '1s', OTEL_EXPORTER_OTLP_TIMEOUT: '2500' } }).otel.timeout).toBe(1000);
    expect(problems(() => resolveConfig({ env: { OTEL_METRIC_EXPORT_INTERVAL: 'soon' } }))[0]).toMatch(/otel.interval \(environment OTEL_METRIC_EXPORT_INTERVAL\): invalid value "soon"/);
    expect(problems(() => resolveConfig({ env: { OTEL_METRIC_EXPORT_INTERVAL: '10' } }))[0]).toMatch(/between 100ms/);
  });

  it('parses headers and resource attributes in the OTEL_* format, from flags and YAML too', () => {
    const c = resolveConfig({ env: { OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%20abc , x-tenant=voice', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,k8s.pod.name=sre-1' } }).otel;
    expect(decodePairs(c.headers)).toEqual({ Authorization: 'Bearer abc', 'x-tenant': 'voice' });
    expect(decodePairs(c['resource-attributes'])).toEqual({ 'deployment.environment.name': 'prod', 'k8s.pod.name': 'sre-1' });
    const f = resolveConfig({ flags: flags({ 'otel.headers': ['a=1', 'b=2'] }) }).otel;
    expect(decodePairs(f.headers)).toEqual({ a: '1', b: '2' });
    const y = resolveConfig({ fileText: 'otel:\n  headers:\n    Authorization: "Bearer a,b%c"\n  resource-attributes: ["team=voice"]\n' }).otel;
    expect(decodePairs(y.headers)).toEqual({ Authorization: 'Bearer a,b%c' });
    expect(decodePairs(y['resource-attributes'])).toEqual({ team: 'voice' });
    expect(problems(() => resolveConfig({ env: { OTEL_EXPORTER_OTLP_HEADERS: 'novalue' } }))[0]).toMatch(/otel.headers .*\(secret value hidden\).*expected key=value/);
  });

  it('validates endpoint, protocol, temporality and compression', () => {
    expect(problems(() => resolveConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' } }))[0]).toMatch(/otel.endpoint.*scheme collector: is not supported|expected an http/);
    expect(problems(() => resolveConfig({ env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' } }))[0]).toMatch(/must be one of http\/protobuf, http\/json, grpc/);
    expect(resolveConfig({ env: { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' } }).otel.temporality).toBe('delta');
    expect(resolveConfig({ env: { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' } }).otel.compression).toBe('gzip');
    expect(problems(() => resolveConfig({ flags: flags({ 'otel.enabled': 'maybe' }) }))[0]).toMatch(/expected auto, true or false/);
  });

  it('builds service.name, service.version and service.instance.id with the spec precedence', () => {
    const base = resolveConfig({}).otel;
    expect(resourceAttributes(base, 'host-a')).toEqual({ 'service.name': 'sip-response-exporter', 'service.version': PACKAGE.version, 'service.instance.id': 'host-a' });
    const fromAttrs = resolveConfig({ env: { OTEL_RESOURCE_ATTRIBUTES: 'service.name=edge-sbc,service.instance.id=i-1,service.namespace=voice' } }).otel;
    expect(resourceAttributes(fromAttrs, 'host-a')).toMatchObject({ 'service.name': 'edge-sbc', 'service.instance.id': 'i-1', 'service.namespace': 'voice' });
    const named = resolveConfig({ env: { OTEL_SERVICE_NAME: 'sbc-exporter', OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored' }, flags: flags({ 'otel.instance-id': 'pod-7' }) }).otel;
    expect(resourceAttributes(named, 'host-a')).toMatchObject({ 'service.name': 'sbc-exporter', 'service.instance.id': 'pod-7' });
  });
});
