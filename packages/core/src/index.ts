export * from './contracts.js';
export * from './errors.js';
export * from './options.js';
export * from './registry.js';
