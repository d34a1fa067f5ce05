export { createMetrics, type ExporterMetrics } from './registry';
export { createReportRenderer, type ReportRenderer } from './report-gauges';
