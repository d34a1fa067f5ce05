export { createMetrics, type ExporterMetrics } from './registry';
export { renderReport, type ReportRenderer } from './report-gauges';
