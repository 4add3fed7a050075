// The operations layer: what `nexus-backup run`, `check`, `drill`, `schedule` and `history` do, as
// functions another program can call with explicit inputs (see OpsServices). Heavy dependencies load
// lazily inside the functions that need them (croner for the scheduler, pg for the history).
export * from './check-backups.js';
export * from './check-repository.js';
export * from './drill-freshness.js';
export * from './drill-pipelines.js';
export * from './drill-record.js';
export * from './drill-run.js';
export * from './drill-schedule.js';
export * from './event-log.js';
export * from './freshness.js';
export * from './history-store.js';
export * from './hooks.js';
export * from './http-post.js';
export * from './notify.js';
export * from './observe-backup.js';
export * from './observe-drill.js';
export * from './observe-recovery.js';
export * from './open-repository.js';
export * from './pipeline.js';
export * from './plan.js';
export * from './prometheus.js';
export * from './run-backup.js';
export * from './run-message.js';
export * from './run-record.js';
export * from './scheduler.js';
export * from './services.js';
export * from './source-checks.js';
