export { createMetrics, type ExporterMetrics } from './registry';
