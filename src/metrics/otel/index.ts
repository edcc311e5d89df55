export { OtelBridge } from './bridge.js';
export { HistogramMirror } from './histograms.js';
export { buildResource, metricsUrl, otelEnabled, OtelExport, resourceAttributes, type OtelConfig } from './export.js';
