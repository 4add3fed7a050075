export * from './conformance-assertions.js';
export * from './conformance-destination.js';
export * from './conformance-memory.js';
export * from './conformance-source.js';
export * from './conformance-streams.js';
export * from './conformance-transform.js';
export * from './context.js';
