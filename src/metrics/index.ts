export { createMetrics, type ExporterMetrics } from './registry';
export { renderReport, type ReportRenderer } from './report-gauges';
export { CONTENT_TYPES, EXPOSITION_FORMATS, type ExpositionFormat } from './text-format';
