export { evaluate, evaluateInSlices, type DomainReport, type FileReport, type Report } from './report';
export { STATUSES, certificateStatus, exitCode, worst, type Status } from './status';
export { LEVELS, renewalSeconds, resolveThresholds, thresholdSeconds, thresholdsFor, type Level, type ThresholdSeconds } from './thresholds';
export { statusJson } from './status-json';
export { statusChanges, type StatusChange } from './changes';
export { SOURCE_OF_MODULE, judgeServed } from './served';
export type { ServedReport } from './report-types';
