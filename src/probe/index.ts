// Linear probes on frozen features (no GPU): multinomial logistic regression fit with L-BFGS.
export { LinearProbe } from './linear-probe';
export type { FitOptions, FitProgress, FitResult, LinearProbeJSON, LinearProbeOptions } from './linear-probe';
export type { ClassLabels, FeatureMatrix } from './inputs';
export type { LbfgsStopReason } from './lbfgs';
